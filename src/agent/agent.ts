/**
 * One agent per host. It holds the host's policy, compiles it into an immutable snapshot
 * (vfp/), creates a TAP port per network interface of this host (moved into its tenant namespace
 * and configured there), opens the uplinks on the host's provider addresses, runs the forwarding
 * loop (dataplane/) on readiness events, and serves the local control socket.
 *
 * Order matters on the way down: stop reading, close the TAPs (a non-persistent TAP disappears
 * with its last fd), delete the tenant namespaces the agent made, remove the control socket.
 */
import type net from 'node:net';
import fs from 'node:fs';
import type { Policy } from '../policy/types.js';
import type { Uplink } from '../io/types.js';
import { compileSnapshot, type PortInfo, type Snapshot } from '../vfp/snapshot.js';
import { Forwarder, TSO_SLOT } from '../dataplane/forwarder.js';
import { countersToJson } from '../dataplane/counters.js';
import { disableGroForNvgre, findUnderlay, type UnderlayAddress } from './underlay.js';
import { createTenantPort, type TenantPort } from './ports.js';
import { openUplinks } from './uplinks.js';
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
}

export class Agent {
  /** Live ports by interface name; `index` follows the current snapshot. */
  private ports = new Map<string, TenantPort & { index: number }>();
  private uplinks: { vxlan?: Uplink; nvgre?: Uplink } = {};
  private uplinkKey = '';
  private control: net.Server | undefined;
  private forwarder: Forwarder | undefined;
  private snapshot: Snapshot | undefined;
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
    this.forwarder = new Forwarder({ ports: [], ...this.uplinks }, snapshot, this.offload ? { bigSlotSize: TSO_SLOT } : {});
    this.snapshot = snapshot;
    log.info({ host, pas: snapshot.localPasText, underlayMtu: this.underlayMtu, ports: snapshot.ports.length }, 'agent starting');
    for (const p of snapshot.ports) await this.addPort(p);
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
    const next = await openUplinks([...kinds], [...snapshot.localPasText], this.opts.log, { offload: this.offload, stats: this.offloadStats });
    const old = this.uplinks;
    this.uplinks = next;
    this.uplinkKey = key;
    if (this.forwarder) {
      this.forwarder.setUplinks(next);
    }
    this.watchUplinks();
    old.vxlan?.close();
    old.nvgre?.close();
  }

  private livenessPeers(policy: Policy): LivenessPeers {
    return {
      local: this.underlay.map((u) => ({ address: u.address, dev: u.dev })),
      remote: policy.hosts.filter((h) => h.name !== this.opts.host).map((h) => ({ host: h.name, pas: h.providerAddresses })),
    };
  }

  private watchUplinks(): void {
    const { vxlan, nvgre } = this.uplinks;
    vxlan?.onReadable(() => this.forwarder?.pollUplink('vxlan'));
    nvgre?.onReadable(() => this.forwarder?.pollUplink('nvgre'));
  }

  private async addPort(p: PortInfo): Promise<void> {
    const port = Object.assign(await createTenantPort(p, this.underlayMtu, this.opts.log, { offload: this.offload, multiQueue: false }, this.offloadStats), { index: p.index });
    this.ports.set(p.name, port);
    this.forwarder!.setPort(p.index, port.queue);
    port.queue.onReadable(() => this.forwarder?.pollPort(port.index));
  }

  /**
   * Applies a new policy without breaking flows of ports that did not change: the new snapshot
   * is compiled first (a policy this host cannot use is refused and the old one kept), new ports
   * are created before the switch, the forwarder switches between batches, and ports that went
   * away (or whose device settings changed) are removed after it.
   */
  applyPolicy(policy: Policy): Promise<void> {
    const next = this.applying.then(() => this.apply(policy));
    this.applying = next.catch(() => undefined);
    return next;
  }

  private async apply(policy: Policy): Promise<void> {
    if (this.stopped || !this.forwarder || !this.snapshot) return;
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
    // detach removed ports from the dataplane before their TAPs close
    for (const p of gone) p.queue.stopPolling();
    for (let i = 0; i < Math.max(old.ports.length, snap.ports.length); i++) this.forwarder.setPort(i, undefined);
    for (const p of gone) await p.remove().catch((err: Error) => log.warn({ port: p.info.name, err: err.message }, 'port cleanup failed'));
    this.forwarder.setSnapshot(snap);
    this.snapshot = snap;
    for (const p of snap.ports) {
      const live = this.ports.get(p.name);
      if (live) {
        live.index = p.index;
        live.info = p;
        this.forwarder.setPort(p.index, live.queue);
      } else {
        await this.addPort(p);
      }
    }
    log.info({ generation: snap.generation, ports: snap.ports.length, removed: gone.map((p) => p.info.name) }, 'policy applied');
  }

  private handle(req: ControlRequest): unknown {
    const fwd = this.forwarder;
    const snap = this.snapshot;
    if (!fwd || !snap) throw new Error('agent is not running');
    switch (req.op) {
      case 'ping':
        return 'pong';
      case 'stats':
        return { host: this.opts.host, generation: snap.generation, offload: this.offload, offloadFallbacks: this.offloadStats.fallbacks, ...countersToJson(fwd.counters, snap) };
      case 'ports':
        return snap.ports.map((p) => ({ name: p.name, ifname: p.ifname, netns: p.netns, mac: p.macText, ip: p.ipText, vsid: p.vsid }));
      case 'dump-flows':
        return fwd.dumpFlows(req.port ? { port: req.port } : undefined);
      case 'trace': {
        const port = snap.ports.find((p) => p.name === req.port);
        if (!port) throw new Error(`trace: no port "${req.port}" on host ${this.opts.host} (ports: ${snap.ports.map((p) => p.name).join(', ')})`);
        if (typeof req.spec !== 'object' || req.spec === null) throw new Error('trace: spec missing');
        const dir = req.direction === 'in' ? 'in' : 'out';
        return fwd.trace(req.port, buildTraceFrame(req.spec, snap, port, dir), dir);
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
    for (const p of this.ports.values()) {
      try {
        await p.remove();
      } catch (err) {
        log.warn({ port: p.info.name, err: (err as Error).message }, 'port cleanup failed');
      }
    }
    this.ports.clear();
    this.uplinks.vxlan?.close();
    this.uplinks.nvgre?.close();
    if (this.control) await new Promise<void>((r) => this.control!.close(() => r()));
    try {
      fs.unlinkSync(this.opts.controlSocket);
    } catch {
      /* gone */
    }
    log.info('agent stopped');
  }
}
