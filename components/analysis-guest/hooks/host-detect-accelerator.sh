#!/usr/bin/env bash
# Runs on the libvirt host (the create hook hands it over, through ssh when libvirt is remote) and prints
# the accelerator its domain must use: `kvm` or `tcg`.
# Values: ACCELERATOR (auto|kvm|tcg), KVM_DEVICE (/dev/kvm), PVM_MODULE (/sys/module/kvm_pvm).
set -euo pipefail

case "$ACCELERATOR" in
  tcg)
    echo tcg
    ;;
  kvm)
    if [[ ! -c "$KVM_DEVICE" ]]; then
      echo "accelerator: 'kvm' is forced but this libvirt host has no $KVM_DEVICE; use 'auto' or 'tcg'" >&2
      exit 1
    fi
    echo kvm
    ;;
  auto)
    # kvm_pvm is a paravirtual KVM that cannot run a stock kernel (emulation failures on cmpxchg16b,
    # xrstor, int3): software emulation is the only thing that boots there.
    if [[ -e "$PVM_MODULE" || ! -c "$KVM_DEVICE" ]]; then
      echo tcg
    else
      echo kvm
    fi
    ;;
  *)
    echo "accelerator: '$ACCELERATOR' is not one of auto, kvm, tcg" >&2
    exit 1
    ;;
esac
