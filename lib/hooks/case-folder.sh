#!/usr/bin/env bash
# Checks on the case folder (stateDir) and the folders the lab makes in it, for the hooks that make them
# (`# forensic-lab:include lib/hooks/case-folder.sh`). The case folder holds the guest's private key, the
# custody log and the evidence volume, and root writes, chmods and deletes in it. Anyone else who owns or
# may write to it (or to a folder above it) can swap a name for a symbolic link (custody.jsonl -> /etc/passwd,
# keys -> /etc, disks -> the evidence) and have root act through it. So such a folder is refused, never
# chmod-ed into shape: whoever could write to it may already have planted something. The lab itself never
# puts a symbolic link in the case folder, so one found there is refused too. Each refusal is one line
# naming the config key and the reason, and comes before anything is created.

refuse_case_folder() { # key reason
  echo "$1: $2" >&2
  exit 1
}

# Fails unless the folder is root's and only root may write to it. Above the case folder a sticky folder
# (/tmp) is fine: nobody else can rename or remove what root made in it.
case_folder_owner_ok() { # key folder role(case|above)
  local key=$1 folder=$2 role=$3 uid mode
  read -r uid mode < <(stat -c '%u %a' -- "$folder")
  if ((uid != 0)); then
    refuse_case_folder "$key" "'$folder' is owned by uid $uid, not root; use a folder only root controls (chown root: it, or choose another)"
  fi
  if (((8#$mode & 8#022) != 0)); then
    if [[ "$role" == above ]] && (((8#$mode & 8#1000) != 0)); then return 0; fi
    refuse_case_folder "$key" "'$folder' is writable by group or others (mode $(printf '%04o' "$((8#$mode))")); use a folder only root may write to"
  fi
}

# check_case_folder KEY FOLDER: FOLDER (the case folder, or a folder the lab makes in it) is absent or a
# real folder that only root controls, below folders only root controls, and holds no symbolic link and
# no folder someone else owns or may write to.
check_case_folder() {
  local key=$1 folder=$2 above found
  if [[ -L "$folder" ]]; then
    refuse_case_folder "$key" "'$folder' is a symbolic link (to '$(readlink -- "$folder")'); give the real path"
  fi
  if [[ -e "$folder" && ! -d "$folder" ]]; then
    refuse_case_folder "$key" "'$folder' exists and is not a folder"
  fi
  above=$(dirname -- "$folder")
  while [[ ! -e "$above" ]]; do above=$(dirname -- "$above"); done
  above=$(realpath -e -- "$above")
  while :; do
    case_folder_owner_ok "$key" "$above" above
    [[ "$above" != / ]] || break
    above=$(dirname -- "$above")
  done
  [[ -d "$folder" ]] || return 0
  case_folder_owner_ok "$key" "$folder" case
  # Files may change owner (libvirt hands the guest's disks to QEMU's user while it runs); folders do not.
  found=$(find "$folder" -mindepth 1 \( -type l -o -type d \( ! -uid 0 -o -perm /022 \) \) -print -quit)
  if [[ -L "$found" ]]; then
    refuse_case_folder "$key" "'$found' is a symbolic link (to '$(readlink -- "$found")'); the lab makes none in the case folder: remove it, and find out who put it there"
  elif [[ -n "$found" ]]; then
    case_folder_owner_ok "$key" "$found" case
  fi
}
