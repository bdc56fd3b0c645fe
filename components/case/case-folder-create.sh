#!/usr/bin/env bash
# Case create, on the host: the case's state folder (keys, disks, custody log, the evidence volume file).
# 0711: QEMU runs as libvirt-qemu and must reach the disks inside, but may not list the folder.
# Values: STATE_DIR, VOLUME_DIR (folder of the file-backed evidence volume; "" for LVM).
set -euo pipefail

for folder in "$STATE_DIR" ${VOLUME_DIR:+"$VOLUME_DIR"}; do
  if [[ -e "$folder" && ! -d "$folder" ]]; then
    echo "case folder: '$folder' exists and is not a folder" >&2
    exit 1
  fi
  if [[ -L "$folder" ]]; then
    echo "case folder: '$folder' is a symbolic link; give the real path" >&2
    exit 1
  fi
  install -d -m 0711 "$folder"
  chmod 0711 "$folder"
done
