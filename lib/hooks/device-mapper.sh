#!/usr/bin/env bash
# Device-mapper helpers for the guest hooks that map evidence read-only (VolumeSystems, RaidArray),
# inlined with `# forensic-lab:include lib/hooks/device-mapper.sh` after common.sh.

# mapped_read_only NAME: fails unless /dev/mapper/NAME is read-only in the kernel.
mapped_read_only() {
  [[ "$(<"/sys/class/block/$(kernel_name "/dev/mapper/$1")/ro")" == 1 ]] || fail "/dev/mapper/$1 is not read-only in the kernel"
}

# size_of DEVICE: its size in bytes.
size_of() { echo $(($(<"/sys/class/block/$(kernel_name "$1")/size") * 512)); }

# as_dm_table < TABLE: a dm table as dmsetup prints it: device paths become major:minor.
as_dm_table() {
  local line word words out
  while IFS= read -r line; do
    read -ra words <<<"$line"
    out=""
    for word in "${words[@]}"; do
      if [[ "$word" == /dev/* ]]; then
        word=$(stat -Lc '%t %T' -- "$word")
        word="$((16#${word% *})):$((16#${word#* }))"
      fi
      out+="$word "
    done
    printf '%s\n' "${out% }"
  done
}

# dm_table_of NAME: `dmsetup table` of a mapping, without the space some targets leave at the end of
# their lines (thin-pool).
dm_table_of() {
  local line
  while IFS= read -r line; do printf '%s\n' "${line%"${line##*[! ]}"}"; done < <(dmsetup table -- "$1")
}
