#!/usr/bin/env bash
# Reading evidence on the host (included at render time with
# `# forensic-lab:include components/image-transfer/hooks/host-evidence-read.sh`).

# Writes FILE's bytes to stdout without changing its access time: O_NOATIME (`dd iflag=noatime`), which
# the kernel allows the file's owner and anyone with CAP_FOWNER (root). Where it is refused (an
# unprivileged examiner reading someone else's file) the read fails rather than touch the evidence's
# metadata. NFS keeps access times on the server and may update them regardless.
#
# With a LABEL (`read_evidence FILE LABEL`), a progress line goes to stderr every PROGRESS_SECONDS while it
# reads (dd_with_progress, from lib/hooks/progress.sh, which the hook must include too).
read_evidence() {
  if (($# < 2)); then
    dd if="$1" iflag=noatime bs=1M status=none
    return
  fi
  local size
  size=$(stat -c %s -- "$1") || return 1
  dd_with_progress "$2" "$size" if="$1" iflag=noatime bs=1M
}

# FILE's sha256 (hex only), read as read_evidence reads it (with LABEL: showing progress).
evidence_sha256() {
  local sum
  sum=$(read_evidence "$@" | sha256sum) || return 1
  printf '%s\n' "${sum%% *}"
}
