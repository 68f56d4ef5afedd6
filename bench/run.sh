#!/usr/bin/env bash
# Benchmarks Switchyard against nginx, HAProxy and Traefik in one run, on loopback.
#
#   bash bench/setup.sh                      # once: nginx, haproxy, wrk, h2load, Traefik 3.7 (.venv)
#   cargo build --release                    # target/release/switchyard
#   bench/run.sh [--duration S] [--binary PATH] [--repeat N] [--proxies a,b] [--scenarios a,...,h]
#
# Results: bench/out/results-<timestamp>.json (+ .md); configs and logs: bench/out/run-<timestamp>/.
# The orchestration (bench/bench.py, Python stdlib only) kills every process it started on exit,
# including on Ctrl-C. See docs/benchmarks.md for the method.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
exec python3 bench/bench.py "$@"
