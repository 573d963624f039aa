#!/usr/bin/env bash
# The test suite with node's built-in test runner, by group:
#   bash scripts/test.sh            # everything: set-up (only what is missing), full build, unit+integration+e2e
#   bash scripts/test.sh unit       # the inner loop: any user, TypeScript build only, seconds
#   bash scripts/test.sh integration e2e
#   bash scripts/test.sh --coverage unit   # the same under c8: text summary + reports/coverage/index.html
# Integration and e2e tests need root (they build network namespaces and load BPF programs) and the full
# build; they never touch the root network namespace. Unit tests need neither: they run pure code and the
# CLI's argument checks, so `npm run test:unit` works as a normal user on a clone without clang or bpftool.
set -euo pipefail
cd "$(dirname "$0")/.."
coverage=()
if [ "${1:-}" = --coverage ]; then
  shift
  # c8 follows every node process the tests start (the CLI tests spawn bin/calitrace.js) and maps the
  # compiled files back to src/ through tsc's source maps.
  coverage=(node_modules/.bin/c8 --reporter=text --reporter=html --reports-dir=reports/coverage --temp-directory=reports/coverage/tmp
    --include='dist/src/**' --exclude='dist/src/**/generated/**' --all=false)
fi
groups=("$@")
[ ${#groups[@]} -gt 0 ] || groups=(unit integration e2e)
unit_only=1
for g in "${groups[@]}"; do
  case $g in
    unit) ;;
    integration | e2e) unit_only=0 ;;
    *) echo "test: unknown group '$g' (unit | integration | e2e)" >&2; exit 2 ;;
  esac
done

if [ $unit_only = 1 ]; then
  [ -d node_modules/typescript ] || npm ci --no-audit --no-fund --loglevel=error
  bash scripts/build-ts.sh
else
  if [ "$(id -u)" != 0 ]; then
    echo "test: integration and e2e tests need root (network namespaces, BPF). Run as root, or: npm run test:unit" >&2
    exit 1
  fi
  bash scripts/setup.sh
  bash scripts/build.sh
fi

# The compiled files of the tests that exist in test/ now: tsc never deletes, so a test moved or removed
# would otherwise still run from an old dist/.
files=()
for g in "${groups[@]}"; do
  for t in test/"$g"/*.test.ts; do
    [ -e "$t" ] && files+=("dist/${t%.ts}.js")
  done
done
if [ $unit_only = 1 ]; then
  # No packet timing to protect: both cores.
  exec "${coverage[@]}" node --test --test-concurrency=2 --test-reporter=spec "${files[@]}"
fi
# Files run one at a time: the machine has 2 cores and the BPF tests measure packet timing.
exec "${coverage[@]}" node --test --test-concurrency=1 --test-reporter=spec "${files[@]}"
