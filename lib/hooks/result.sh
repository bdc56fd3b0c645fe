#!/usr/bin/env bash
# Reading a nested hook's result on the host (an in-guest hook run from inside a host hook), by the same
# rule as `parseHookResult` in lib/shell.ts: the marker FORENSIC_LAB_RESULT occurs exactly once in the
# whole stdout, at the start of its last line, which ends with a newline (a cut-off line has none) and
# holds one JSON object. Anything else fails, naming the hook: a guest that prints a second result
# line, hides one inside another value or stops half way gets no say. Included at render time with
# `# forensic-lab:include lib/hooks/result.sh`; needs jq.

# Usage: inner_hook | hook_result NAME [--allow-empty] [JQ_SCHEMA [jq options...]]
# Prints the result's JSON (compact). JQ_SCHEMA is a jq expression that must yield true for the object
# (`jq -e`); extra options (--arg, --argjson) go to that check. --allow-empty: empty stdout (a delete
# hook's wrapper found the guest gone and ran nothing) prints nothing and succeeds.
hook_result() {
  local name=$1 allow_empty=false raw json
  shift
  if [[ "${1:-}" == --allow-empty ]]; then allow_empty=true; shift; fi
  local schema=${1:-true}
  shift || true
  raw=$(jq -R -s -c . ) || { echo "forensic-lab: $name: its stdout could not be read" >&2; return 1; }
  if [[ "$raw" == '""' && "$allow_empty" == true ]]; then return 0; fi
  if ! json=$(jq -r -c '
      if endswith("\n") | not then error("its stdout does not end with a newline (a cut-off result line?)")
      elif ([match("FORENSIC_LAB_RESULT"; "g")] | length) != 1
        then error("its stdout holds the marker \([match("FORENSIC_LAB_RESULT"; "g")] | length) times; exactly one result line is allowed")
      else (rtrimstr("\n") | split("\n") | last) as $line
        | if ($line | startswith("FORENSIC_LAB_RESULT ") | not) then error("the result line is not the last line of its stdout")
          else $line | ltrimstr("FORENSIC_LAB_RESULT ") | (try fromjson catch error("the result line is not JSON")) | tojson
          end
      end' <<<"$raw" 2>&1); then
    echo "forensic-lab: $name: result rejected: ${json#jq: error (at <stdin>:*): }" >&2
    return 1
  fi
  if ! jq -e 'type == "object"' <<<"$json" >/dev/null 2>&1; then
    echo "forensic-lab: $name: result rejected: it is not a JSON object" >&2
    return 1
  fi
  if ! jq -e "$@" "$schema" <<<"$json" >/dev/null 2>&1; then
    echo "forensic-lab: $name: result rejected: it does not fit the hook's schema: $json" >&2
    return 1
  fi
  printf '%s\n' "$json"
}
