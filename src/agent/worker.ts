/**
 * A forwarding worker (worker_threads): one Forwarder over one queue of every tenant TAP and its
 * own uplink sockets, all opened by the agent on the main thread and handed over as fds. The
 * kernel steers both directions of a flow to the same worker (io/steering.ts), so the flow table
 * and connection tracking here need no locks. Readiness comes from uv_poll on this thread's loop;
 * control messages (policy, port mapping, uplinks, dump-flows, trace) run between batches on the
 * same loop. The worker never closes an fd: the agent owns them, and a restarted worker gets the
 * same ones (and its counters, on shared memory, to continue on).
 */
// the module's binding: the global `performance` is a lazy getter in Node 20, a JS call per use
// (twice per wake-up here)
import { performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import { TapQueue } from '../io/tap.js';
import { threadTapRing, UringStat, type TapRing } from '../io/uring.js';
import { VhostQueue } from '../io/vhost.js';
import { uplinkFromFds, type UplinkFds } from '../io/uplink.js';
import type { FramePort } from '../io/types.js';
import { reviveSnapshot } from '../vfp/snapshot-transfer.js';
import { Forwarder, TSO_SLOT } from '../dataplane/forwarder.js';
import { C } from '../dataplane/counters.js';
import { BUSY_POLL_DEFAULT_US, BUSY_POLL_MAX_US, BusyPoller } from './busy-poll.js';
import type { WorkerInit, WorkerMessage, WorkerPort, WorkerRequest, WorkerUplinks } from './worker-protocol.js';

const init = workerData as WorkerInit;
const port = parentPort!;
const post = (m: WorkerMessage) => port.postMessage(m);

const fwd = new Forwarder(
  { ports: [] },
  reviveSnapshot(init.snapshot),
  {
    // big read slots in any case: the uplink may use UDP GRO even when the ports take no
    // offloads (`--no-offload` is about the tenant's side; the underlay keeps GSO/GRO)
    bigSlotSize: TSO_SLOT,
    portsTakeGso: init.offload,
    ...(init.counters ? { counters: init.counters } : {}),
    qosShared: init.qos,
    ...(init.limits.ctCapacity !== undefined ? { ctCapacity: init.limits.ctCapacity } : {}),
    ...(init.limits.ctPerPort !== undefined ? { ctPerPort: init.limits.ctPerPort } : {}),
    ...(init.limits.newFlowsPerSecond !== undefined ? { newFlowsPerSecond: init.limits.newFlowsPerSecond } : {}),
    ...(init.ctState ? { ctShared: init.ctState } : {}),
  },
);
let reportedPort = fwd.counters.port;

/** This worker's io_uring for its TAP queues (`--tap-io uring`); undefined: read()/write(). The
 * agent checked that io_uring works before it chose the mode; should this thread be refused all
 * the same, it counts a fallback and uses read()/write(). */
const ring: TapRing | undefined = (() => {
  if (init.limits.tapIo !== 'uring') return undefined;
  const r = threadTapRing();
  if (r instanceof Error) {
    fwd.counters.global[C.TapUringFallbacks]++;
    return undefined;
  }
  return r;
})();

/** Moves the ring's own counts into the worker's counters (a few adds per wake-up). */
function syncRingCounters(g: Float64Array): void {
  if (!ring) return;
  const s = ring.stats;
  g[C.TapUringEnters] += s[UringStat.Enters];
  g[C.TapUringRxFrames] += s[UringStat.RxFrames];
  g[C.TapUringTxFrames] += s[UringStat.TxFrames];
  g[C.TapUringFallbacks] += s[UringStat.Fallbacks];
  s.fill(0);
}
fwd.engine.aclLog.sink = (record) => post({ type: 'acl-log', record });

/** Every live queue and uplink read once (the busy poller's round). */
function pollAll(): number {
  let got = 0;
  for (const e of queues.values()) got += fwd.pollPort(e.index);
  if (uplinks.vxlan) got += fwd.pollUplink('vxlan');
  if (uplinks.nvgre) got += fwd.pollUplink('nvgre');
  return got;
}
const busy = new BusyPoller(init.limits.busyPollUs ?? BUSY_POLL_DEFAULT_US, BUSY_POLL_MAX_US, pollAll, fwd.counters.global);

/** Accounts one wake-up that read `got` frames since `t0` (C.Wakeups..WakeupUs), then lets the
 * busy poller spin on if it is on. Two clock reads per wake-up, none per frame. */
function woke(t0: number, got: number): void {
  const g = fwd.counters.global;
  g[C.Wakeups]++;
  g[C.WakeupFrames] += got;
  g[C.WakeupUs] += Math.round((performance.now() - t0) * 1000);
  syncRingCounters(g);
  busy.after(got);
}

/** Live queues by key (the TAP fd, or the vhost-user device and lane); `index` follows the
 * snapshot (the poll callback reads it). */
const queues = new Map<string, { q: FramePort; index: number }>();
let highIndex = 0;

const keyOf = (p: WorkerPort): string => (p.vhost ? `v${p.vhost.device}.${p.vhost.lane}` : `t${p.fd}`);
const queueOf = (p: WorkerPort): FramePort =>
  p.vhost ? VhostQueue.forLane(p.vhost.device, p.vhost.lane, p.ifname, p.vhost.offload) : TapQueue.fromFd(p.fd, p.ifname, p.tap, ring);

function setPorts(list: WorkerPort[]): void {
  const keep = new Set(list.map(keyOf));
  for (const [fd, e] of queues) {
    if (!keep.has(fd)) {
      e.q.close(); // borrowed: stops polling, the agent closes the fd (or the device)
      queues.delete(fd);
    }
  }
  for (let i = 0; i < highIndex; i++) fwd.setPort(i, undefined);
  highIndex = 0;
  for (const p of list) {
    let e = queues.get(keyOf(p));
    if (!e) {
      const entry = { q: queueOf(p), index: p.index };
      entry.q.onReadable(() => {
        const t0 = performance.now();
        woke(t0, fwd.pollPort(entry.index));
      });
      queues.set(keyOf(p), entry);
      e = entry;
    }
    e.index = p.index;
    fwd.setPort(p.index, e.q);
    highIndex = Math.max(highIndex, p.index + 1);
  }
}

let uplinks: { vxlan?: BorrowedUplink; nvgre?: BorrowedUplink } = {};
type BorrowedUplink = ReturnType<typeof uplinkFromFds>;

/** The agent kept these sockets (a change of the other encapsulation): keep their poll handle too,
 * as libuv takes one poll handle per fd, and a frame waiting on them is not left behind. */
function sameSockets(u: BorrowedUplink | undefined, d: UplinkFds): u is BorrowedUplink {
  if (!u) return false;
  return d.kind === 'vxlan' ? u.rxFd === d.rxFd && u.txFd === d.txFd : u.rxFd === d.fd;
}

function setUplinks(d: WorkerUplinks): void {
  const old = uplinks;
  const next: { vxlan?: BorrowedUplink; nvgre?: BorrowedUplink } = {};
  if (d.vxlan) next.vxlan = sameSockets(old.vxlan, d.vxlan) ? old.vxlan : uplinkFromFds(d.vxlan);
  if (d.nvgre) next.nvgre = sameSockets(old.nvgre, d.nvgre) ? old.nvgre : uplinkFromFds(d.nvgre);
  uplinks = next;
  fwd.setUplinks(next);
  if (next.vxlan && next.vxlan !== old.vxlan)
    next.vxlan.onReadable(() => {
      const t0 = performance.now();
      woke(t0, fwd.pollUplink('vxlan'));
    });
  if (next.nvgre && next.nvgre !== old.nvgre)
    next.nvgre.onReadable(() => {
      const t0 = performance.now();
      woke(t0, fwd.pollUplink('nvgre'));
    });
  if (old.vxlan !== next.vxlan) old.vxlan?.close();
  if (old.nvgre !== next.nvgre) old.nvgre?.close();
}

function reportCounters(): void {
  if (fwd.counters.port === reportedPort) return;
  reportedPort = fwd.counters.port;
  post({ type: 'counters', counters: { global: fwd.counters.global, port: fwd.counters.port } });
}

function handle(req: WorkerRequest): unknown {
  switch (req.op) {
    case 'apply':
      // the snapshot and the ports it names switch together: a new port is reachable only with
      // the snapshot that has it (port ids are stable, so no id ever meant another port)
      // the buckets first: the new snapshot may have port ids only the grown array holds
      fwd.setQosShared(req.qos);
      fwd.setSnapshot(reviveSnapshot(req.snapshot));
      setPorts(req.ports);
      reportCounters();
      return fwd.snapshot.generation;
    case 'ports':
      setPorts(req.ports);
      return undefined;
    case 'uplinks':
      setUplinks(req.uplinks);
      return undefined;
    case 'dump-flows':
      return fwd.dumpFlows(req.port !== undefined ? { port: req.port } : undefined);
    case 'trace':
      return fwd.trace(req.port, req.frame, req.direction, req.fromHost);
    case 'crash':
      if (!init.testHooks) throw new Error('test hooks are off');
      setImmediate(() => {
        throw new Error(`worker ${init.id}: crash requested (test hook)`);
      });
      return undefined;
  }
}

port.on('message', (m: WorkerRequest & { seq: number }) => {
  try {
    post({ type: 'reply', seq: m.seq, ok: true, value: handle(m) });
  } catch (err) {
    post({ type: 'reply', seq: m.seq, ok: false, error: (err as Error).message });
  }
});

setPorts(init.ports);
setUplinks(init.uplinks);
post({ type: 'ready', counters: { global: fwd.counters.global, port: fwd.counters.port } });
