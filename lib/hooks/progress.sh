#!/usr/bin/env bash
# Progress lines for long work (hashing and sending evidence on the host, hashing it through sshfs in the
# guest, waiting for a guest to boot), written
# to stderr, which the command provider streams into `pulumi up`'s display line by line. One line every
# PROGRESS_SECONDS (a hook value, default 10): often enough to see work moving, rarely enough not to
# flood the log. Only sizes, rates and times: never a secret or a byte of the evidence. Included at render
# time with `# forensic-lab:include lib/hooks/progress.sh`.

# 1536 -> "1.5 KiB", 1288490189 -> "1.2 GiB" (one decimal, binary units, as ls -h counts).
human_bytes() {
  local bytes=$1 unit=0 units=(B KiB MiB GiB TiB PiB) scaled
  scaled=$((bytes * 10))
  while ((scaled >= 10240 && unit < ${#units[@]} - 1)); do
    scaled=$((scaled / 1024))
    unit=$((unit + 1))
  done
  if ((unit == 0)); then
    printf '%d B\n' "$bytes"
  else
    printf '%d.%d %s\n' "$((scaled / 10))" "$((scaled % 10))" "${units[unit]}"
  fi
}

# 75 -> "1m15s", 3725 -> "1h02m", 9 -> "9s".
human_duration() {
  local s=$1
  if ((s >= 3600)); then
    printf '%dh%02dm\n' "$((s / 3600))" "$((s % 3600 / 60))"
  elif ((s >= 60)); then
    printf '%dm%02ds\n' "$((s / 60))" "$((s % 60))"
  else
    printf '%ds\n' "$s"
  fi
}

# dd's "12.00042" -> 12000; "4.0792e-05" (a read that took no time) -> 0.
seconds_to_ms() {
  local whole=${1%%[.e]*} fraction=0
  [[ "$1" != *e-* ]] || { echo 0; return; }
  [[ "$1" != *.* ]] || fraction=${1#*.}
  fraction=${fraction%%e*}000
  echo $((10#$whole * 1000 + 10#${fraction:0:3}))
}

# Reads dd's `status=progress` records ("<bytes> bytes (...) copied, <seconds> s, <rate>", ended by a
# carriage return) on stdin and prints "LABEL: <done> of <total> (<percent>%), <rate>/s, about <time>
# left" every PROGRESS_SECONDS; after at least one such line, a closing "LABEL: <total> in <time>".
# Anything else dd says (an error) passes through unchanged. Work shorter than one interval prints
# nothing: a 64 MiB test image should not fill the log.
progress_lines() {
  local label=$1 total=$2 every=${PROGRESS_SECONDS:-10} next shown=false line bytes=0 ms=0 rate left
  next=$((every * 1000))
  while IFS= read -r -d $'\r' line || [[ -n "$line" ]]; do
    # dd ends with its summary lines ("N+0 records in/out", then the last record), newline-separated.
    while IFS= read -r line; do
      # dd prints its seconds with %g: "12.3", and "4.0792e-05" for a read that took no time at all.
      if [[ "$line" =~ ^([0-9]+)\ bytes\ .*copied,\ ([0-9.]+(e[-+][0-9]+)?)\ s, ]]; then
        bytes=${BASH_REMATCH[1]}
        ms=$(seconds_to_ms "${BASH_REMATCH[2]}")
        if ((ms >= next && bytes < total)); then
          rate=$((bytes * 1000 / (ms > 0 ? ms : 1)))
          left=$(((total - bytes) / (rate > 0 ? rate : 1)))
          printf '%s: %s of %s (%d%%), %s/s, about %s left\n' "$label" "$(human_bytes "$bytes")" "$(human_bytes "$total")" \
            "$((bytes * 100 / (total > 0 ? total : 1)))" "$(human_bytes "$rate")" "$(human_duration "$left")"
          shown=true
          next=$(((ms / 1000 / every + 1) * every * 1000))
        fi
      elif [[ -n "$line" && ! "$line" =~ ^[0-9]+\+[0-9]+\ records\ (in|out)$ ]]; then
        printf '%s\n' "$line"
      fi
    done <<<"$line"
  done
  if [[ "$shown" == true ]]; then
    printf '%s: %s in %s\n' "$label" "$(human_bytes "$bytes")" "$(human_duration "$(((ms + 500) / 1000))")"
  fi
}

# Prints "LABEL: <waited> of at most <limit>, <what>" once per PROGRESS_SECONDS of a wait that started at
# STARTED (bash's SECONDS); call it on every round of the waiting loop, however long a round takes.
progress_wait_next=""
progress_wait() {
  local label=$1 started=$2 limit=$3 what=$4 every=${PROGRESS_SECONDS:-10} waited
  waited=$((SECONDS - started))
  progress_wait_next=${progress_wait_next:-$every}
  ((waited >= progress_wait_next)) || return 0
  progress_wait_next=$(((waited / every + 1) * every))
  printf '%s: %s of at most %s, %s\n' "$label" "$(human_duration "$waited")" "$(human_duration "$limit")" "$what" >&2
}

# dd_with_progress LABEL TOTAL DD_OPERANDS...: runs dd with the operands (if=..., bs=...), its data on
# stdout, and turns its progress records (status=progress, in the C locale so their numbers parse) into
# progress_lines on stderr. dd's stderr goes to the reader, its stdout to fd 3, which is this function's
# stdout; pipefail makes dd's failure the function's.
dd_with_progress() {
  local label=$1 total=$2
  shift 2
  { LC_ALL=C dd "$@" status=progress 2>&1 >&3 3>&- | progress_lines "$label" "$total" >&2; } 3>&1
}
