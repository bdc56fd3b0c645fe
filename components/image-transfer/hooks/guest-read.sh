#!/usr/bin/env bash
# In the guest: hands one of the image's files back to the host, byte for byte, on stdout (scp: a copy
# already on the case storage; sshfs: the file through its mount). The host hashes what arrives: that
# hash, never one the guest reports, is what the host records as verified. Nothing else may go to
# stdout. stdin is one line with the file's index.
# Values: PATHS.
set -euo pipefail

read -r index
if [[ ! "$index" =~ ^[0-9]+$ ]] || ((index >= ${#PATHS[@]})); then
  echo "image-transfer: bad file index '$index' on stdin" >&2
  exit 1
fi
exec dd if="${PATHS[index]}" bs=1M status=none
