#!/usr/bin/env bash
# `make bench`: switchyard against the kernel's VXLAN on the Figure 8 topology, in one run.
set -euo pipefail
cd "$(dirname "$0")/.."
exec node bin/switchyard.js bench "$@"
