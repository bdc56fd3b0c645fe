#!/usr/bin/env bash
# Bench, in the guest: receives one file from the host's ssh session with the same dd as
# components/image-transfer/hooks/guest-receive.sh, without hashing it. stdin: one line with the file's
# index, then its bytes. A file that is already there is refused, as guest-receive.sh does.
# Values: DESTS (absolute guest paths, under /case/bench-*).
set -euo pipefail

fail() {
  echo "bench: $*" >&2
  exit 1
}

read -r index
if [[ ! "$index" =~ ^[0-9]+$ ]] || ((index >= ${#DESTS[@]})); then fail "bad file index '$index' on stdin"; fi
dest=${DESTS[index]}
[[ "$dest" =~ ^/case/bench-[a-z0-9-]+/ ]] || fail "'$dest' is not under /case/bench-*"
[[ ! -e "$dest" ]] || fail "'$dest' is already there"
mkdir -p -- "$(dirname -- "$dest")"
dd of="$dest" bs=1M iflag=fullblock conv=sparse,fsync status=none
