#!/usr/bin/env bash
# `npm run demo`: from a fresh checkout to a running demo lab (stack case-demo) on one KVM host.
# Installs what is missing, builds the analysis guest image and the demo evidence when missing, then runs
# `pulumi up --stack case-demo`. Extra arguments go to `pulumi up` (e.g. `npm run demo -- --yes`).
set -euo pipefail
cd "$(dirname "$0")/.."

readonly STACK=case-demo
readonly EVIDENCE_DIR=/var/lib/forensic-lab/demo-evidence
readonly IMAGE_ROOT=/var/lib/forensic-lab/guest-image
readonly SECRETS_DIR="${XDG_CONFIG_HOME:-$HOME/.config}/forensic-lab"

step() { printf '\n== %s\n' "$*"; }

step "host packages"
bash scripts/install-host-deps.sh

step "node packages"
if [[ ! -d node_modules/@pulumi/pulumi ]]; then
  npm install --no-audit --no-fund --ignore-scripts # not `npm ci`: see .ci/run
else
  echo "present"
fi

step "libvirt"
if ! virsh -c qemu:///system version >/dev/null 2>&1; then
  if [[ -d /run/systemd/system ]]; then
    systemctl start libvirtd virtlogd
  else
    # No init system running services (containers, CI): start the daemons by hand.
    pgrep -x virtlogd >/dev/null || virtlogd -d
    pgrep -x libvirtd >/dev/null || libvirtd -d
    for _ in $(seq 50); do virsh -c qemu:///system version >/dev/null 2>&1 && break; sleep 0.2; done
  fi
fi
virsh -c qemu:///system version | head -n 1

step "analysis guest image (built once from Debian packages, then cached)"
bash guest-image/build.sh "$IMAGE_ROOT"

step "demo evidence (a split sparse vmdk with two snapshots in another folder)"
bash scripts/make-evidence.sh "$EVIDENCE_DIR"

step "pulumi"
if ! command -v pulumi >/dev/null 2>&1; then
  cat >&2 <<'HELP'
The Pulumi CLI is not installed. Install it the official way, then run `npm run demo` again:
  curl -fsSL https://get.pulumi.com | sh        # or see https://www.pulumi.com/docs/install/
Everything else is ready: guest image, demo evidence, node packages.
HELP
  exit 1
fi

# The local file backend encrypts stack secrets with a passphrase. Keep one per user for the demo.
mkdir -p "$SECRETS_DIR" && chmod 0700 "$SECRETS_DIR"
if [[ -z "${PULUMI_CONFIG_PASSPHRASE:-}" && -z "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]]; then
  if [[ ! -s "$SECRETS_DIR/pulumi-passphrase" ]]; then
    (umask 077 && head -c 32 /dev/urandom | base64 >"$SECRETS_DIR/pulumi-passphrase")
  fi
  export PULUMI_CONFIG_PASSPHRASE_FILE="$SECRETS_DIR/pulumi-passphrase"
fi

pulumi stack select --create "$STACK"
if ! pulumi config get --stack "$STACK" forensic-lab:evidenceVolumePassphrase >/dev/null 2>&1; then
  # A fresh random passphrase for the demo's evidence volume, set as a secret through stdin (never argv).
  head -c 32 /dev/urandom | base64 | pulumi config set --stack "$STACK" --secret forensic-lab:evidenceVolumePassphrase
fi
node bin/forensic-lab.js check-config "stacks/Pulumi.$STACK.yaml"
pulumi up --stack "$STACK" "$@"
