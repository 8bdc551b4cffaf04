#!/usr/bin/env bash
# Runs the whole vitest suite and ends with one plain line "tests: N passed, N failed, N skipped".
#   scripts/run-tests.sh                  the whole suite, then the unit tests under Node 22 too
#   scripts/run-tests.sh [vitest args]    only what the arguments say, e.g. test/unit
# The counts come from test/harness/summary-reporter.ts: a file that fails to load, or a suite whose
# beforeAll throws, counts as failed (with its error on a line above); skipped tests are counted
# with their reason. A run that ends without a report, or fails with nothing counted as failed,
# counts one failed: the line never says "0 failed" when the exit status is not 0.
# Env: SWITCHYARD_VM_TESTS=0 leaves out the two-VM test (on by default as root; its Debian image is
# built once per machine, see scripts/vm/build-image.sh); SWITCHYARD_TEST_NODE=VERSION picks the
# second Node for the unit tests (default below; 0 skips that run).
set -uo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" = 0 ]; then export SWITCHYARD_VM_TESTS="${SWITCHYARD_VM_TESTS:-1}"; fi
OTHER_NODE=${SWITCHYARD_TEST_NODE:-22.23.5}
REPORTER=$PWD/test/harness/summary-reporter.ts
out=$(mktemp -d "${TMPDIR:-/tmp}/switchyard-tests.XXXXXX")
trap 'rm -rf "$out"' EXIT
summaries=()

echo "== vitest ${*:-(the whole suite: unit, integration$([ "${SWITCHYARD_VM_TESTS:-0}" = 1 ] && echo ', two-VM'))} under node $(node --version)"
SWITCHYARD_TEST_SUMMARY="$out/main.json" npx vitest run --reporter=default --reporter="$REPORTER" "$@"
summaries+=("$out/main.json" "$?" "node $(node --version | tr -d v)")

# The whole suite (make test, CI): the unit tests once more under the next LTS line, so a user on
# it is not the first to find a break. Node and its build of better-sqlite3 are kept per machine.
if [ $# = 0 ] && [ "$OTHER_NODE" != 0 ]; then
  echo
  echo "== unit tests under node $OTHER_NODE (SWITCHYARD_TEST_NODE=0 skips)"
  start=$SECONDS
  if where=$(bash scripts/other-node.sh "$OTHER_NODE"); then
    bin=$(sed -n 's/^bin: //p' <<<"$where")
    modules=$(sed -n 's/^modules: //p' <<<"$where")
    PATH="$bin:$PATH" SWITCHYARD_OTHER_NODE_MODULES="$modules" SWITCHYARD_TEST_SUMMARY="$out/other.json" \
      npx vitest run --config test/harness/vitest.other-node.config.ts --reporter=default --reporter="$REPORTER" test/unit
    rc=$?
  else
    rc=1
    printf '{"passed":0,"failed":1,"skipped":0,"notes":["failed: node %s could not be set up (scripts/other-node.sh, message above)"]}\n' "$OTHER_NODE" >"$out/other.json"
  fi
  echo "(node $OTHER_NODE: $((SECONDS - start)) s)"
  summaries+=("$out/other.json" "$rc" "node $OTHER_NODE (unit tests)")
fi

node test/harness/print-summary.mjs "${summaries[@]}"
