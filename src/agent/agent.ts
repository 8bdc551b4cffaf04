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
 * The agent touches only what it made (ports.ts, ownership.ts): a port whose TAP name or
 * namespace belongs to someone else fails alone (logged, listed by `ports` with its error, tried
 * again with each policy) while the other ports forward.
 *
 * Order matters on the way down: stop the workers, close the TAPs (a non-persistent TAP
 * disappears with its last fd), delete the tenant namespaces the agent made, close the uplinks,
 * remove the control socket and the ownership record.
 */
import { unknownNameMessage } from '../policy/suggest.js';
import fs from 'node:fs';
import os from 'node:os';
import type { NetnsMode, Policy } from '../policy/types.js';
import { IdRegistry } from '../vfp/ids.js';
import { compileSnapshot, type PortInfo, type Snapshot } from '../vfp/snapshot.js';
import { Counters, countersToJson } from '../dataplane/counters.js';
import type { FlowDumpEntry } from '../dataplane/flows.js';
import { steerWorker } from '../io/steering.js';
import { canChecksumTx, disableGroForNvgre, findUnderlay, type UnderlayAddress } from './underlay.js';
import { createTenantPort, PortConflictError, type TenantPort } from './ports.js';
import { createVhostPort } from './vhost-port.js';
import { defaultStateDir, Ownership } from './ownership.js';
import { closeUplinks, openWorkerUplinks, type UplinkSet } from './uplinks.js';
import { WorkerPool } from './workers.js';
import { resolveTapIo } from './tap-io.js';
import type { WorkerPort, WorkerUplinks, DataplaneLimits } from './worker-protocol.js';
import { startControlServer, type ControlServer } from './control-server.js';
import { buildTraceFrame } from './trace-frame.js';
import { PaLiveness, type LivenessPeers } from './liveness.js';
import type { ControlRequest } from './control-protocol.js';
import type { Logger } from './logger.js';
import { HostNat, natTableName } from './nat.js';
import { checkHostDevices, checkStaticMappings, configureHostVnic, natPlans, openNicPort } from './vswitch.js';
import { SW_HOST, SW_NIC, hostPortName } from '../vfp/switch-compile.js';
import { configureGatewayVnic, gatewayNatPlans, gatewayPrefixes } from './hnv-gateway.js';
import type { NatPlan } from './nat.js';

export interface AgentOptions {
  policy: Policy;
  host: string;
  controlSocket: string;
  log: Logger;
  /** The tenant side: TAP virtio-net header with checksum/TSO offloads (default true; `--no-offload`,
   * as a VM NIC without offloads). */
  offload?: boolean;
  /** The underlay side: UDP GSO send pool and UDP GRO for VXLAN (default true;
   * `--no-underlay-offload`; off by itself when the underlay NIC cannot checksum). */
  underlayOffload?: boolean;
  /** Forwarding worker threads (default: one per core). */
  workers?: number;
  /** Connection-tracking size and per-port quotas (`--ct-capacity`, `--ct-per-port`, `--new-flows-per-second`). */
  limits?: DataplaneLimits;
  /** Where the record of what this agent made is kept (default /run/switchyard/<host>). */
  stateDir?: string;
  /** A group that may use the control socket too (0660); default: root only (0600). */
  controlGroup?: number;
}

/** SWITCHYARD_TEST_HOOKS=1 enables control ops that exist for tests only (debug-crash-worker). */
const TEST_HOOKS = process.env.SWITCHYARD_TEST_HOOKS === '1';

/** One worker's uplinks of the given kinds only. */
function pickUplinks(u: UplinkSet, kinds: ReadonlySet<'vxlan' | 'nvgre'>): UplinkSet {
  return { ...(u.vxlan && kinds.has('vxlan') ? { vxlan: u.vxlan } : {}), ...(u.nvgre && kinds.has('nvgre') ? { nvgre: u.nvgre } : {}) };
}

/** Per worker: the kept sockets of one kind beside the new ones of the other. */
function mergeUplinks(a: UplinkSet[], b: UplinkSet[]): UplinkSet[] {
  return Array.from({ length: Math.max(a.length, b.length) }, (_, w) => ({ ...a[w], ...b[w] }));
}

