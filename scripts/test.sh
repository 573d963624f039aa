#!/usr/bin/env bash
# The whole test suite: set-up (only what is missing), build, then unit, integration and e2e tests
# with node's built-in test runner. Integration and e2e tests need root (they build network namespaces
# and load BPF programs); they never touch the root network namespace.
#   bash scripts/test.sh            # everything
#   bash scripts/test.sh unit       # one group: unit | integration | e2e
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
groups=("$@")
[ ${#groups[@]} -gt 0 ] || groups=(unit integration e2e)
dirs=()
for g in "${groups[@]}"; do
  [ -d "dist/test/$g" ] && dirs+=("dist/test/$g")
done
if [ "$(id -u)" != 0 ]; then
  echo "test: integration and e2e tests need root (network namespaces, BPF). Run as root." >&2
  exit 1
fi
# Files run one at a time: the machine has 2 cores and the BPF tests measure packet timing.
# A test that hangs fails after 10 minutes instead of holding CI to its limit, and a file whose tests are
# done exits even if something it started still holds the event loop (the failure is reported either way).
exec node --test --test-concurrency=1 --test-timeout=600000 --test-force-exit --test-reporter=spec "${dirs[@]}"
