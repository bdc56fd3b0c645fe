#!/usr/bin/env bash
# Case create, on the host: the case's state folder (keys, disks, custody log, the evidence volume file).
# 0711: QEMU runs as libvirt-qemu and must reach the disks inside, but may not list the folder.
# An existing folder is used only if root alone controls it (and every folder above it) and it holds no
# symbolic link (lib/hooks/case-folder.sh); otherwise it is refused, not chmod-ed, and nothing is created.
# Values: STATE_DIR, VOLUME_DIR (folder of the file-backed evidence volume; "" for LVM).
set -euo pipefail

# forensic-lab:include lib/hooks/case-folder.sh

check_case_folder forensic-lab:stateDir "$STATE_DIR"
if [[ -n "$VOLUME_DIR" ]]; then check_case_folder forensic-lab:evidenceVolume.path "$VOLUME_DIR"; fi

# Only root controls them now, so 0711 (for QEMU) is root tightening or opening its own folder.
for folder in "$STATE_DIR" ${VOLUME_DIR:+"$VOLUME_DIR"}; do
  install -d -m 0711 "$folder"
  chmod 0711 "$folder"
done
