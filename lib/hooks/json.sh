#!/usr/bin/env bash
# Writing a hook's JSON result without starting jq for what is plain. Under software emulation one jq
# start costs about 0.4 s, and a result is mostly device nodes, mount points, hashes, numbers and words:
# those are quoted by bash alone. Anything else (a control character, a byte above 0x7e, a byte that is
# not UTF-8 in a hostile filesystem's message) still goes through jq, which escapes it correctly.
# Included at render time with `# forensic-lab:include lib/hooks/json.sh`; needs jq for that fallback.

# Both set REPLY (no subshell: a fork costs time under emulation too).

# json_string VALUE: REPLY is VALUE as one JSON string.
json_string() {
  # C locale: the range below is the bytes 0x20-0x7e, whatever locale the hook was started in.
  local LC_ALL=C value=$1
  if [[ "$value" != *[^\ -~]* ]]; then
    value=${value//\\/\\\\}
    REPLY="\"${value//\"/\\\"}\""
  else
    # -R reads raw bytes (invalid UTF-8 becomes U+FFFD), -s all of them, newlines included.
    REPLY=$(printf '%s' "$value" | jq -Rs .)
  fi
}

# json_strings VALUE...: REPLY is the VALUEs as one JSON array of strings.
json_strings() {
  local value items=()
  for value; do
    json_string "$value"
    items+=("$REPLY")
  done
  local IFS=,
  REPLY="[${items[*]}]"
}
