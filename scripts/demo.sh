#!/usr/bin/env bash
# The README's demo command (`npm run demo`): set-up (only what is missing), build, then the live demo:
# the built-in Calico lab in network namespaces, the tracer + API for node1, traffic, and the terminal UI.
# Needs root (namespaces, BPF). Extra arguments go to `calitrace demo` (e.g. --keep-lab, --prefix P).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
  echo "demo: needs root (it builds network namespaces and loads BPF programs). Run: sudo npm run demo" >&2
  exit 1
fi
bash scripts/setup.sh
bash scripts/build.sh
exec node bin/calitrace.js demo "$@"
