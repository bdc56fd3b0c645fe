#!/usr/bin/env bash
# In the guest: hashes the image's files as the guest sees them, one read each (sha256sum), and prints
# the hashes. The host compares them with its own and keeps the custody log.
# For sshfs it first waits until every mount in WAIT_MOUNTS answers (the host has just started the sftp
# pipes); with MISSING_OK=true (scp resume) a file that is not there is reported as null, not an error.
# Values: PATHS WAIT_MOUNTS WAIT_SECONDS MISSING_OK.
set -euo pipefail

# forensic-lab:include lib/hooks/progress.sh

deadline=$((SECONDS + WAIT_SECONDS))
for mount_point in "${WAIT_MOUNTS[@]}"; do
  # A mount left by a dropped session answers stat with "Transport endpoint is not connected" until the
  # new pipe replaces it; only a live sshfs mount counts.
  until findmnt --mountpoint "$mount_point" --types fuse.sshfs >/dev/null && stat -- "$mount_point/." >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      echo "image-transfer: sshfs mount '$mount_point' did not come up within ${WAIT_SECONDS}s" >&2
      exit 1
    fi
    sleep 0.2
  done
done

# Files this large are read through dd, whose progress records become a line every PROGRESS_SECONDS
# on stderr (the engine shows it, escaped: this is the guest talking); smaller ones are hashed in less
# time than one line is worth, without dd's extra process.
readonly PROGRESS_FROM_BYTES=$((256 << 20))

# Every size from one stat (a process costs about 0.05 s under emulation; an EWF set has dozens of segments).
present=()
for path in "${PATHS[@]}"; do
  if [[ -e "$path" ]]; then present+=("$path"); fi
done
sizes=() # of the present files, in order
if ((${#present[@]} > 0)); then
  size_lines=$(stat -c %s -- "${present[@]}")
  mapfile -t sizes <<<"$size_lines"
fi

# Path and hash ("" for a missing copy) of each file, in order.
pairs=()
n=0 # present files seen so far
for path in "${PATHS[@]}"; do
  sha256=""
  if [[ -e "$path" ]]; then
    size=${sizes[n]}
    n=$((n + 1))
    if ((size >= PROGRESS_FROM_BYTES)); then
      sha256=$(dd_with_progress "image-transfer: hashing '$path' in the guest" "$size" if="$path" bs=1M | sha256sum)
    else
      sha256=$(sha256sum <"$path")
    fi
    sha256=${sha256%% *}
  elif [[ "$MISSING_OK" != true ]]; then
    echo "image-transfer: '$path' is not there in the guest" >&2
    exit 1
  fi
  pairs+=("$path" "$sha256")
done

# One jq for all files: under emulation each jq start costs about 0.4 s, and an EWF set has dozens of segments.
# shellcheck disable=SC2016 # a jq program: its $ARGS is jq's
jq -cn '$ARGS.positional as $p | {files: [range(0; $p | length; 2) as $i
  | {path: $p[$i], sha256: (if $p[$i + 1] == "" then null else $p[$i + 1] end)}]}
  | "FORENSIC_LAB_RESULT " + tojson' -r --args "${pairs[@]}"
