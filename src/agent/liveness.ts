/**
 * Provider-address liveness, in the spirit of BFD: a host with several PAs (one per NIC team
 * member in HNVv2) spreads its flows across them, so it must notice when one stops working and
 * move those flows to another. Two signals:
 *   - local: the operstate of the underlay device that owns each local PA (sysfs, polled);
 *   - remote: every agent sends a small UDP probe from each of its PAs to each PA of every other
 *     host every `intervalMs`; a remote PA not heard for `missed` intervals is down. Only hosts
 *     that have been heard at least once are judged (a kernel or OVS peer never probes: all its
 *     PAs stay in use), and a host never has all its PAs down (then all are tried again).
 * A change of the set of down PAs is handed to `onChange`; the agent recompiles its snapshot and
 * the flow table re-evaluates its entries (new generation), so flows move within about
 * `missed * intervalMs` plus one probe interval. Control plane only: plain dgram sockets.
 */
import dgram from 'node:dgram';
import fs from 'node:fs';
import type { Logger } from './logger.js';

export const LIVENESS_PORT = 4799;
const MAGIC = 'SYLV1';

export interface LivenessPeers {
  /** This host's PAs and the devices that own them. */
  local: { address: string; dev: string }[];
  /** Every other host's PAs. */
  remote: { host: string; pas: string[] }[];
}

export interface LivenessOptions {
  host: string;
  port?: number;
  intervalMs?: number;
  missed?: number;
  log: Logger;
  onChange(down: ReadonlySet<number>, downText: string[]): void;
}

function ipNum(a: string): number {
  const p = a.split('.').map(Number);
  return (((p[0]! << 24) | (p[1]! << 16) | (p[2]! << 8) | p[3]!) >>> 0);
}

export class PaLiveness {
  private rx: dgram.Socket | undefined;
  private tx = new Map<string, dgram.Socket>();
  private timer: NodeJS.Timeout | undefined;
  private peers: LivenessPeers = { local: [], remote: [] };
  private lastSeen = new Map<string, number>();
  private heardHosts = new Set<string>();
  private down = new Set<string>();
  private stopped = false;
  private readonly port: number;
  private readonly intervalMs: number;
  private readonly missed: number;

  constructor(private readonly o: LivenessOptions) {
    this.port = o.port ?? LIVENESS_PORT;
    this.intervalMs = o.intervalMs ?? 200;
    this.missed = o.missed ?? 3;
  }

  async start(peers: LivenessPeers): Promise<void> {
    // exclusive (no SO_REUSEADDR): with it, any local process that also sets it could bind the
    // same port and take the probes (the kernel hands unicast datagrams to the last bound socket)
    // A port in use is retried for a few seconds: the previous agent of this host may still be
    // exiting (a restart); anything holding it longer is an error.
    let rx: dgram.Socket | undefined;
    for (let attempt = 0; rx === undefined; attempt++) {
      try {
        rx = await this.bindRx();
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt >= 20) throw err;
        if (attempt === 0) this.o.log.warn({ port: this.port }, 'liveness port in use; retrying for 5 s');
        await new Promise((r) => setTimeout(r, 250));
      }
    }
    this.rx = rx;
    await this.setPeers(peers);
    this.timer = setInterval(() => this.tick(), this.intervalMs);
    this.timer.unref();
  }

  private bindRx(): Promise<dgram.Socket> {
    const rx = dgram.createSocket({ type: 'udp4', reuseAddr: false });
    return new Promise<dgram.Socket>((resolve, reject) => {
      rx.once('error', (err) => {
        rx.close();
        reject(err);
      });
      rx.bind(this.port, () => {
        rx.removeAllListeners('error');
        rx.on('message', (m, rinfo) => this.heard(m, rinfo.address));
        rx.on('error', (err) => this.o.log.warn({ err: err.message }, 'liveness socket'));
        resolve(rx);
      });
    });
  }

  /** The UDP port probes are received on (the bound one when `port` was 0). */
  get boundPort(): number | undefined {
    return this.rx?.address().port;
  }

  /** New policy: other hosts or PAs may have come or gone. */
  async setPeers(peers: LivenessPeers): Promise<void> {
    if (this.stopped) return;
    this.peers = peers;
    const want = new Set(peers.local.map((l) => l.address));
    for (const [a, s] of this.tx) {
      if (!want.has(a)) {
        s.close();
        this.tx.delete(a);
      }
    }
    for (const a of want) {
      if (this.tx.has(a)) continue;
      const s = dgram.createSocket('udp4');
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.bind({ address: a, port: 0 }, () => {
          s.off('error', reject);
          resolve();
        });
      }).catch((err: Error) => {
        s.close();
        throw new Error(`liveness: cannot send from provider address ${a}: ${err.message}`, { cause: err });
      });
      s.on('error', () => undefined); // a PA whose link is down cannot send: that is the point
      if (this.stopped) {
        s.close();
        return;
      }
      this.tx.set(a, s);
    }
  }

  private heard(m: Buffer, from: string): void {
    const text = m.toString('latin1', 0, Math.min(m.length, 200));
    const [magic, host] = text.split(' ');
    if (magic !== MAGIC || !host || host === this.o.host) return;
    if (!this.peers.remote.some((r) => r.host === host && r.pas.includes(from))) return;
    this.lastSeen.set(from, Date.now());
    this.heardHosts.add(host);
  }

  private tick(): void {
    for (const [a, s] of this.tx) {
      const msg = Buffer.from(`${MAGIC} ${this.o.host} ${a}`);
      for (const r of this.peers.remote) for (const pa of r.pas) s.send(msg, this.port, pa, () => undefined);
    }
    const now = Date.now();
    const down = new Set<string>();
    for (const l of this.peers.local) if (!linkUp(l.dev)) down.add(l.address);
    for (const r of this.peers.remote) {
      if (!this.heardHosts.has(r.host)) continue;
      for (const pa of r.pas) {
        const seen = this.lastSeen.get(pa) ?? 0;
        if (now - seen > this.missed * this.intervalMs) down.add(pa);
      }
    }
    if (down.size === this.down.size && [...down].every((a) => this.down.has(a))) return;
    const went = [...down].filter((a) => !this.down.has(a));
    const came = [...this.down].filter((a) => !down.has(a));
    this.down = down;
    this.o.log.warn({ down: [...down], wentDown: went, cameBack: came }, 'provider address liveness changed');
    this.o.onChange(new Set([...down].map(ipNum)), [...down]);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.rx?.close();
    for (const s of this.tx.values()) s.close();
    this.tx.clear();
  }
}

/** Reads the device's operstate; a device we cannot read counts as up (no false failover). */
function linkUp(dev: string): boolean {
  try {
    const st = fs.readFileSync(`/sys/class/net/${dev}/operstate`, 'utf8').trim();
    return st !== 'down' && st !== 'lowerlayerdown' && st !== 'notpresent';
  } catch {
    return true;
  }
}
