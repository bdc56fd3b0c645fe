#!/usr/bin/env bash
# Bench, in the guest: removes the plain copies receive-plain.sh wrote. Already gone is fine.
# Values: ROOT (/case/bench-<name>).
set -euo pipefail

[[ "$ROOT" =~ ^/case/bench-[a-z0-9-]+$ ]] || {
  echo "bench: refusing to remove '$ROOT': not a /case/bench-* folder" >&2
  exit 1
}
rm -rf --one-file-system -- "$ROOT"
printf 'FORENSIC_LAB_RESULT {}\n'
