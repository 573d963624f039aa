#!/usr/bin/env bash
# The TypeScript side alone, as any user, without clang/bpftool/protoc: tsc, then the committed generated
# gRPC code beside its compiled users (tsc does not copy .js files). Enough for the unit tests and the
# mutation run; scripts/build.sh is the full build (BPF object, loader, generated files, then this).
set -euo pipefail
cd "$(dirname "$0")/.."
# Resolved as node resolves it, so this also works in a copy of the tree nested in it (Stryker's sandbox).
tsc=$(node -p "require.resolve('typescript/bin/tsc')" 2>/dev/null) || { echo "build-ts: npm dependencies missing. Run: npm ci" >&2; exit 1; }
node "$tsc" -p tsconfig.json
mkdir -p dist/src/api/generated
for f in calitrace.js descriptor-set.binpb; do
  cmp -s "src/api/generated/$f" "dist/src/api/generated/$f" 2>/dev/null || cp "src/api/generated/$f" "dist/src/api/generated/$f"
done