/** Ports made at the same time by a starting agent (each line a few `ip` processes at a time). */
const PORT_LINES = 8;

export class Agent {
  /** Live ports by interface name; `index` follows the current snapshot. */
  private ports = new Map<string, TenantPort & { index: number }>();
  /** Per worker. */
  private uplinks: UplinkSet[] = [];
  private uplinkKey = '';
  /** What the open uplinks were opened for (to reopen them if a change fails). */
  private uplinkSpec: { kinds: ('vxlan' | 'nvgre')[]; pas: string[]; offload: boolean } | undefined;
  private control: ControlServer | undefined;
  private pool: WorkerPool | undefined;
  private snapshot: Snapshot | undefined;
  private readonly nWorkers: number;
  private underlay: UnderlayAddress[] = [];
  private underlayMtu = 1500;
  private stopped = false;
  /** Offloads the kernel refused (detected at start, logged; reported by `ctl stats`). */
  private readonly offloadStats = { fallbacks: 0 };
  private readonly nicFanoutStats = { fallbacks: 0 };
  /** Policy changes are applied one at a time, in order. */
  private applying: Promise<void> = Promise.resolve();
  /** The policy in force, and the PAs that liveness found down (both feed every compile). */
  private policy: Policy;
  private downPas: ReadonlySet<number> = new Set();
  /** Stable port and virtual-network ids for the agent's lifetime (every compile uses them). */
  private readonly ids = new IdRegistry();
  private liveness: PaLiveness | undefined;
  private owned: Ownership | undefined;
  /** Ports of the policy that could not be made because something of theirs is not ours: the error. */
  private blocked = new Map<string, string>();
  /** NAT networking of the Internal switches (nat.ts): this agent's own nftables table. */
  private readonly nat: HostNat;

  private constructor(private readonly opts: AgentOptions) {
    this.policy = opts.policy;
    this.nat = new HostNat(natTableName(opts.host));
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
    let snapshot = compileSnapshot(policy, host, 1, { downPas: this.downPas, ids: this.ids });
    checkHostDevices(policy, snapshot);
    checkStaticMappings(policy, snapshot, undefined);
    await this.openUnderlay(policy, snapshot);
    // the ports' MTU (DHCP option 26, the PMTU check) follows the underlay found just now
    if (this.underlayMtu !== 1500) snapshot = compileSnapshot(policy, host, 1, { downPas: this.downPas, ids: this.ids, underlayMtu: this.underlayMtu });
    // after the checks that refuse a misconfigured agent (and a second one: UDP 4789), before
    // the first port: leftovers of a crashed agent of this host go first
    this.owned = await Ownership.open(this.opts.stateDir ?? defaultStateDir(host), log);
    this.snapshot = snapshot;
    const limits: DataplaneLimits = { ...this.opts.limits, tapIo: resolveTapIo(this.opts.limits?.tapIo, log) };
    log.info({ host, pas: snapshot.localPasText, underlayMtu: this.underlayMtu, ports: snapshot.ports.length, workers: this.nWorkers, tapIo: limits.tapIo }, 'agent starting');
    // the workers boot (a thread, its modules, its compile) while the ports are made (mostly
    // waiting for `ip`); they start with no ports and get them in one step once all are made
    const state = { host, snapshot, offload: this.offload, limits, testHooks: TEST_HOOKS, uplinks: this.workerUplinks() };
    const [pool, ports] = await Promise.allSettled([
      WorkerPool.start({ ...state, ports: Array.from({ length: this.nWorkers }, () => []) }, log),
      this.addPortsConcurrently(snapshot.ports, policy),
    ]);
    if (pool.status === 'fulfilled') this.pool = pool.value;
    if (pool.status === 'rejected') throw pool.reason;
    if (ports.status === 'rejected') throw ports.reason;
    // the NAT (after the host vNICs exist; it replaces a table a crashed agent of this host left)
    // is made while the workers take their ports
    await Promise.all([this.pool!.setPorts(this.workerPorts()), this.nat.apply(hostNatPlans(policy, snapshot))]);
    this.liveness = new PaLiveness({
      host,
      log,
      onChange: (down) => {
        this.downPas = down;
        void this.recompile().catch((err: Error) => log.error({ err: err.message }, 'recompile after liveness change failed'));
      },
    });
    await this.liveness.start(this.livenessPeers(policy));
    const group = this.opts.controlGroup;
    this.control = await startControlServer(this.opts.controlSocket, (req) => this.handle(req), group === undefined ? {} : { group });
    // how long a start took, from the process's own clock (a restart's forwarding gap): wall time
    // since the process started, and CPU time of all its threads (not the `ip` commands it ran)
    const cpu = process.cpuUsage();
    log.info({ control: this.opts.controlSocket, generation: snapshot.generation, sinceStartMs: Math.round(performance.now()), cpuMs: Math.round((cpu.user + cpu.system) / 1000) }, 'agent forwarding');
  }

