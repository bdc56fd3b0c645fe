#!/usr/bin/env bash
# Bench, in the guest: reads FILE as the examiner account, the way an examiner first looks at evidence,
# and prints its text. Reads only.
# Values: FILE (absolute guest path).
set -euo pipefail

# The trailing x keeps a final newline that $(...) would strip.
text=$(
  runuser -u examiner -- cat -- "$FILE"
  printf x
)
text=${text%x}
jq -rn --arg text "$text" '"FORENSIC_LAB_RESULT " + ({$text} | tojson)'
