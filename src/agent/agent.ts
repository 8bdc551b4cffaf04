/**
 * One agent per host. It holds the host's policy, compiles it into an immutable snapshot
 * (vfp/), creates a TAP port per network interface of this host (moved into its tenant namespace
 * and configured there), opens the uplinks on the host's provider addresses, runs N forwarding
 * workers (workers.ts, worker.ts: one per core by default), and serves the local control socket.
 *
 * The main thread opens every fd - one queue of each multi-queue TAP per worker, and per worker
 * a VXLAN receive socket in one SO_REUSEPORT group (plus its send sockets) or an NVGRE raw socket
 * - and hands them to the workers; BPF steering (io/steering.ts) sends both directions of a
 * flow to one worker. Workers compile their own snapshot from the policy the agent posts; the
 * agent compiles one too, to validate, to answer `ports` and to build trace frames. `ctl stats`
 * sums the workers' counters (shared memory); dump-flows and trace ask the workers.
 *
 * Order matters on the way down: stop the workers, close the TAPs (a non-persistent TAP
 * disappears with its last fd), delete the tenant namespaces the agent made, close the uplinks,
 * remove the control socket.
 */
import type net from 'node:net';
import fs from 'node:fs';
import os from 'node:os';
import type { Policy } from '../policy/types.js';
import { compileSnapshot, type PortInfo, type Snapshot } from '../vfp/snapshot.js';
import { Counters, countersToJson } from '../dataplane/counters.js';
import type { FlowDumpEntry } from '../dataplane/flows.js';
import { steerWorker } from '../io/steering.js';
import { canChecksumTx, disableGroForNvgre, findUnderlay, type UnderlayAddress } from './underlay.js';
import { createTenantPort, type TenantPort } from './ports.js';
import { closeUplinks, openWorkerUplinks, type UplinkSet } from './uplinks.js';
import { WorkerPool } from './workers.js';
import type { WorkerPort, WorkerUplinks } from './worker-protocol.js';
import { startControlServer } from './control-server.js';
import { buildTraceFrame } from './trace-frame.js';
import { PaLiveness, type LivenessPeers } from './liveness.js';
import type { ControlRequest } from './control-protocol.js';
import type { Logger } from './logger.js';

export interface AgentOptions {
  policy: Policy;
  host: string;
  controlSocket: string;
  log: Logger;
  /** TAP checksum/TSO offloads, UDP GSO send pool and UDP GRO (default true; `--no-offload`). */
  offload?: boolean;
  /** Forwarding worker threads (default: one per core). */
  workers?: number;
}

/** SWITCHYARD_TEST_HOOKS=1 enables control ops that exist for tests only (debug-crash-worker). */
const TEST_HOOKS = process.env.SWITCHYARD_TEST_HOOKS === '1';

export class Agent {
  /** Live ports by interface name; `index` follows the current snapshot. */
  private ports = new Map<string, TenantPort & { index: number }>();
  /** Per worker. */
  private uplinks: UplinkSet[] = [];
  private uplinkKey = '';
  private control: net.Server | undefined;
  private pool: WorkerPool | undefined;
  private snapshot: Snapshot | undefined;
  private readonly nWorkers: number;
  private underlay: UnderlayAddress[] = [];
  private underlayMtu = 1500;
  private stopped = false;
  /** Offloads the kernel refused (detected at start, logged; reported by `ctl stats`). */
  private readonly offloadStats = { fallbacks: 0 };
  /** Policy changes are applied one at a time, in order. */
  private applying: Promise<void> = Promise.resolve();
  /** The policy in force, and the PAs that liveness found down (both feed every compile). */
  private policy: Policy;
  private downPas: ReadonlySet<number> = new Set();
  private liveness: PaLiveness | undefined;

  private constructor(private readonly opts: AgentOptions) {
    this.policy = opts.policy;
    this.nWorkers = Math.max(1, Math.floor(opts.workers ?? os.availableParallelism()));
  }

  /** Builds everything; on any failure undoes what was made and rethrows. */
  static async start(opts: AgentOptions): Promise<Agent> {
    const a = new Agent(opts);
    try {
      await a.bringUp();
    } catch (err) {
      await a.stop();
      throw err;
    }
    return a;
  }

  private get offload(): boolean {
    return this.opts.offload !== false;
  }

  get generation(): number {
    return this.snapshot?.generation ?? 0;
  }

