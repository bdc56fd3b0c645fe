#!/usr/bin/env bash
# Closes the image's custody record when the transfer is destroyed: one line per file with its size and
# modification time now, so the log shows the lab ends with the evidence as it found it (the hash lines
# at the start are the reference). A missing file is logged, not an error: destroy must always finish.
# Values: IMAGE_NAME HOST_FILES CUSTODY_LOG EXAMINER.
set -euo pipefail
umask 077

# forensic-lab:include components/image-transfer/hooks/host-custody.sh

for file in "${HOST_FILES[@]}"; do
  if facts=$(stat -c 'size %s, modified %y' -- "$file" 2>/dev/null); then
    custody host-release host "$file" "" "" "$facts"
  else
    custody host-release host "$file" "" "" "missing on the host at release"
  fi
done
