/**
 * The agent's forwarding workers (worker_threads, one per core by default). The agent keeps the
 * state every worker starts from - policy, generation, down PAs, and per worker its TAP queues and
 * uplink fds - and changes it only through this class, so a worker that dies (an exception, or
 * its thread exits) is started again from the current state: same fds, same policy, and its
 * counters (shared memory) carry on. Restarts are counted; the other workers keep forwarding.
 *
 * Connection state survives too: each worker's conntrack table lives on a SharedArrayBuffer made
 * here (one per worker, kept in its slot), which the worker writes as its own arrays; a restarted
 * worker adopts the connections found there (vfp/conntrack.ts), so established connections
 * through stateful ACLs go on. Its flow table starts empty and fills again from the policy.
 *
 * Plain worker_threads rather than a task pool (piscina): a worker here is not a task but an
 * endless loop that owns fds and uv_poll handles, must be addressed by id (its TAP queue and
 * socket are its own, and the kernel steers flows to it), and must come back with the same fds
 * when it dies. See the README, "Workers".
 */
import { Worker } from 'node:worker_threads';
import { Counters } from '../dataplane/counters.js';
import { conntrackBytes, DEFAULT_CT_CAPACITY } from '../vfp/conntrack.js';
import { allocQosShared, qosMetersFor, QOS_WORDS } from '../dataplane/qos.js';
import type { Snapshot } from '../vfp/snapshot.js';
import type { Logger } from './logger.js';
import type { CounterArrays, WorkerInit, WorkerMessage, WorkerPort, WorkerRequest, WorkerUplinks, DataplaneLimits } from './worker-protocol.js';

interface Slot {
  worker: Worker | undefined;
  counters: CounterArrays | undefined;
  /** The worker's conntrack table (made at its first start; handed to every restart). */
  ct: SharedArrayBuffer | undefined;
  restarts: number;
  startedAt: number;
  /** Calls waiting for this worker's reply; resolved with undefined if it dies first. */
  pending: Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>;
}

export interface WorkerState {
  host: string;
  snapshot: Snapshot;
  offload: boolean;
  limits: DataplaneLimits;
  testHooks: boolean;
  /** Per worker: its queue of each port, and its uplinks. */
  ports: WorkerPort[][];
  uplinks: WorkerUplinks[];
}

/** How a worker thread is started: the compiled worker.js, or worker.ts under tsx (tests, tsx runs). */
function spawnWorker(data: WorkerInit): Worker {
  const here = import.meta.url;
  if (here.endsWith('.ts')) {
    const file = new URL('./worker.ts', here).href;
    const boot = `import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(file)}); })`;
    return new Worker(boot, { eval: true, workerData: data });
  }
  return new Worker(new URL('./worker.js', here), { workerData: data });
}

export class WorkerPool {
  private readonly slots: Slot[];
  private seq = 0;
  private stopping = false;
  /** The QoS buckets all workers share (one per port and direction for the agent, not per worker). */
  private qos: Int32Array;

  private constructor(
    private state: WorkerState,
    private readonly log: Logger,
  ) {
    this.slots = state.ports.map(() => ({ worker: undefined, counters: undefined, ct: undefined, restarts: 0, startedAt: 0, pending: new Map() }));
    this.qos = allocQosShared(Math.max(qosMetersFor(state.snapshot) * 2, 256));
  }

  /** The bucket array, grown (doubled; its buckets copied) when `s` has more port ids. */
  private qosFor(s: Snapshot): Int32Array {
    const need = qosMetersFor(s);
    if (this.qos.length < need * QOS_WORDS) {
      const next = allocQosShared(need * 2);
      next.set(this.qos);
      this.qos = next;
    }
    return this.qos;
  }

  /** Starts n = state.ports.length workers and waits until each is forwarding. */
  static async start(state: WorkerState, log: Logger): Promise<WorkerPool> {
    const pool = new WorkerPool(state, log);
    try {
      await Promise.all(pool.slots.map((_, id) => pool.spawn(id)));
    } catch (err) {
      await pool.stop();
      throw err;
    }
    return pool;
  }

  get size(): number {
    return this.slots.length;
  }

  get restarts(): number {
    return this.slots.reduce((a, s) => a + s.restarts, 0);
  }

  restartsOf(id: number): number {
    return this.slots[id]!.restarts;
  }

  threadId(id: number): number | undefined {
    return this.slots[id]!.worker?.threadId;
  }

  /** Each worker's counters (live views of its shared arrays). */
  counters(): Counters[] {
    return this.slots.flatMap((s) => (s.counters ? [new Counters(1, s.counters)] : []));
  }

