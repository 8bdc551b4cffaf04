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
import type { FramePort, Uplink } from '../io/types.js';
import { compileSnapshot, type Snapshot } from '../vfp/snapshot.js';
import { Forwarder } from '../dataplane/forwarder.js';
import { countersToJson } from '../dataplane/counters.js';
import { findUnderlay, type UnderlayAddress } from './underlay.js';
import { createTenantPort, type TenantPort } from './ports.js';
import { openUplinks } from './uplinks.js';
import { startControlServer } from './control-server.js';
import { buildTraceFrame } from './trace-frame.js';
import type { ControlRequest } from './control-protocol.js';
import type { Logger } from './logger.js';

export interface AgentOptions {
  policy: Policy;
  host: string;
  controlSocket: string;
  log: Logger;
}

export class Agent {
  private ports: TenantPort[] = [];
  private uplinks: { vxlan?: Uplink; nvgre?: Uplink } = {};
  private control: net.Server | undefined;
  private forwarder: Forwarder | undefined;
  private snapshot: Snapshot | undefined;
  private underlay: UnderlayAddress[] = [];
  private stopped = false;

  private constructor(private readonly opts: AgentOptions) {}

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

  private async bringUp(): Promise<void> {
    const { policy, host, log } = this.opts;
    const hostDef = policy.hosts.find((h) => h.name === host);
    if (!hostDef) throw new Error(`host "${host}" is not in the policy (hosts: ${policy.hosts.map((h) => h.name).join(', ') || 'none'})`);
    const snapshot = compileSnapshot(policy, host, 1);
    this.snapshot = snapshot;
    this.underlay = await findUnderlay(hostDef.providerAddresses);
    const underlayMtu = Math.min(...this.underlay.map((u) => u.mtu));
    log.info({ host, pas: hostDef.providerAddresses, underlayMtu, ports: snapshot.ports.length }, 'agent starting');

    const kinds = new Set(snapshot.ports.map((p) => p.encapsulation));
    // every host may receive either encapsulation from peers: open both when the policy uses both
    for (const s of policy.virtualNetworks.flatMap((v) => v.subnets)) kinds.add(s.encapsulation);
    this.uplinks = await openUplinks([...kinds], this.underlay.map((u) => u.address), log);

    const io = { ports: [] as (FramePort | undefined)[], ...this.uplinks };
    this.forwarder = new Forwarder(io, snapshot);
    for (const p of snapshot.ports) {
      const port = await createTenantPort(p, underlayMtu, log);
      this.ports.push(port);
      this.forwarder.setPort(p.index, port.queue);
      const fwd = this.forwarder;
      const index = p.index;
      port.queue.onReadable(() => fwd.pollPort(index));
    }
    if (this.uplinks.vxlan) {
      const fwd = this.forwarder;
      this.uplinks.vxlan.onReadable(() => fwd.pollUplink('vxlan'));
    }
    if (this.uplinks.nvgre) {
      const fwd = this.forwarder;
      this.uplinks.nvgre.onReadable(() => fwd.pollUplink('nvgre'));
    }
    this.control = await startControlServer(this.opts.controlSocket, (req) => this.handle(req));
    log.info({ control: this.opts.controlSocket }, 'agent forwarding');
  }

  private handle(req: ControlRequest): unknown {
    const fwd = this.forwarder;
    const snap = this.snapshot;
    if (!fwd || !snap) throw new Error('agent is not running');
    switch (req.op) {
      case 'ping':
        return 'pong';
      case 'stats':
        return { host: this.opts.host, generation: snap.generation, ...countersToJson(fwd.counters, snap) };
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
    for (const p of this.ports) {
      try {
        await p.remove();
      } catch (err) {
        log.warn({ port: p.info.name, err: (err as Error).message }, 'port cleanup failed');
      }
    }
    this.ports = [];
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