  private async bringUp(): Promise<void> {
    const { policy, host, log } = this.opts;
    const snapshot = compileSnapshot(policy, host, 1, { downPas: this.downPas });
    await this.openUnderlay(policy, snapshot);
    this.snapshot = snapshot;
    log.info({ host, pas: snapshot.localPasText, underlayMtu: this.underlayMtu, ports: snapshot.ports.length, workers: this.nWorkers }, 'agent starting');
    for (const p of snapshot.ports) await this.addPort(p);
    this.pool = await WorkerPool.start(
      {
        host,
        policy,
        generation: snapshot.generation,
        downPas: [...this.downPas],
        offload: this.offload,
        testHooks: TEST_HOOKS,
        ports: this.workerPorts(),
        uplinks: this.workerUplinks(),
      },
      log,
    );
    this.liveness = new PaLiveness({
      host,
      log,
      onChange: (down) => {
        this.downPas = down;
        void this.applyPolicy(this.policy).catch((err: Error) => log.error({ err: err.message }, 'recompile after liveness change failed'));
      },
    });
    await this.liveness.start(this.livenessPeers(policy));
    this.control = await startControlServer(this.opts.controlSocket, (req) => this.handle(req));
    log.info({ control: this.opts.controlSocket, generation: snapshot.generation }, 'agent forwarding');
  }

  /** Finds the underlay for this host's PAs and opens the uplinks the policy needs (again only when either changed). */
  private async openUnderlay(policy: Policy, snapshot: Snapshot): Promise<void> {
    const kinds = new Set<'vxlan' | 'nvgre'>();
    // a host receives whichever encapsulation its ports' subnets use
    for (const p of snapshot.ports) kinds.add(p.encapsulation);
    if (!kinds.size) for (const s of policy.virtualNetworks.flatMap((v) => v.subnets)) kinds.add(s.encapsulation);
    const key = `${[...kinds].sort().join(',')}|${snapshot.localPasText.join(',')}`;
    if (key === this.uplinkKey) return;
    this.underlay = await findUnderlay([...snapshot.localPasText]);
    if (kinds.has('nvgre')) await disableGroForNvgre(this.underlay.map((u) => u.dev), this.opts.log);
    this.underlayMtu = Math.min(...this.underlay.map((u) => u.mtu));
    let uplinkOffload = this.offload;
    if (uplinkOffload && kinds.has('vxlan')) {
      const tx = await canChecksumTx(this.underlay.map((u) => u.dev));
      if (!tx.ok) {
        uplinkOffload = false;
        this.offloadStats.fallbacks++;
        this.opts.log.warn({ devs: tx.without }, 'underlay NIC cannot checksum on transmit: VXLAN without UDP GSO/GRO (plain datagrams)');
      }
    }
    const next = await openWorkerUplinks([...kinds], [...snapshot.localPasText], this.opts.log, { offload: uplinkOffload, stats: this.offloadStats }, this.nWorkers);
    const old = this.uplinks;
    this.uplinks = next;
    this.uplinkKey = key;
    // the workers stop polling the old sockets before they close
    await this.pool?.setUplinks(this.workerUplinks());
    for (const u of old) closeUplinks(u);
  }

  private workerUplinks(): WorkerUplinks[] {
    return this.uplinks.map((u) => ({ ...(u.vxlan ? { vxlan: u.vxlan.fds() } : {}), ...(u.nvgre ? { nvgre: u.nvgre.fds() } : {}) }));
  }

  /** Per worker: its queue of every live port, at the port's current index. */
  private workerPorts(): WorkerPort[][] {
    return Array.from({ length: this.nWorkers }, (_, w) =>
      [...this.ports.values()].map((p) => ({ index: p.index, ifname: p.info.ifname, fd: p.queues[w]!.fd, tap: p.tap })),
    );
  }

  private livenessPeers(policy: Policy): LivenessPeers {
    return {
      local: this.underlay.map((u) => ({ address: u.address, dev: u.dev })),
      remote: policy.hosts.filter((h) => h.name !== this.opts.host).map((h) => ({ host: h.name, pas: h.providerAddresses })),
    };
  }

  /** Creates the port's TAP with one queue per worker (the workers learn of it with the next mapping). */
  private async addPort(p: PortInfo): Promise<void> {
    const mode = { offload: this.offload, multiQueue: this.nWorkers > 1, queues: this.nWorkers };
    const port = Object.assign(await createTenantPort(p, this.underlayMtu, this.opts.log, mode, this.offloadStats), { index: p.index });
    this.ports.set(p.name, port);
  }

  /**
   * Applies a new policy without breaking flows of ports that did not change: the new snapshot
   * is compiled first (a policy this host cannot use is refused and the old one kept); ports that
   * went away (or whose device settings changed) are detached from the workers and removed; new
   * ports are created; then every worker compiles the policy and switches to it and to the new
   * port mapping in one step, between batches. Unchanged ports forward throughout.
   */
  applyPolicy(policy: Policy): Promise<void> {
    const next = this.applying.then(() => this.apply(policy));
    this.applying = next.catch(() => undefined);
    return next;
  }