  private spawn(id: number): Promise<void> {
    const slot = this.slots[id]!;
    const s = this.state;
    if (s.limits.keepConntrack !== false) slot.ct ??= new SharedArrayBuffer(conntrackBytes(s.limits.ctCapacity ?? DEFAULT_CT_CAPACITY));
    const data: WorkerInit = {
      id,
      workers: this.slots.length,
      host: s.host,
      snapshot: s.snapshot,
      offload: s.offload,
      limits: s.limits,
      testHooks: s.testHooks,
      ports: s.ports[id]!,
      uplinks: s.uplinks[id]!,
      ...(slot.counters ? { counters: slot.counters } : {}),
      ...(slot.ct ? { ctState: slot.ct } : {}),
      qos: this.qosFor(s.snapshot),
    };
    const w = spawnWorker(data);
    slot.worker = w;
    slot.startedAt = Date.now();
    return new Promise<void>((resolve, reject) => {
      let ready = false;
      w.on('message', (m: WorkerMessage) => {
        if (m.type === 'acl-log') {
          // one JSON line per logged flow (the worker rate-limits them)
          this.log.info({ worker: id, acl: m.record }, 'acl flow');
          return;
        }
        if (m.type === 'ready' || m.type === 'counters') {
          slot.counters = m.counters;
          if (m.type === 'ready' && !ready) {
            ready = true;
            resolve();
          }
          return;
        }
        const p = slot.pending.get(m.seq);
        if (!p) return;
        slot.pending.delete(m.seq);
        if (m.ok) p.resolve(m.value);
        else p.reject(new Error(`worker ${id}: ${m.error}`));
      });
      w.on('error', (err) => this.log.error({ worker: id, err: err.message }, 'worker failed'));
      w.on('exit', (code) => {
        if (slot.worker !== w) return;
        slot.worker = undefined;
        for (const p of slot.pending.values()) p.resolve(undefined);
        slot.pending.clear();
        if (!ready) {
          reject(new Error(`worker ${id} exited (code ${code}) before it was ready`));
          // a first start that fails fails the agent's start; a restart that fails is tried again
          // (with the backoff below), or that worker's queues and socket would go unread for good
          if (slot.restarts === 0 || this.stopping) return;
        }
        if (this.stopping) return;
        slot.restarts++;
        // a worker that dies right after starting is not restarted in a tight loop
        const delay = Date.now() - slot.startedAt < 1000 ? Math.min(5000, 100 << Math.min(slot.restarts, 6)) : 0;
        this.log.warn({ worker: id, code, restarts: slot.restarts, delayMs: delay }, 'worker exited; restarting it');
        setTimeout(() => {
          if (this.stopping) return;
          this.spawn(id).then(
            () => this.log.info({ worker: id }, 'worker restarted'),
            (err: Error) => this.log.error({ worker: id, err: err.message }, 'worker restart failed'),
          );
        }, delay);
      });
    });
  }

  /** Test hook: ends worker `id`'s thread from outside, wherever it is (mid-batch included), as
   * a crash would; it is restarted like any worker that exits. */
  async terminate(id: number): Promise<void> {
    await this.slots[id]!.worker?.terminate();
  }

  /** Sends a request to worker `id`; undefined if the worker is not running or dies first. */
  call(id: number, req: WorkerRequest): Promise<unknown> {
    const slot = this.slots[id]!;
    const w = slot.worker;
    if (!w) return Promise.resolve(undefined);
    const seq = ++this.seq;
    return new Promise((resolve, reject) => {
      slot.pending.set(seq, { resolve, reject });
      w.postMessage({ ...req, seq });
    });
  }

  private all(req: (id: number) => WorkerRequest): Promise<unknown[]> {
    return Promise.all(this.slots.map((_, id) => this.call(id, req(id))));
  }

  /** A new snapshot and the port mapping that goes with it, on every worker in one step. */
  async apply(snapshot: Snapshot, ports: WorkerPort[][]): Promise<void> {
    this.state = { ...this.state, snapshot, ports };
    const qos = this.qosFor(snapshot);
    await this.all((id) => ({ op: 'apply', snapshot, ports: ports[id]!, qos }));
  }

  /** Every worker forwards on exactly these queues (e.g. before the removed ports close). */
  async setPorts(ports: WorkerPort[][]): Promise<void> {
    this.state = { ...this.state, ports };
    await this.all((id) => ({ op: 'ports', ports: ports[id]! }));
  }

  async setUplinks(uplinks: WorkerUplinks[]): Promise<void> {
    this.state = { ...this.state, uplinks };
    await this.all((id) => ({ op: 'uplinks', uplinks: uplinks[id]! }));
  }

  /** Stops every worker (their polls end with their threads); the fds stay for the agent to close. */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.slots.map((s) => s.worker?.terminate()));
  }
}
