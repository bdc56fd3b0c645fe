#!/usr/bin/env bash
# Test helper: until STOP_FILE exists, reads every process's command line and environment, over and over,
# and remembers each process that showed the secret. The secret comes from NEEDLE_FILE, so this scanner
# never carries it in its own argv or environment; matching is done with bash builtins only.
# Usage: proc-scan.sh NEEDLE_FILE STOP_FILE. Prints "scans=<n>", then "hit <pid> <cmdline|environ> <comm>".
set -euo pipefail

needle_file=$1
stop_file=$2
IFS= read -r -d '' needle <"$needle_file" || true
if [[ -z $needle ]]; then
  echo "proc-scan: $needle_file is empty" >&2
  exit 2
fi

declare -A hits=()
scans=0
while true; do
  for file in /proc/[0-9]*/cmdline /proc/[0-9]*/environ; do
    # The process may be gone by now; then there is nothing to read.
    mapfile -d '' -t parts 2>/dev/null <"$file" || continue
    if [[ "${parts[*]}" == *"$needle"* ]]; then
      pid=${file#/proc/}
      pid=${pid%%/*}
      hits["$pid ${file##*/}"]=$(cat "/proc/$pid/comm" 2>/dev/null || echo '?')
    fi
  done
  scans=$((scans + 1))
  [[ -e $stop_file ]] && break
done
echo "scans=$scans"
for key in "${!hits[@]}"; do
  echo "hit $key ${hits[$key]}"
done
