#!/usr/bin/env bash
# NbdAttachment's result (the device and its partition table) from `sfdisk --json`, without starting jq
# for a table of the usual shape (one jq start costs about 0.4 s under software emulation). sfdisk writes
# one key per line; the keys read here (label, node, start, size, type) hold only words and numbers, so
# bash reads them when every one of those lines is exactly that. Any other shape goes to jq, which reads
# the JSON properly: bash never guesses. The partition names a hostile image chose sit on lines of their
# own ("name": ...), which are never read. Included at render time with
# `# forensic-lab:include lib/hooks/partition-table.sh`; needs jq for that fallback.

# partition_table_result DEVICE SECTOR_SIZE TABLE: REPLY is the result object for DEVICE (/dev/nbdN)
# from TABLE, sfdisk's JSON for it ("" when the disk has no partition table).
partition_table_result() {
  local device=$1 sector_size=$2 table=$3 line key value label=null
  local nodes=() starts=() sizes=() types=() i count parts=() number
  if [[ -n "$table" ]]; then
    while IFS= read -r line; do
      [[ "$line" =~ ^\ *\"(label|node|start|size|type)\": ]] || continue
      key=${BASH_REMATCH[1]}
      if ! [[ "$line" =~ ^\ *\"[a-z]+\":\ *(\"[A-Za-z0-9/._-]*\"|[0-9]+),?$ ]]; then
        partition_table_by_jq "$device" "$sector_size" "$table"
        return
      fi
      value=${BASH_REMATCH[1]}
      case "$key" in
        label) label=$value ;;
        node) nodes+=("${value//\"/}") ;;
        start) starts+=("$value") ;;
        size) sizes+=("$value") ;;
        type) types+=("$value") ;;
      esac
    done <<<"$table"
  fi
  count=${#nodes[@]}
  if ((${#starts[@]} != count || ${#sizes[@]} != count || ${#types[@]} != count)); then
    partition_table_by_jq "$device" "$sector_size" "$table"
    return
  fi
  for ((i = 0; i < count; i++)); do
    # Numbers only, and each node this device's partition: otherwise jq decides.
    if ! [[ "${starts[i]}" =~ ^[0-9]+$ && "${sizes[i]}" =~ ^[0-9]+$ && "${types[i]}" == \"* && "${nodes[i]}" =~ ^"$device"p([1-9][0-9]*)$ ]]; then
      partition_table_by_jq "$device" "$sector_size" "$table"
      return
    fi
    number=${BASH_REMATCH[1]} # of the node: the last match above
    parts+=("{\"number\":$number,\"node\":\"${nodes[i]}\",\"startSector\":${starts[i]},\"sizeSectors\":${sizes[i]},\"type\":${types[i]},\"byteOffset\":$((starts[i] * sector_size)),\"sectorSize\":$sector_size}")
  done
  local IFS=,
  REPLY="{\"device\":\"$device\",\"sectorSize\":$sector_size,\"label\":$label,\"partitions\":[${parts[*]}]}"
}

# partition_table_by_jq DEVICE SECTOR_SIZE TABLE: the same REPLY, read by jq.
partition_table_by_jq() {
  local table=${3:-'{"partitiontable": {"label": null, "partitions": []}}'}
  REPLY=$(jq -c --arg device "$1" --argjson ss "$2" '
    .partitiontable as $t | {
      device: $device, sectorSize: $ss, label: $t.label,
      partitions: [($t.partitions // [])[] | {
        number: (.node | capture("p(?<n>[0-9]+)$").n | tonumber),
        node, startSector: .start, sizeSectors: .size, type,
        byteOffset: (.start * $ss), sectorSize: $ss
      }]
    }' <<<"$table")
}