  /**
   * Finds the underlay for this host's PAs and opens the uplinks the policy needs (again only when
   * either changed). The old sockets hold UDP 4789, so on a change the workers let go of them and
   * they close before the new ones open; if the new ones cannot open, the old set is reopened.
   */
  private async openUnderlay(policy: Policy, snapshot: Snapshot): Promise<void> {
    const kinds = new Set<'vxlan' | 'nvgre'>();
    // a host receives whichever encapsulation its ports' subnets use
    for (const p of snapshot.ports) {
      // a gateway port takes frames of every subnet of its virtual network
      if (p.gatewayOf >= 0) for (const si of snapshot.subnetsByRdid[p.gatewayOf]) kinds.add(snapshot.subnets[si].encapsulation);
      else kinds.add(p.encapsulation);
    }
    if (!kinds.size) for (const s of policy.virtualNetworks.flatMap((v) => v.subnets)) kinds.add(s.encapsulation);
    const pas = [...snapshot.localPasText];
    const key = `${[...kinds].sort().join(',')}|${pas.join(',')}`;
    if (key === this.uplinkKey) return;
    const underlay = await findUnderlay(pas);
    if (kinds.has('nvgre')) await disableGroForNvgre(underlay.map((u) => u.dev), this.opts.log);
    let uplinkOffload = this.opts.underlayOffload !== false;
    if (uplinkOffload && kinds.has('vxlan')) {
      const tx = await canChecksumTx(underlay.map((u) => u.dev));
      if (!tx.ok) {
        uplinkOffload = false;
        this.offloadStats.fallbacks++;
        this.opts.log.warn({ devs: tx.without }, 'underlay NIC cannot checksum on transmit: VXLAN without UDP GSO/GRO (plain datagrams)');
      }
    }
    const old = this.uplinks;
    const oldSpec = this.uplinkSpec;
    // The sockets of an encapsulation that stays, on the same PAs and in the same mode, are kept:
    // its tenants forward straight through the change. (Closing and reopening every socket when
    // one tenant moved to NVGRE lost the other tenant's frames for the whole reopen, 3 pings at
    // 50 ms under load.) Only what goes away is closed, and before what comes is opened.
    const samePas = oldSpec !== undefined && oldSpec.pas.join(',') === pas.join(',');
    const keep = new Set([...kinds].filter((k) => samePas && oldSpec.kinds.includes(k) && (k === 'nvgre' || oldSpec.offload === uplinkOffload)));
    const drop = (oldSpec?.kinds ?? []).filter((k) => !keep.has(k));
    const fresh = [...kinds].filter((k) => !keep.has(k));
    const kept = old.map((u) => pickUplinks(u, keep));
    if (drop.length) {
      // the workers let go first (an old VXLAN socket holds UDP 4789 until it is closed)
      this.uplinks = kept;
      await this.pool?.setUplinks(this.workerUplinks());
      for (const u of old) for (const k of drop) u[k]?.close();
    }
    const mode = (offload: boolean) => ({ offload, stats: this.offloadStats });
    try {
      this.uplinks = mergeUplinks(kept, fresh.length ? await openWorkerUplinks(fresh, pas, this.opts.log, mode(uplinkOffload), this.nWorkers) : []);
    } catch (err) {
      if (oldSpec && drop.length) {
        this.uplinks = mergeUplinks(kept, await openWorkerUplinks(drop, oldSpec.pas, this.opts.log, mode(oldSpec.offload), this.nWorkers));
        await this.pool?.setUplinks(this.workerUplinks());
      }
      throw err;
    }
    this.uplinkSpec = { kinds: [...kinds], pas, offload: uplinkOffload };
    this.uplinkKey = key;
    this.underlay = underlay;
    this.underlayMtu = Math.min(...underlay.map((u) => u.mtu));
    await this.pool?.setUplinks(this.workerUplinks());
  }

