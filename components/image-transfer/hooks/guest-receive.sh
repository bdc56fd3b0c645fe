#!/usr/bin/env bash
# In the guest: receives one evidence file from the host's ssh session (scp mode). stdin is one line
# with the file's index, then the file's bytes. They land in a hidden temporary name, sparse where runs
# of zeros allow, and are renamed to the final name only after sha256sum (one read of what was
# written) matches the host's hash; so a final name always means "complete and verified", and an
# interrupted copy leaves nothing but a temporary file the next run starts over.
# Values: DESTS SHA256S.
set -euo pipefail

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
dd of="$partial" bs=1M iflag=fullblock conv=sparse,fsync status=none
sha256=$(sha256sum <"$partial")
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

jq -cn --arg path "$dest" --arg sha256 "$sha256" --argjson immutable "$immutable" \
  --argjson allocatedBytes "$(($(stat -c '%b * %B' -- "$dest")))" \
  '"FORENSIC_LAB_RESULT " + ({$path, $sha256, $immutable, $allocatedBytes} | tojson)' -r
