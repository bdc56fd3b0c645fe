#!/usr/bin/env bash
# The Pulumi engine for hosts that cannot run Pulumi's installer: built with `go` from the Go module
# proxy only, at the versions pinned in engine/go.mod, into a folder named for those pins.
#
#   bash scripts/install-pulumi.sh            # build if needed; print progress on stderr, the bin folder on stdout
#   bash scripts/install-pulumi.sh --check    # exit 0 if the engine for these pins is already built
#
# What it builds (engine/README.md says why each comes from where):
#   pulumi                   the real CLI and engine, github.com/pulumi/pulumi/pkg/v3/cmd/pulumi at the pinned tag
#   pulumi-language-nodejs   forensic-lab's Node.js language host (engine/cmd/...): Pulumi's own module is not served here
#   pulumi-resource-command  forensic-lab's command:local:Command provider (engine/cmd/...): likewise
#
# A Pulumi CLI already on PATH is kept when it is new enough for the pinned SDK and has its Node.js
# language host beside it (an official install); the script then says so and builds nothing. Set
# FORENSIC_LAB_BUILD_ENGINE=1 to build regardless.
#
# Output: ${FORENSIC_LAB_ENGINE_ROOT:-/opt/forensic-lab/pulumi}/<pulumi version>-<hash of engine/>/bin.
# A second run with the same pins finds the finished folder and does nothing. Nothing is downloaded but
# Go modules, and nothing is left half-built: the build goes to a temporary folder renamed into place.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly REPO
readonly ENGINE_SRC="$REPO/engine"
readonly ENGINE_ROOT="${FORENSIC_LAB_ENGINE_ROOT:-/opt/forensic-lab/pulumi}"
readonly PULUMI_PKG=github.com/pulumi/pulumi/pkg/v3

say() { printf 'install-pulumi: %s\n' "$*" >&2; }
fail() { say "$*"; exit 1; }

check_only=false
case "${1:-}" in
  --check) check_only=true ;;
  "") ;;
  *) fail "unknown argument '$1' (usage: install-pulumi.sh [--check])" ;;
esac

command -v go >/dev/null || fail "no 'go' on PATH: install Go 1.26 or newer (Debian: golang-go), or Pulumi the official way"

# The pins: engine/go.mod's pulumi version, which must be the @pulumi/pulumi version in package-lock.json
# (the Node.js SDK and the engine it talks to are released together).
pulumi_version="$(cd "$ENGINE_SRC" && GOFLAGS=-mod=mod go list -m -f '{{.Version}}' "$PULUMI_PKG")"
sdk_version="v$(node -p 'require(process.argv[1]).packages["node_modules/@pulumi/pulumi"].version' "$REPO/package-lock.json")"
[[ "$pulumi_version" == "$sdk_version" ]] ||
  fail "engine/go.mod pins $PULUMI_PKG $pulumi_version but package-lock.json has @pulumi/pulumi $sdk_version: pin both to one release"

# Keep a compatible official install: same major version, not older than the SDK.
if [[ "${FORENSIC_LAB_BUILD_ENGINE:-0}" != 1 ]] && existing="$(command -v pulumi 2>/dev/null)"; then
  existing_dir="$(dirname "$(readlink -f "$existing")")"
  existing_version="$("$existing" version 2>/dev/null || true)"
  if [[ "$existing_dir" != "$ENGINE_ROOT"/* && -x "$existing_dir/pulumi-language-nodejs" ]] &&
    printf '%s\n%s\n' "$sdk_version" "$existing_version" | sort -V -C && [[ "$existing_version" == v3.* ]]; then
    say "using the Pulumi CLI already installed: $existing ($existing_version, needs >= $sdk_version)"
    say "its command provider comes the official way: pulumi plugin install resource command $(node -p 'require(process.argv[1]).packages["node_modules/@pulumi/command"].version' "$REPO/package-lock.json")"
    printf '%s\n' "$existing_dir"
    exit 0
  fi
fi

# The folder is named for the pulumi version and everything our build reads (go.mod, go.sum, our commands),
# so a changed pin or a changed provider gets a folder of its own and an unchanged one is reused.
source_hash="$(cd "$ENGINE_SRC" && find go.mod go.sum cmd -type f ! -name '*_test.go' -print0 | LC_ALL=C sort -z |
  xargs -0 sha256sum | sha256sum | cut -c1-12)"
readonly TARGET="$ENGINE_ROOT/$pulumi_version-$source_hash"
readonly BIN="$TARGET/bin"

already_built() {
  [[ -f "$TARGET/.complete" ]] || return 1
  say "engine for these pins already built: $BIN"
  printf '%s\n' "$BIN"
}
already_built && exit 0
$check_only && { say "not built yet: $BIN"; exit 1; }

# One build at a time per engine folder (npm test starts one in the background; a user may run the e2e
# or the bench meanwhile): a second caller waits, then finds the first one's result.
mkdir -p "$ENGINE_ROOT"
exec 8>"$ENGINE_ROOT/.build.lock"
if ! flock -n 8; then
  say "another build of the engine is running; waiting for it"
  flock 8
fi
already_built && exit 0
staging="$(mktemp -d "$ENGINE_ROOT/.build.XXXXXX")"
trap 'rm -rf "$staging"' EXIT
mkdir -p "$staging/bin"

# Official builds are static (CGO off); -trimpath keeps this machine's paths out of the binaries.
# -mod=readonly: go.sum is the pin, nothing is re-resolved; GOTOOLCHAIN=local: never fetch another Go.
export CGO_ENABLED=0 GOFLAGS="-mod=readonly -trimpath -buildvcs=false" GOTOOLCHAIN=local
build() {
  local name=$1 package=$2 started=$SECONDS
  shift 2
  say "building $name ($package) ..."
  (cd "$ENGINE_SRC" && go build -o "$staging/bin/$name" "$@" "$package")
  say "built $name in $((SECONDS - started)) s"
}
say "Go module downloads (first run only; about 1.5 GB) and a cold build take several minutes on 2 cores"
(cd "$ENGINE_SRC" && go mod download -x 2>&1 | grep -c '^# get' | xargs -I{} printf 'install-pulumi: %s module files fetched\n' {} >&2) || true
build pulumi "$PULUMI_PKG/cmd/pulumi" -ldflags "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$pulumi_version"
build pulumi-language-nodejs ./cmd/pulumi-language-nodejs
build pulumi-resource-command ./cmd/pulumi-resource-command

rm -rf "$TARGET"
mv "$staging" "$TARGET"
trap - EXIT
chmod 0755 "$TARGET" "$BIN"
touch "$TARGET/.complete"

say "pulumi version: $(PULUMI_SKIP_UPDATE_CHECK=true "$BIN/pulumi" version)"
for plugin in "$BIN"/pulumi-*; do say "beside it: ${plugin##*/}"; done
printf '%s\n' "$BIN"
