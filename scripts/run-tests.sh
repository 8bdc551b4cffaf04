#!/usr/bin/env bash
# Runs the whole vitest suite and ends with one plain line "tests: N passed, N failed, N skipped".
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p .cache
npx vitest run --reporter=default --reporter=json --outputFile.json=.cache/vitest.json "$@"
rc=$?
node -e '
const r = JSON.parse(require("fs").readFileSync(".cache/vitest.json", "utf8"));
const skipped = r.numPendingTests + r.numTodoTests;
console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped`);
' || true
exit $rc
