#!/usr/bin/env bash
# sshfs mode, host side. ACTION=start: one background sftp pipe per host folder (host-sshfs-pipe.sh; a live
# one is reused), then the guest hashes every file through its mount, and then hands each file back
# through its mount (guest-read.sh) for the host to hash: that host hash ("host-read-back") is what
# the custody log records as verified; the guest's own hash can only stop the transfer, never vouch for
# it. Anything short of both matching the host's stops what was started: Pulumi records no half-made
# transfer, so nothing may be left running. ACTION=stop: unmount in the guest (which ends each pipe by itself), then
# stop any pipe still there and remove its fifo, pid file and jail. Both are safe to run twice.
# Values: ACTION IMAGE_NAME STATE_DIR PID_FILES FIFOS JAIL_DIRS LOG_FILES HOST_FILES GUEST_PATHS
#         GUEST_UNMOUNT_HOOK CUSTODY_LOG EXAMINER; for start also PIPES HOST_SHA256 GUEST_HASH_HOOK
#         GUEST_READ_HOOK.
set -euo pipefail
umask 077

# forensic-lab:include components/image-transfer/hooks/host-custody.sh
# forensic-lab:include lib/hooks/result.sh
# forensic-lab:include lib/hooks/common.sh
# forensic-lab:include components/image-transfer/hooks/host-read-back.sh

# A pid file names a live pipe only if that pid still has the start time recorded with it.
pipe_pid() {
  local pid start
  read -r pid start 2>/dev/null <"${PID_FILES[$1]}" || return 1
  [[ "$pid" =~ ^[0-9]+$ && "$(proc_start_time "$pid" 2>/dev/null)" == "$start" ]] || return 1
  printf '%s\n' "$pid"
}

stop_pipe() {
  local n=$1 pid _
  if pid=$(pipe_pid "$n"); then
    # After the unmount the session ends by itself; give it a moment, then stop its process group.
    for _ in {1..25}; do pipe_pid "$n" >/dev/null || break; sleep 0.2; done
    if pipe_pid "$n" >/dev/null; then
      kill -TERM -- "-$pid" 2>/dev/null || true
      for _ in {1..25}; do pipe_pid "$n" >/dev/null || break; sleep 0.2; done
      if pipe_pid "$n" >/dev/null; then kill -KILL -- "-$pid" 2>/dev/null || true; fi
    fi
  fi
  rm -f -- "${PID_FILES[n]}" "${FIFOS[n]}" "${LOG_FILES[n]}"
  # Only this namespace's view: the jail's binds lived in the pipe's private one and died with it.
  rm -rf --one-file-system -- "${JAIL_DIRS[n]}"
}

# Sets UNMOUNTED to the guest hook's result ('' when the guest is gone). A failed unmount keeps the
# pipes up: killing the server under a busy mount would only leave the guest a dead one.
stop_all() {
  local n
  if ! UNMOUNTED=$(bash -c "$GUEST_UNMOUNT_HOOK" forensic-lab-guest </dev/null |
    hook_result guest-unmount.sh --allow-empty '(keys == ["unmounted"]) and (.unmounted | type == "array")'); then
    echo "image-transfer: $IMAGE_NAME: unmounting in the guest failed; sftp pipes still serving it stay up" >&2
    return 1
  fi
  for n in "${!PID_FILES[@]}"; do stop_pipe "$n"; done
  # This image's folder, then the case's image-transfer folder once no other image has pipes in it.
  rmdir -- "$STATE_DIR" 2>/dev/null || true
  rmdir -- "$(dirname -- "$STATE_DIR")" 2>/dev/null || true
}

if [[ "$ACTION" == stop ]]; then
  stop_all
  detail="unmounted; sftp pipes stopped"
  [[ -n "$UNMOUNTED" ]] || detail="guest gone; sftp pipes stopped"
  for i in "${!HOST_FILES[@]}"; do custody guest-unmount guest "${HOST_FILES[i]}" "" "${GUEST_PATHS[i]}" "$detail"; done
  exit 0
