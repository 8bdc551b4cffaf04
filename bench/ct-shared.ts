/**
 * What keeping connection state across worker restarts costs on the fast path (issue 20): the
 * agent's workers keep their conntrack columns on a SharedArrayBuffer (vfp/conntrack.ts) instead
 * of private typed arrays. Frames/s of UFT hits that go through connection tracking (contoso-sql
 * has a stateful ACL, so every hit checks and advances its connection: ct.alive + ct.track), 64
 * UDP flows VXLAN-encapsulated to host2, one core, in memory; the two kinds of table interleaved
 * `rounds` times in one process (the machine is shared: compare within one run).
 *
 * Run: npx tsx bench/ct-shared.ts [rounds=3] [ms=1500]
 */
import { ReplayPort, SinkUplink } from './fakes.js';
import { compileSnapshot } from '../src/vfp/snapshot.js';
import { conntrackBytes } from '../src/vfp/conntrack.js';
import { Forwarder } from '../src/dataplane/forwarder.js';
import { C } from '../src/dataplane/counters.js';
import { figure8Policy } from '../src/policy/figure8.js';
import type { Policy } from '../src/policy/types.js';
import { buildIpv4Udp } from '../src/wire/build/frames.js';

const BATCH = 64;
const CT_CAPACITY = 262144;

function policy(): Policy {
  const p = figure8Policy();
  const any = { sourceAddressPrefix: '*', destinationAddressPrefix: '*', sourcePortRange: '*', destinationPortRange: '*' };
  p.accessControlLists = [
    {
      name: 'stateful',
      aclRules: [
        { name: 'deny-in', protocol: 'All', ...any, action: 'Deny', type: 'Inbound', priority: 4000 },
        { name: 'all-out', protocol: 'All', ...any, action: 'Allow', type: 'Outbound', priority: 100 },
      ],
    },
  ];
  p.networkInterfaces.find((n) => n.name === 'contoso-sql')!.accessControlList = 'stateful';
  return p;
}

function fastPath(shared: boolean, ms: number): number {
  const p = policy();
  const snap = compileSnapshot(p, 'host1', 1);
  const sql = p.networkInterfaces.find((n) => n.name === 'contoso-sql')!;
  const web = p.networkInterfaces.find((n) => n.name === 'contoso-web')!;
  const frames = Array.from({ length: BATCH }, (_, k) =>
    buildIpv4Udp({ srcMac: sql.macAddress, dstMac: web.macAddress, srcIp: sql.ipAddress, dstIp: web.ipAddress, srcPort: 10000 + k, dstPort: 9, payload: new Uint8Array(64) }),
  );
  const fwd = new Forwarder({ ports: [], vxlan: new SinkUplink() }, snap, {
    batchSize: BATCH,
    maxBatchesPerPoll: 1,
    ctCapacity: CT_CAPACITY,
    ...(shared ? { ctShared: new SharedArrayBuffer(conntrackBytes(CT_CAPACITY)) } : {}),
  });
  const idx = snap.ports.find((x) => x.name === 'contoso-sql')!.index;
  fwd.setPort(idx, new ReplayPort('contoso-sql', frames));
  for (let i = 0; i < 3000; i++) fwd.pollPort(idx);
  if (fwd.ct.count !== BATCH) throw new Error(`expected ${BATCH} tracked connections, got ${fwd.ct.count}`);
  const g = fwd.counters.global;
  const h0 = g[C.UftHits];
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < ms) {
    for (let i = 0; i < 100; i++) fwd.pollPort(idx);
    t = performance.now();
  }
  const hits = g[C.UftHits] - h0;
  if (g[C.UplinkTxFrames] < hits) throw new Error('fast path benchmark: frames not sent');
  return (hits / (t - t0)) * 1000;
}

function main(): void {
  const rounds = Number(process.argv[2] ?? 3);
  const ms = Number(process.argv[3] ?? 1500);
  const plain: number[] = [];
  const shared: number[] = [];
  for (let r = 0; r < rounds; r++) {
    plain.push(fastPath(false, ms));
    shared.push(fastPath(true, ms));
  }
  const m = (xs: number[]) => (xs.map((x) => (x / 1e6).toFixed(2)).join(', '));
  const best = (xs: number[]) => Math.max(...xs);
  console.log(`fast path through conntrack, private arrays:      ${m(plain)} M frames/s`);
  console.log(`fast path through conntrack, SharedArrayBuffer:   ${m(shared)} M frames/s`);
  console.log(`best shared / best private: ${(best(shared) / best(plain)).toFixed(3)}`);
  console.log(JSON.stringify({ plain, shared, ratio: best(shared) / best(plain) }));
}

main();