  private workerUplinks(): WorkerUplinks[] {
    return this.uplinks.map((u) => ({ ...(u.vxlan ? { vxlan: u.vxlan.fds() } : {}), ...(u.nvgre ? { nvgre: u.nvgre.fds() } : {}) }));
  }

  /** Per worker: its queue of every live port, at the port's current index. */
  private workerPorts(): WorkerPort[][] {
    return Array.from({ length: this.nWorkers }, (_, w) =>
      [...this.ports.values()].map((p) =>
        p.vhost
          ? { index: p.index, ifname: p.info.ifname, fd: -1, tap: p.tap, vhost: { device: p.vhost.id, lane: w % p.vhost.lanes, offload: this.offload } }
          : { index: p.index, ifname: p.info.ifname, fd: p.queues[w]!.fd, tap: p.tap },
      ),
    );
  }

  private livenessPeers(policy: Policy): LivenessPeers {
    return {
      local: this.underlay.map((u) => ({ address: u.address, dev: u.dev })),
      remote: policy.hosts.filter((h) => h.name !== this.opts.host).map((h) => ({ host: h.name, pas: h.providerAddresses })),
    };
  }

  /** Creates the port's TAP with one queue per worker (the workers learn of it with the next mapping). */
  private async addPort(p: PortInfo, policy: Policy): Promise<void> {
    if (p.switchRole === SW_NIC) {
      this.ports.set(p.name, Object.assign(openNicPort(p, this.nWorkers, this.opts.log, this.nicFanoutStats), { index: p.index }));
      this.blocked.delete(p.name);
      return;
    }
    // a port of an External switch takes plain frames: the NIC's AF_PACKET socket cannot take a
    // TSO super-frame or a partial checksum
    const offload = this.offload && switchDevice(policy, p).type !== 'External';
    const mode = { offload, multiQueue: this.nWorkers > 1, queues: this.nWorkers };
    const place = { netnsMode: netnsModeOf(policy, p.name), owned: this.owned! };
    const made = p.vhostUser
      ? await createVhostPort(p, this.opts.log, { offload: this.offload, workers: this.nWorkers })
      : await createTenantPort(p, this.underlayMtu, this.opts.log, mode, this.offloadStats, place);
    const port = Object.assign(made, { index: p.index });
    if (p.switchRole === SW_HOST || p.gatewayOf >= 0) {
      try {
        if (p.gatewayOf >= 0) await configureGatewayVnic(p, gatewayPrefixes(policy, p));
        else await configureHostVnic(p, switchDevice(policy, p).hostAddress);
      } catch (err) {
        await port.remove().catch(() => undefined);
        throw err;
      }
    }
    this.ports.set(p.name, port);
    this.blocked.delete(p.name);
  }

