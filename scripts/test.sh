#!/usr/bin/env bash
# Runs Switchyard's whole test suite on a fresh machine: installs what the tests need, checks
# formatting and lints, then runs every test. `.ci/run` calls exactly this script.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
command -v pebble >/dev/null 2>&1 || need_apt+=(pebble)
{ command -v knotd || [ -x /usr/sbin/knotd ]; } >/dev/null 2>&1 || need_apt+=(knot)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing: ${need_apt[*]}"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}"
fi
if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo is required (install Rust with rustup)" >&2
  exit 1
fi

echo "== rustfmt"
cargo fmt --all -- --check
echo "== clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== tests"
cargo test --workspace --locked
