/**
 * The in-memory fast-path benchmark of issue 5: frames from and to memory (no devices), each
 * forwarding worker a worker_thread with its own Forwarder, flow table and slabs (as the agent's
 * workers: nothing shared, no locks), fed the same kind of traffic (64 UDP flows from a port,
 * VXLAN-encapsulated to the remote host: UFT hits). Measures frames/s with 1 worker, then with
 * 2 (or N) at once; the goal is N=2 >= 1.8x one. Each worker counts its frames in a shared
 * Float64Array (as the agent's per-worker counters), read by the main thread without locks.
 *
 * Run: npx tsx bench/fastpath-workers.ts [maxWorkers=2] [ms=3000]
 */
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { fileURLToPath, pathToFileURL } from 'node:url';
import os from 'node:os';
import { ReplayPort, SinkUplink } from './fakes.js';
import { compileSnapshot } from '../src/vfp/snapshot.js';
import { Forwarder } from '../src/dataplane/forwarder.js';
import { C } from '../src/dataplane/counters.js';
import { figure8Policy } from '../src/policy/figure8.js';
import { buildIpv4Udp } from '../src/wire/build/frames.js';

const BATCH = 64;

function runWorker(): void {
  const { ms, shared, slot } = workerData as { ms: number; shared: SharedArrayBuffer; slot: number };
  const out = new Float64Array(shared);
  const policy = figure8Policy();
  const snap = compileSnapshot(policy, 'host1', 1);
  const sql = policy.networkInterfaces.find((n) => n.name === 'contoso-sql')!;
  const web = policy.networkInterfaces.find((n) => n.name === 'contoso-web')!;
  const frames = Array.from({ length: BATCH }, (_, k) =>
    buildIpv4Udp({ srcMac: sql.macAddress, dstMac: web.macAddress, srcIp: sql.ipAddress, dstIp: web.ipAddress, srcPort: 10000 + k, dstPort: 9, payload: new Uint8Array(64) }),
  );
  const fwd = new Forwarder({ ports: [], vxlan: new SinkUplink() }, snap, { batchSize: BATCH, maxBatchesPerPoll: 1 });
  const idx = snap.ports.find((p) => p.name === 'contoso-sql')!.index;
  fwd.setPort(idx, new ReplayPort('contoso-sql', frames));
  for (let i = 0; i < 3000; i++) fwd.pollPort(idx);
  parentPort!.postMessage('ready');
  parentPort!.once('message', () => {
    const g = fwd.counters.global;
    const f0 = g[C.UplinkTxFrames];
    const t0 = performance.now();
    let t = t0;
    while (t - t0 < ms) {
      for (let i = 0; i < 50; i++) fwd.pollPort(idx);
      out[slot] = g[C.UplinkTxFrames] - f0;
      t = performance.now();
    }
    out[slot] = g[C.UplinkTxFrames] - f0;
    parentPort!.postMessage((t - t0) / 1000);
  });
}

async function measure(n: number, ms: number): Promise<number> {
  const shared = new SharedArrayBuffer(8 * n);
  const counts = new Float64Array(shared);
  const file = fileURLToPath(import.meta.url);
  // a .ts worker under tsx: register its loader in the worker, then import this file
  const boot = `import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(pathToFileURL(file).href)}); })`;
  const ws = Array.from({ length: n }, (_, slot) => new Worker(boot, { eval: true, workerData: { ms, shared, slot } }));
  await Promise.all(ws.map((w) => new Promise((r) => w.once('message', r))));
  const done = ws.map((w) => new Promise<number>((r) => w.once('message', r)));
  for (const w of ws) w.postMessage('go');
  const secs = await Promise.all(done);
  await Promise.all(ws.map((w) => w.terminate()));
  let fps = 0;
  for (let i = 0; i < n; i++) fps += counts[i] / secs[i];
  return fps;
}

export async function fastPathWorkers(maxWorkers: number, ms: number, runs = 3): Promise<{ workers: number; fps: number[] }[]> {
  const res: { workers: number; fps: number[] }[] = [];
  for (let n = 1; n <= maxWorkers; n++) res.push({ workers: n, fps: [] });
  for (let r = 0; r < runs; r++) for (const x of res) x.fps.push(await measure(x.workers, ms));
  return res;
}

if (isMainThread && process.argv[1] === fileURLToPath(import.meta.url)) {
  const max = Number(process.argv[2] ?? Math.min(2, os.cpus().length));
  const ms = Number(process.argv[3] ?? 3000);
  const res = await fastPathWorkers(max, ms);
  if (process.argv.includes('--json')) {
    console.log(JSON.stringify(res));
    process.exit(0);
  }
  const best = (x: { fps: number[] }) => Math.max(...x.fps);
  for (const x of res) {
    console.log(`${x.workers} worker(s): ${x.fps.map((f) => (f / 1e6).toFixed(2)).join(' / ')} Mframes/s  (best ${(best(x) / 1e6).toFixed(2)}, x${(best(x) / best(res[0])).toFixed(2)})`);
  }
} else if (!isMainThread) {
  runWorker();
}