  /**
   * Makes the ports of a starting agent, several at a time (each takes a few `ip` commands: 0.2-0.3 s
   * on a loaded machine, which one after another made most of an agent restart's forwarding gap).
   * Ports of one tenant namespace are made one after another, in policy order, exactly as before:
   * the namespace check (create: made by this agent or refused; adopt: must exist), its creation
   * and its default route are decisions about the namespace that a second port must see made.
   * Host vNICs, gateways, NIC ports and vhost-user ports touch the host's own devices and routes:
   * they too go one after another, in one line of their own. TAP names are unique per host
   * (policy validation), so lines never race for a device. A conflict blocks its port only (as
   * before); any other error stops its line, and is thrown once every line has stopped (so
   * nothing is still being made when the caller undoes what was).
   */
  private async addPortsConcurrently(ports: readonly PortInfo[], policy: Policy): Promise<void> {
    const lines = new Map<string, PortInfo[]>();
    for (const p of ports) {
      const plainTap = p.switchRole !== SW_NIC && p.switchRole !== SW_HOST && p.gatewayOf < 0 && !p.vhostUser;
      // '' is the host's own line (no tenant namespace name is empty: validation)
      const key = plainTap && p.netns !== undefined ? `ns:${p.netns}` : plainTap ? `tap:${p.ifname}` : '';
      const line = lines.get(key);
      if (line) line.push(p);
      else lines.set(key, [p]);
    }
    const queue = [...lines.values()];
    const runLine = async (line: PortInfo[]): Promise<void> => {
      for (const p of line) {
        try {
          await this.addPort(p, policy);
        } catch (err) {
          if (!(err instanceof PortConflictError)) throw err;
          this.block(p.name, err);
        }
      }
    };
    const results: PromiseSettledResult<void>[] = [];
    const runner = async (): Promise<void> => {
      for (let line = queue.shift(); line !== undefined; line = queue.shift()) {
        const [r] = await Promise.allSettled([runLine(line)]);
        results.push(r!);
        if (r!.status === 'rejected') return;
      }
    };
    await Promise.all(Array.from({ length: Math.min(PORT_LINES, queue.length) }, runner));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  /** A port that cannot be made for a conflict stays out; the others go on (tried again with each policy). */
  private block(name: string, err: Error): void {
    this.blocked.set(name, err.message);
    this.opts.log.error({ port: name, err: err.message }, 'port not created: it would use something that is not this agent\'s; the other ports go on');
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

  /**
   * Compiles again whatever policy is current when its turn comes (a liveness change). It must not
   * take the policy when it is queued: a reload queued before it would be undone by the older one
   * (seen: a SIGHUP moved a port to NVGRE and a liveness change queued during it moved it back).
   */
  private recompile(): Promise<void> {
    const next = this.applying.then(() => this.apply(this.policy));
    this.applying = next.catch(() => undefined);
    return next;
  }

  private async apply(policy: Policy): Promise<void> {
    if (this.stopped || !this.pool || !this.snapshot) return;
    const { log } = this.opts;
    const old = this.snapshot;
    // a policy this host cannot compile is refused before anything changes
    const snap = compileSnapshot(policy, this.opts.host, old.generation + 1, { downPas: this.downPas, ids: this.ids, underlayMtu: this.underlayMtu });
    checkHostDevices(policy, snap);
    checkStaticMappings(policy, snap, this.policy);
    await this.openUnderlay(policy, snap);
    // a port moved between switches keeps its TAP (the snapshot moves it); only what the device
    // itself holds makes a port change: an External switch's plain frames, a host vNIC's address
    const same = (a: PortInfo, b: PortInfo) =>
      a.ifname === b.ifname && a.netns === b.netns && a.mac === b.mac && a.ip === b.ip && a.prefixLen === b.prefixLen &&
      a.gateway === b.gateway && a.encapsulation === b.encapsulation && a.dhcp === b.dhcp && a.v6?.text === b.v6?.text && a.v6?.prefixLen === b.v6?.prefixLen && netnsModeOf(policy, a.name) === netnsModeOf(this.policy, b.name) &&
      a.switchRole === b.switchRole && (a.switchIndex < 0) === (b.switchIndex < 0) &&
      JSON.stringify(switchDevice(policy, a)) === JSON.stringify(switchDevice(this.policy, b)) &&
      (a.gatewayOf < 0) === (b.gatewayOf < 0) && gatewayPrefixes(policy, a).join() === gatewayPrefixes(this.policy, b).join() &&
      JSON.stringify(a.vhostUser) === JSON.stringify(b.vhostUser);
    const fresh = snap.ports.filter((p) => !this.ports.has(p.name));
    const changed = snap.ports.filter((p) => this.ports.has(p.name) && !same(p, this.ports.get(p.name)!.info));
    const gone = [...this.ports.values()].filter((port) => !snap.ports.some((p) => p.name === port.info.name));
    // 1. new ports first: if one cannot be made, undo those made and keep the old policy whole
    const made: string[] = [];
    const blockedBefore = new Map(this.blocked);
    try {
      for (const p of fresh) {
        try {
          await this.addPort(p, policy);
          made.push(p.name);
        } catch (err) {
          if (!(err instanceof PortConflictError)) throw err;
          this.block(p.name, err);
        }
      }
    } catch (err) {
      for (const name of made) await this.dropPort(name);
      this.blocked = blockedBefore;
      throw err;
    }
    // 2. removed and changed ports leave the workers, then their TAPs go
    const leaving = [...gone, ...changed.map((p) => this.ports.get(p.name)!)];
    for (const p of leaving) this.ports.delete(p.info.name);
    if (leaving.length) await this.pool.setPorts(this.workerPorts());
    for (const p of leaving) await p.remove().catch((err: Error) => log.warn({ port: p.info.name, err: err.message }, 'port cleanup failed'));
    // 3. changed ports come back with their new settings; a failure restores the old ones
    const remade: string[] = [];
    try {
      for (const p of changed) {
        try {
          await this.addPort(p, policy);
          remade.push(p.name);
        } catch (err) {
          if (!(err instanceof PortConflictError)) throw err;
          this.block(p.name, err);
        }
      }
    } catch (err) {
      for (const name of remade) await this.dropPort(name);
      for (const name of made) await this.dropPort(name);
      for (const p of leaving.filter((x) => changed.some((c) => c.name === x.info.name))) {
        await this.addPort(p.info, this.policy).catch((e: Error) => log.error({ port: p.info.name, err: e.message }, 'could not restore port'));
      }
      for (const p of gone) await this.addPort(p.info, this.policy).catch((e: Error) => log.error({ port: p.info.name, err: e.message }, 'could not restore port'));
      this.blocked = blockedBefore;
      await this.pool.setPorts(this.workerPorts());
      throw err;
    }
    for (const name of [...this.blocked.keys()]) if (!snap.ports.some((p) => p.name === name)) this.blocked.delete(name);
    for (const p of snap.ports) {
      const live = this.ports.get(p.name);
      if (!live) continue; // blocked: not made
      live.index = p.index;
      live.info = p;
    }
    this.snapshot = snap;
    await this.pool.apply(snap, this.workerPorts());
    await this.nat.apply(hostNatPlans(policy, snap));
    // only a policy that took effect is the one liveness changes re-apply
    this.policy = policy;
    await this.liveness?.setPeers(this.livenessPeers(policy));
    log.info({ generation: snap.generation, ports: snap.ports.length, added: fresh.map((p) => p.name), changed: changed.map((p) => p.name), removed: gone.map((p) => p.info.name) }, 'policy applied');
  }

  /** Removes a port made during a failed apply (not yet known to the workers). */
  private async dropPort(name: string): Promise<void> {
    const p = this.ports.get(name);
    if (!p) return;
    this.ports.delete(name);
    await p.remove().catch(() => undefined);
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
          underlayOffload: this.uplinkSpec?.offload ?? false,
          offloadFallbacks: this.offloadStats.fallbacks,
          nicFanoutFallbacks: this.nicFanoutStats.fallbacks,
          failedPorts: this.blocked.size,
          ...sum,
          // per vhost-user port: the front end's state and the back end's ring counters
          vhostUser: [...this.ports.values()].filter((p) => p.vhost).map((p) => ({ port: p.info.name, socket: p.info.vhostUser?.socket, ...p.vhost!.status() })),
          workers: per.map((c, id) => ({ worker: id, restarts: pool.restartsOf(id), ...countersToJson(c, snap).counters })),
        };
      }
      case 'layers': {
        const show = (ls: readonly { name: string; rules: readonly string[] }[]) => ls.map((l) => ({ layer: l.name, rules: l.rules }));
        const ports = req.port === undefined ? snap.ports : snap.ports.filter((p) => p.name === req.port);
        if (req.port !== undefined && ports.length === 0) throw new Error(`layers: ${unknownNameMessage('port', req.port, `host ${this.opts.host}`, snap.ports.map((p) => p.name))}`);
        return {
          generation: snap.generation,
          ports: ports.map((p) => ({ port: p.name, out: show(p.layersOut), in: show(p.layersIn) })),
          uplink: show(snap.uplinkLayers),
        };
      }
      case 'ports':
        return snap.ports.map((p) => ({
          name: p.name, ifname: p.ifname, netns: p.netns,
          ...(p.netns !== undefined ? { netnsMode: netnsModeOf(this.policy, p.name) } : {}),
          mac: p.macText, ip: p.ipText, vsid: p.vsid,
          ...(p.vhostUser !== undefined ? { vhostUser: { ...p.vhostUser, connected: this.ports.get(p.name)?.vhost?.connected ?? false } } : {}),
          ...(this.blocked.has(p.name) ? { error: this.blocked.get(p.name) } : {}),
        }));
      case 'dump-flows': {
        // an unknown port is an error here as in trace, not an empty table
        if (req.port !== undefined && !snap.ports.some((p) => p.name === req.port)) throw new Error(`dump-flows: ${unknownNameMessage('port', req.port, `host ${this.opts.host}`, snap.ports.map((p) => p.name))}`);
        // each worker has its own flow table: the union, tagged with the worker
        const parts = await Promise.all(Array.from({ length: pool.size }, (_, id) => pool.call(id, req.port ? { op: 'dump-flows', port: req.port } : { op: 'dump-flows' })));
        return parts.flatMap((entries, id) => ((entries as FlowDumpEntry[] | undefined) ?? []).map((e) => ({ worker: id, ...e })));
      }
      case 'trace': {
        const port = snap.ports.find((p) => p.name === req.port);
        if (!port) throw new Error(`trace: ${unknownNameMessage('port', req.port, `host ${this.opts.host}`, snap.ports.map((p) => p.name))}`);
        if (typeof req.spec !== 'object' || req.spec === null) throw new Error('trace: spec missing');
        const dir = req.direction === 'in' ? 'in' : 'out';
        const frame = buildTraceFrame(req.spec, snap, port, dir);
        // asked of the worker the flow is steered to: its flow table and conntrack hold the flow
        const id = steerWorker(frame, 0, frame.length, pool.size);
        const fromHost = typeof req.fromHost === 'string' ? req.fromHost : undefined;
        const r = await pool.call(id, { op: 'trace', port: req.port, frame, direction: dir, ...(fromHost !== undefined ? { fromHost } : {}) });
        if (r === undefined) throw new Error(`trace: worker ${id} is restarting; try again`);
        return { worker: id, ...(r as object) };
      }
      case 'debug-crash-worker': {
        if (!TEST_HOOKS) throw new Error('debug-crash-worker needs SWITCHYARD_TEST_HOOKS=1');
        const id = req.worker ?? 0;
        if (!(id >= 0 && id < pool.size)) throw new Error(`debug-crash-worker: no worker ${id} (0..${pool.size - 1})`);
        if (req.terminate === true) await pool.terminate(id);
        else await pool.call(id, { op: 'crash' });
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
    // an apply in flight finishes first (it may still create ports or sockets), then liveness
    await this.applying;
    this.liveness?.stop();
    await this.nat.remove().catch((err: Error) => log.warn({ err: err.message, table: this.nat.table }, 'NAT table not removed'));
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
    if (this.control) {
      await this.control.close();
      // only the socket this agent served: a second agent that failed to start must not remove
      // the running one's
      try {
        fs.unlinkSync(this.opts.controlSocket);
      } catch {
        /* gone */
      }
    }
    await this.owned?.close().catch((err: Error) => log.warn({ err: err.message }, 'ownership record not removed'));
    log.info('agent stopped');
  }
}

/** The NAT plans of this host: its Internal switches' NATs and its HNV gateways (one nft table). */
function hostNatPlans(policy: Policy, snap: Snapshot): NatPlan[] {
  return [...natPlans(policy, snap), ...gatewayNatPlans(snap)];
}

/** What a switch port's device depends on: its switch's type and (host vNIC) address. */
function switchDevice(policy: Policy, p: PortInfo): { type?: string; hostAddress?: string } {
  if (p.switchIndex < 0) return {};
  const name = policy.networkInterfaces.find((n) => n.name === p.name)?.switch;
  const sw = (policy.switches ?? []).find((s) => s.name === name || hostPortName(s.name) === p.name);
  return sw === undefined ? {} : { type: sw.switchType, ...(p.switchRole === SW_HOST && sw.hostAddress !== undefined ? { hostAddress: sw.hostAddress } : {}) };
}

/** The interface's netnsMode (create when not given). */
function netnsModeOf(policy: Policy, nic: string): NetnsMode {
  return policy.networkInterfaces.find((n) => n.name === nic)?.netnsMode ?? 'create';
}
