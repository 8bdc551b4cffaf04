#!/usr/bin/env bash
# `make demo-vms`: Figure 8 across two qemu VMs (see src/cli/demo-vms.ts).
#   scripts/demo-vms.sh [--iperf-seconds N] [--no-nvgre]
# Env: SWITCHYARD_VM_ACCEL=kvm|tcg (skip the KVM probe), SWITCHYARD_VM_CACHE (default .cache/vms).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f dist/cli/demo-vms.js ] || { echo "demo-vms: not built; run \`make build\` (make demo-vms does)" >&2; exit 2; }
exec node --input-type=module -e '
const o = {};
const a = process.argv.slice(1);
for (let i = 0; i < a.length; i++) {
  if (a[i] === "--iperf-seconds") o.iperfSeconds = Number(a[++i]);
  else if (a[i] === "--no-nvgre") o.noNvgre = true;
  else if (a[i] === "--mem") o.memMb = Number(a[++i]);
  else { console.error(`demo-vms: unknown argument ${a[i]} (--iperf-seconds N, --no-nvgre, --mem MB)`); process.exit(2); }
}
const { runDemoVms } = await import(process.cwd() + "/dist/cli/demo-vms.js");
process.exitCode = await runDemoVms(o);
' -- "$@"
