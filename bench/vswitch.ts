/**
 * The virtual switch's bench cases alone (issue 14; `make bench` runs them too): TCP port to port
 * and port to host on an Internal switch, and NAT'd TCP to an outside namespace, each against a
 * kernel bridge + nftables masquerade in the same shape, medians of `rounds` rounds. Root.
 * `npx tsx bench/vswitch.ts [seconds=3] [rounds=3]`.
 */
import { withBoth } from '../src/lab/vswitch-bench.js';

const seconds = Number(process.argv[2] ?? 3);
const rounds = Number(process.argv[3] ?? 3);
// each case on switchyard and on the kernel bridge before the next case, `rounds` times: medians
const { switchyard: sy, kernel: k, ratio } = await withBoth(seconds, [], true, rounds);
const rows = (['p2p', 'p2host', 'nat'] as const).map((c) => ({
  name: { p2p: 'switch-internal-port-to-port-tcp', p2host: 'switch-internal-port-to-host-tcp', nat: 'switch-nat-tcp' }[c],
  unit: 'Gbit/s',
  switchyard: Math.round(sy[c] * 100) / 100,
  kernel: Math.round(k[c] * 100) / 100,
  ratio: Math.round(ratio[c] * 1000) / 1000,
  peer: c === 'nat' ? 'kernel-bridge+nft-masquerade' : 'kernel-bridge',
}));
for (const r of rows) console.log(`${r.name.padEnd(36)} ${String(r.switchyard).padStart(6)} vs ${String(r.kernel).padStart(6)} ${r.unit}  ratio ${r.ratio}  (${r.peer})`);
console.log(JSON.stringify({ date: new Date().toISOString(), seconds, cases: rows }));
