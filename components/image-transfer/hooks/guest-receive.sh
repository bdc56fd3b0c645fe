#!/usr/bin/env bash
# In the guest: receives one evidence file from the host's ssh session (scp mode). stdin is one line
# with the file's index, then the file's bytes. They land in a hidden temporary name, sparse where runs
# of zeros allow, and are renamed to the final name only after their sha256 matches the host's; so a
# final name always means "complete and verified", and an interrupted copy leaves nothing but a
# temporary file the next run starts over.
# One pass: sha256sum hashes the bytes as they arrive (tee), beside dd writing them, instead of reading
# the written file back afterwards. Under emulation that read-back cost a third of the copy's time, and
# it proved little more: right after dd's fsync the file comes back from the page cache, not from the
# disk. What was written is checked by dd (every write, then fsync) and, on every later run, by the
# host's own read-back (host-read-back.sh); the host's proof of a new copy is its hash of what it sent.
# Values: DESTS SHA256S.
set -euo pipefail

# forensic-lab:include lib/hooks/json.sh

read -r index
if [[ ! "$index" =~ ^[0-9]+$ ]] || ((index >= ${#DESTS[@]})); then
  echo "image-transfer: bad file index '$index' on stdin" >&2
  exit 1
fi
dest=${DESTS[index]}
expected=${SHA256S[index]}
partial="$(dirname -- "$dest")/.$(basename -- "$dest").partial"
if [[ -e "$dest" ]]; then
  echo "image-transfer: '$dest' is already there; the host sends only missing files" >&2
  exit 1
fi

mkdir -p -- "$(dirname -- "$dest")"
rm -f -- "$partial"
work=$(mktemp -d)
trap 'rm -rf -- "$work"' EXIT
mkfifo -m 0600 -- "$work/stream"
sha256sum <"$work/stream" >"$work/sha256" &
hasher=$!
# pipefail: a failed tee (the hasher gone) fails the copy as surely as a failed dd.
if ! tee -- "$work/stream" | dd of="$partial" bs=1M iflag=fullblock conv=sparse,fsync status=none; then
  wait "$hasher" || true
  echo "image-transfer: receiving '$dest' failed; the partial copy stays for the next run to replace" >&2
  exit 1
fi
wait "$hasher"
sha256=$(<"$work/sha256")
sha256=${sha256%% *}
if [[ "$sha256" != "$expected" ]]; then
  rm -f -- "$partial"
  echo "image-transfer: '$dest' arrived with sha256 $sha256, the host file has $expected; not kept" >&2
  exit 1
fi
chown root:root -- "$partial"
chmod 0444 -- "$partial"
mv -T -- "$partial" "$dest"
# Immutable: even root in the guest cannot change the copy without first removing the flag.
immutable=true
chattr +i -- "$dest" 2>/dev/null || immutable=false
if [[ "$immutable" != true ]]; then
  echo "image-transfer: the file system under '$dest' has no immutable flag; the copy is 0444 only" >&2
fi

json_string "$dest"
printf 'FORENSIC_LAB_RESULT {"path":%s,"sha256":"%s","immutable":%s,"allocatedBytes":%d}\n' \
  "$REPLY" "$sha256" "$immutable" "$(($(stat -c '%b * %B' -- "$dest")))"