fi

finished=false
on_exit() {
  local n serving=0
  if [[ "$finished" != true ]]; then
    echo "image-transfer: $IMAGE_NAME: stopping the sshfs transfer after the failure above" >&2
    stop_all && return 0
    # The guest did not answer the unmount, so pipes still serving stay up (their mounts are the
    # guest's). The engine records no failed create and no delete hook comes for what this run leaves:
    # a pipe that is not running has nothing to protect, and its fifo, pid file and jail go now.
    for n in "${!PID_FILES[@]}"; do
      if pipe_pid "$n" >/dev/null; then serving=$((serving + 1)); else stop_pipe "$n"; fi
    done
    rmdir -- "$STATE_DIR" 2>/dev/null || true
    rmdir -- "$(dirname -- "$STATE_DIR")" 2>/dev/null || true
    ((serving == 0)) || echo "image-transfer: $IMAGE_NAME: $serving sftp pipe(s) still serve the guest; run the delete hook" >&2
  fi
}
trap on_exit EXIT

mkdir -p -- "$STATE_DIR"
started=()
reused=()
for n in "${!PIPES[@]}"; do
  if pipe_pid "$n" >/dev/null; then reused+=("$n"); continue; fi
  rm -f -- "${PID_FILES[n]}"
  # setsid: its own session and process group, so stop_pipe reaches every process of it; unshare: a
  # private mount namespace for the jail; all three standard streams away from Pulumi's pipes.
  setsid unshare --mount --propagation private -- bash -c "${PIPES[n]}" forensic-lab-sftp-pipe \
    </dev/null >>"${LOG_FILES[n]}" 2>&1 &
  launched=$!
  for _ in {1..50}; do
    pipe_pid "$n" >/dev/null && break
    if ! kill -0 "$launched" 2>/dev/null; then break; fi
    sleep 0.1
  done
  if ! pipe_pid "$n" >/dev/null; then
    echo "image-transfer: $IMAGE_NAME: the sftp pipe for '${JAIL_DIRS[n]}' did not start; its log says:" >&2
    tail -n 5 -- "${LOG_FILES[n]}" >&2 || true
    exit 1
  fi
  started+=("$n")
done

# shellcheck disable=SC2016 # $paths is jq's
if ! guest=$(bash -c "$GUEST_HASH_HOOK" forensic-lab-guest </dev/null | hook_result guest-hash.sh \
  '(keys == ["files"]) and ([.files[] | keys == ["path", "sha256"] and (.sha256 | type == "string" and test("^[0-9a-f]{64}$"))] | all)
   and ([.files[].path] == $paths)' --argjson paths "$(jq -cn '$ARGS.positional' --args "${GUEST_PATHS[@]}")"); then
  echo "image-transfer: $IMAGE_NAME: the guest could not hash its sshfs view; sftp pipe logs:" >&2
  for log_file in "${LOG_FILES[@]}"; do tail -n 5 -- "$log_file" >&2 || true; done
  exit 1
fi

results=()
for i in "${!HOST_FILES[@]}"; do
  file=${HOST_FILES[i]} guest_path=${GUEST_PATHS[i]} expected=${HOST_SHA256[i]}
  reported=$(jq -r --argjson i "$i" '.files[$i].sha256' <<<"$guest")
  result=$(verify_by_read_back "$i" "$file" "$guest_path" "$expected" "$reported" "sshfs, read-only" "" '{}') || exit 1
  results+=("$result")
done
finished=true

printf 'FORENSIC_LAB_RESULT %s\n' "$(printf '%s\n' "${results[@]}" | jq -cs \
  --argjson started "$(jq -cn '$ARGS.positional | map(tonumber)' --args "${started[@]}")" \
  --argjson reused "$(jq -cn '$ARGS.positional | map(tonumber)' --args "${reused[@]}")" \
  '{files: ., pipesStarted: $started, pipesReused: $reused}')"
