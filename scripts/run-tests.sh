#!/usr/bin/env bash
# Runs the whole vitest suite and ends with one plain line "tests: N passed, N failed, N skipped".
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p .cache
# The two-VM test (test/vm) runs as part of the suite when root: the first run builds a Debian
# image into .cache/vms (about 3.5 min), later runs reuse it (the test itself takes about 2 min).
# SWITCHYARD_VM_TESTS=0 skips it.
if [ "$(id -u)" = 0 ]; then export SWITCHYARD_VM_TESTS="${SWITCHYARD_VM_TESTS:-1}"; fi
npx vitest run --reporter=default --reporter=json --outputFile.json=.cache/vitest.json "$@"
rc=$?
node -e '
const r = JSON.parse(require("fs").readFileSync(".cache/vitest.json", "utf8"));
const skipped = r.numPendingTests + r.numTodoTests;
console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped`);
' || true
exit $rc
