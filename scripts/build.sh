#!/usr/bin/env bash
# Builds the BPF side (bpf/Makefile: clang -> bpftool gen object -> gen skeleton -> loader) and the
# TypeScript (tsc, incremental). Both steps only redo what changed.
set -euo pipefail
cd "$(dirname "$0")/.."
need() { # need TOOL PACKAGE
  command -v "$1" >/dev/null 2>&1 || {
    echo "build: '$1' not found; it comes from the Debian package '$2'. Run: sudo bash scripts/setup.sh" >&2
    exit 1
  }
}
need clang clang; need bpftool bpftool; need make make; need cc gcc; need llvm-strip llvm
[ -e /usr/include/bpf/libbpf.h ] || { echo "build: libbpf headers missing (package libbpf-dev). Run: sudo bash scripts/setup.sh" >&2; exit 1; }
[ -e /usr/include/libelf.h ] || { echo "build: libelf headers missing (package libelf-dev). Run: sudo bash scripts/setup.sh" >&2; exit 1; }
[ -d node_modules/typescript ] || { echo "build: npm dependencies missing. Run: bash scripts/setup.sh" >&2; exit 1; }
if [ -f bpf/Makefile ]; then make -s -C bpf; node scripts/gen-event-layout.js; fi
if [ -x scripts/gen-proto.sh ]; then bash scripts/gen-proto.sh; fi
node_modules/.bin/tsc -p tsconfig.json
