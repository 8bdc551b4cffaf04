#!/usr/bin/env bash
# `make demo-vms`: Figure 8 across two qemu VMs (src/vms/demo.ts).
#   scripts/demo-vms.sh [--seconds N] [--no-nvgre] [--mem MB]
# Env: SWITCHYARD_VM_ACCEL=kvm|tcg (skip the KVM probe), SWITCHYARD_VM_CACHE (the image cache; default /var/cache/switchyard/vms).
set -euo pipefail
cd "$(dirname "$0")/.."
exec node bin/switchyard.js demo --vms "$@"