  private async apply(policy: Policy): Promise<void> {
    if (this.stopped || !this.pool || !this.snapshot) return;
    const { log } = this.opts;
    const old = this.snapshot;
    const snap = compileSnapshot(policy, this.opts.host, old.generation + 1, { downPas: this.downPas });
    await this.openUnderlay(policy, snap);
    this.policy = policy;
    await this.liveness?.setPeers(this.livenessPeers(policy));
    const same = (a: PortInfo, b: PortInfo) =>
      a.ifname === b.ifname && a.netns === b.netns && a.mac === b.mac && a.ip === b.ip && a.prefixLen === b.prefixLen &&
      a.gateway === b.gateway && a.encapsulation === b.encapsulation;
    const gone: (TenantPort & { index: number })[] = [];
    for (const [name, port] of this.ports) {
      const np = snap.ports.find((p) => p.name === name);
      if (!np || !same(np, port.info)) {
        gone.push(port);
        this.ports.delete(name);
      }
    }
    // detach removed ports from the workers before their TAPs close
    if (gone.length) await this.pool.setPorts(this.workerPorts());
    for (const p of gone) await p.remove().catch((err: Error) => log.warn({ port: p.info.name, err: err.message }, 'port cleanup failed'));
    for (const p of snap.ports) {
      const live = this.ports.get(p.name);
      if (live) {
        live.index = p.index;
        live.info = p;
      } else {
        await this.addPort(p);
      }
    }
    this.snapshot = snap;
    await this.pool.apply(policy, snap.generation, [...this.downPas], this.workerPorts());
    log.info({ generation: snap.generation, ports: snap.ports.length, removed: gone.map((p) => p.info.name) }, 'policy applied');
  }

  private async handle(req: ControlRequest): Promise<unknown> {
    const pool = this.pool;
    const snap = this.snapshot;
    if (!pool || !snap) throw new Error('agent is not running');
    switch (req.op) {
      case 'ping':
        return 'pong';
      case 'stats': {
        const per = pool.counters();
        const sum = countersToJson(Counters.sum(per), snap);
        sum.counters['worker-restarts'] = pool.restarts;
        return {
          host: this.opts.host,
          generation: snap.generation,
          offload: this.offload,
          offloadFallbacks: this.offloadStats.fallbacks,
          ...sum,
          workers: per.map((c, id) => ({ worker: id, restarts: pool.restartsOf(id), ...countersToJson(c, snap).counters })),
        };
      }
      case 'ports':
        return snap.ports.map((p) => ({ name: p.name, ifname: p.ifname, netns: p.netns, mac: p.macText, ip: p.ipText, vsid: p.vsid }));
      case 'dump-flows': {
        // each worker has its own flow table: the union, tagged with the worker
        const parts = await Promise.all(Array.from({ length: pool.size }, (_, id) => pool.call(id, req.port ? { op: 'dump-flows', port: req.port } : { op: 'dump-flows' })));
        return parts.flatMap((entries, id) => ((entries as FlowDumpEntry[] | undefined) ?? []).map((e) => ({ worker: id, ...e })));
      }
      case 'trace': {
        const port = snap.ports.find((p) => p.name === req.port);
        if (!port) throw new Error(`trace: no port "${req.port}" on host ${this.opts.host} (ports: ${snap.ports.map((p) => p.name).join(', ')})`);
        if (typeof req.spec !== 'object' || req.spec === null) throw new Error('trace: spec missing');
        const dir = req.direction === 'in' ? 'in' : 'out';
        const frame = buildTraceFrame(req.spec, snap, port, dir);
        // asked of the worker the flow is steered to: its flow table and conntrack hold the flow
        const id = steerWorker(frame, 0, frame.length, pool.size);
        const r = await pool.call(id, { op: 'trace', port: req.port, frame, direction: dir });
        if (r === undefined) throw new Error(`trace: worker ${id} is restarting; try again`);
        return { worker: id, ...(r as object) };
      }
      case 'debug-crash-worker': {
        if (!TEST_HOOKS) throw new Error('debug-crash-worker needs SWITCHYARD_TEST_HOOKS=1');
        const id = req.worker ?? 0;
        if (!(id >= 0 && id < pool.size)) throw new Error(`debug-crash-worker: no worker ${id} (0..${pool.size - 1})`);
        await pool.call(id, { op: 'crash' });
        return { worker: id, threadId: pool.threadId(id) };
      }
      default:
        throw new Error(`unknown op "${(req as { op: string }).op}"`);
    }
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const { log } = this.opts;
    this.liveness?.stop();
    await this.applying;
    // the workers go first: nothing polls an fd once it is closed
    await this.pool?.stop();
    for (const p of this.ports.values()) {
      try {
        await p.remove();
      } catch (err) {
        log.warn({ port: p.info.name, err: (err as Error).message }, 'port cleanup failed');
      }
    }
    this.ports.clear();
    for (const u of this.uplinks) closeUplinks(u);
    this.uplinks = [];
    if (this.control) await new Promise<void>((r) => this.control!.close(() => r()));
    try {
      fs.unlinkSync(this.opts.controlSocket);
    } catch {
      /* gone */
    }
    log.info('agent stopped');
  }
}
