#!/usr/bin/env bash
# Builds tap-uring.c ad hoc and runs it in a namespace of its own, removed on exit (issue 13
# feasibility; not part of the product). Usage: bash bench/tap-uring/run.sh rsys ruring rmshot ...
# Env: SECS, DEPTH, BATCH, PACE_US, DROP=other|udp (see tap-uring.c).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$(mktemp -d)
ns="syu-$$-$RANDOM"
trap 'ip netns del "$ns" 2>/dev/null || true; rm -rf "$out"' EXIT
gcc -O2 -Wall -o "$out/tap-uring" "$here/tap-uring.c" -luring
ip netns add "$ns"
ip netns exec "$ns" "$out/tap-uring" "$@"
