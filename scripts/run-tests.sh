#!/usr/bin/env bash
# Runs the whole vitest suite and ends with one plain line "tests: N passed, N failed, N skipped".
# The counts come from test/harness/summary-reporter.ts: a file that fails to load, or a suite whose
# beforeAll throws, counts as failed (with its error on a line above); skipped tests are counted
# with their reason. If vitest ends without a report, or fails with nothing counted as failed, the
# line says so: it never reads "0 failed" when the exit status is not 0.
#   scripts/run-tests.sh [vitest args...]     e.g. test/unit, or --config other.config.ts
set -uo pipefail
cd "$(dirname "$0")/.."
# The two-VM test (test/vm) runs as part of the suite when root; its Debian image is built once
# per machine (see src/vms/paths.ts). SWITCHYARD_VM_TESTS=0 skips it.
if [ "$(id -u)" = 0 ]; then export SWITCHYARD_VM_TESTS="${SWITCHYARD_VM_TESTS:-1}"; fi
summary=$(mktemp "${TMPDIR:-/tmp}/switchyard-tests.XXXXXX")
trap 'rm -f "$summary"' EXIT
SWITCHYARD_TEST_SUMMARY="$summary" npx vitest run --reporter=default \
  --reporter="$PWD/test/harness/summary-reporter.ts" "$@"
rc=$?
node - "$summary" "$rc" <<'JS'
const fs = require('fs');
const [file, rcText] = process.argv.slice(2);
const rc = Number(rcText);
let s;
try {
  s = JSON.parse(fs.readFileSync(file, 'utf8'));
} catch {
  s = { passed: 0, failed: 1, skipped: 0, notes: [`failed: vitest exited with status ${rc} before it reported`] };
}
if (rc !== 0 && s.failed === 0) {
  s.failed = 1;
  s.notes.push(`failed: vitest exited with status ${rc} though no test or suite failed`);
}
console.log('');
for (const n of s.notes) console.log(n);
console.log(`tests: ${s.passed} passed, ${s.failed} failed, ${s.skipped} skipped`);
process.exitCode = s.failed > 0 ? 1 : 0;
JS
prc=$?
if [ "$rc" = 0 ]; then exit "$prc"; fi
exit "$rc"
