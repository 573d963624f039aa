#!/usr/bin/env bash
# The test suite with node's built-in test runner, by group:
#   bash scripts/test.sh            # everything: set-up (only what is missing), full build, unit+integration+e2e
#   bash scripts/test.sh unit       # the inner loop: any user, TypeScript build only, seconds
#   bash scripts/test.sh cli        # the real CLI's help and usage checks (spawns bin/calitrace.js), any user
#   bash scripts/test.sh integration e2e
#   bash scripts/test.sh --coverage unit   # the same under c8: text summary + reports/coverage/index.html
# Integration and e2e tests need root (they build network namespaces and load BPF programs) and the full
# build; they never touch the root network namespace. Unit and CLI tests need neither: they run pure code
# and the CLI's argument checks, so `npm run test:unit` works as a normal user on a clone without clang or
# bpftool. The CLI tests spawn the real command tens of times, which is most of their time: they are their
# own group so the inner loop stays in seconds.
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
[ ${#groups[@]} -gt 0 ] || groups=(unit cli integration e2e)
unit_only=1
for g in "${groups[@]}"; do
  case $g in
    unit | cli) ;;
    integration | e2e) unit_only=0 ;;
    *) echo "test: unknown group '$g' (unit | cli | integration | e2e)" >&2; exit 2 ;;
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
unit_files=()
lab_files=()
for g in "${groups[@]}"; do
  for t in test/"$g"/*.test.ts; do
    [ -e "$t" ] || continue
    if [ "$g" = unit ] || [ "$g" = cli ]; then unit_files+=("dist/${t%.ts}.js"); else lab_files+=("dist/${t%.ts}.js"); fi
  done
done
# A test that hangs fails after 10 minutes instead of holding CI to its limit, and a file whose tests are
# done exits even if something it started still holds the event loop (the failure is reported either way).
runner=(node --test --test-timeout=600000 --test-force-exit --test-reporter=spec)
rc=0
if [ ${#unit_files[@]} -gt 0 ]; then
  # No packet timing to protect: both cores.
  "${coverage[@]}" "${runner[@]}" --test-concurrency=2 "${unit_files[@]}" || rc=1
fi
if [ ${#lab_files[@]} -gt 0 ]; then
  # Files run one at a time: the machine has 2 cores and the BPF tests measure packet timing.
  "${coverage[@]}" "${runner[@]}" --test-concurrency=1 "${lab_files[@]}" || rc=1
fi
exit $rc
