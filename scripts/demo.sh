#!/usr/bin/env bash
# `make demo`: the Figure 8 scenario on its embedded default policy.
set -euo pipefail
cd "$(dirname "$0")/.."
exec node bin/switchyard.js demo "$@"
