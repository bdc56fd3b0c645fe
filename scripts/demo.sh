#!/usr/bin/env bash
# `npm run demo`: from a fresh checkout to a running demo lab (stack case-demo) on one KVM host.
# Installs what is missing (host packages, node packages, the Pulumi engine via scripts/install-pulumi.sh
# when no Pulumi CLI is installed), builds the analysis guest image and the demo evidence when missing,
# creates the stack (its file a copy of examples/Pulumi.case-demo.yaml) with a generated evidence volume
# passphrase (a secret), runs
# `pulumi up --policy-pack policy --yes` and prints what the examiner does next. Extra arguments go to
# `pulumi up`.
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
virsh -c qemu:///system version | sed -n 1p # not head: its early exit would fail the pipe

step "analysis guest image (built once from Debian packages, then cached)"
bash guest-image/build.sh "$IMAGE_ROOT"

step "demo evidence (a split sparse vmdk with two snapshots in another folder)"
bash scripts/make-evidence.sh "$EVIDENCE_DIR"

step "pulumi engine"
# An official Pulumi CLI on PATH is kept; otherwise the engine is built from Go modules (minutes, once).
engine_bin="$(bash scripts/install-pulumi.sh)"
export PATH="$engine_bin:$PATH"
if [[ "$engine_bin" == "${FORENSIC_LAB_ENGINE_ROOT:-/opt/forensic-lab/pulumi}"/* ]]; then
  # The engine built here finds its plugins beside it; nothing may be downloaded.
  export PULUMI_SKIP_UPDATE_CHECK=true PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
fi
pulumi version

# State stays on this host: Pulumi.yaml names the file backend (file://~/.pulumi-forensic-lab; the CLI
# wants the folder to exist), which encrypts stack secrets with a passphrase. Keep one per user, 0600.
[[ -n "${PULUMI_BACKEND_URL:-}" ]] || install -d -m 0700 "$HOME/.pulumi-forensic-lab"
mkdir -p "$SECRETS_DIR" && chmod 0700 "$SECRETS_DIR"
if [[ -z "${PULUMI_CONFIG_PASSPHRASE:-}" && -z "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]]; then
  if [[ ! -s "$SECRETS_DIR/pulumi-passphrase" ]]; then
    (umask 077 && head -c 32 /dev/urandom | base64 >"$SECRETS_DIR/pulumi-passphrase")
  fi
  export PULUMI_CONFIG_PASSPHRASE_FILE="$SECRETS_DIR/pulumi-passphrase"
fi

step "stack $STACK"
# The stack's own file is a copy of the shipped example: pulumi writes the encrypted passphrase and its
# salt into it. An existing copy is kept (it holds the salt of the secrets in the stack's state).
stack_file="stacks/Pulumi.$STACK.yaml"
if [[ ! -e "$stack_file" ]]; then
  cp "examples/Pulumi.$STACK.yaml" "$stack_file"
  echo "made $stack_file from examples/Pulumi.$STACK.yaml"
else
  echo "using $stack_file (delete it after a destroy to start again from examples/Pulumi.$STACK.yaml)"
fi
pulumi stack select --create "$STACK"
if ! pulumi config get --stack "$STACK" forensic-lab:evidenceVolumePassphrase >/dev/null 2>&1; then
  # A fresh random passphrase for the demo's evidence volume, set as a secret through stdin (never argv).
  head -c 32 /dev/urandom | base64 | pulumi config set --stack "$STACK" --secret forensic-lab:evidenceVolumePassphrase
fi
node bin/forensic-lab.js check-config "$stack_file"

step "pulumi up (with the policy pack)"
pulumi up --stack "$STACK" --policy-pack policy --yes "$@"

step "what the examiner does next"
echo "Log into the analysis guest (read-only evidence under /mnt/forensic):"
echo "  $(pulumi stack output --stack "$STACK" --json guest | jq -r .ssh)"
echo "Mounts:"
pulumi stack output --stack "$STACK" --json images |
  jq -r 'to_entries[] | .key as $image | .value.mounts[] | "  \($image) p\(.partition) \(.filesystem) -> \(.mountPoint) (\(.options | join(",")))"'
cat <<NEXT
Every output:    pulumi stack output --stack $STACK
Tear it down:    PATH="$engine_bin:\$PATH" PULUMI_CONFIG_PASSPHRASE_FILE=$PULUMI_CONFIG_PASSPHRASE_FILE pulumi destroy --stack $STACK --yes
Then forget it:  PATH="$engine_bin:\$PATH" pulumi stack rm $STACK --yes   (removes $stack_file too)
NEXT
