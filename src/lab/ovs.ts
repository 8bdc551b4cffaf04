/**
 * Open vSwitch's userspace datapath as a host of the lab: switchyard's independent NVGRE peer (this
 * kernel has no GRE, OVS's netdev datapath does GRE in userspace) and the benchmark's reference for
 * NVGRE. One private OVS per host namespace: its own ovsdb-server and ovs-vswitchd, its own
 * database, sockets, logs and pid files in a temp directory (OVS_RUNDIR and friends point there,
 * every ovs-vsctl/ovs-appctl names its socket), so no system-wide OVS is touched.
 *
 * Layout inside the host namespace (FACTS.md: the underlay address must sit on an OVS bridge):
 *   br-phy (netdev)  owns the underlay veth (eth0); the host's PA and default route move to br-phy
 *   br-int (netdev)  tunnel ports (gre: key = VSID << 8 | FlowID; vxlan: key = VNI) and one veth
 *                    per tenant namespace; NORMAL switching, one VLAN tag per virtual subnet so two
 *                    tenants with the same CA never share a broadcast domain
 * stop() kills both daemons, removes the veths and namespaces it made, gives the PA and default
 * route back to eth0 and removes the temp directory.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import type { Policy } from '../policy/types.js';
import { removeNamespaces, type Figure8Lab } from './topology.js';
import { run, runIn, spawnIn, sleep, waitFor } from './run.js';
import { ping } from './probes.js';

const SCHEMA = '/usr/share/openvswitch/vswitch.ovsschema';

/** Outer headers a tunnel adds over IPv4 (inner Ethernet included): the tenant MTU is underlay - this. */
export const OVS_ENCAP_OVERHEAD = { gre: 42, vxlan: 50 } as const;

export type OvsTunnelKind = 'gre' | 'vxlan';

export interface OvsTenant {
  /** Tenant namespace; made when missing (and then removed by stop()). */
  ns: string;
  mac: string;
  ip: string;
  prefixLen: number;
  /** Default: underlay MTU minus the tunnel's overhead. */
  mtu?: number;
}

export interface OvsTunnel {
  kind: OvsTunnelKind;
  /** VSID (NVGRE) or VNI (VXLAN). */
  vsid: number;
  /** NVGRE FlowID, the key's low 8 bits (gre only; default 0). OVS matches the whole key. */
  flowId?: number;
  /** Overrides the host's remotePa for this tunnel. */
  remotePa?: string;
  tenants: OvsTenant[];
}

export interface OvsHostOptions {
  /** This host's provider address (already on `underlayDev`). */
  pa: string;
  /** The peer host's provider address. */
  remotePa: string;
  tunnels: OvsTunnel[];
  /** Default 'eth0'. */
  underlayDev?: string;
  /** Prefix length of the PA on the underlay (default 24). */
  prefixLen?: number;
  /** Set options:local_ip on tunnel ports (default true). */
  localIp?: boolean;
}

export interface OvsHost {
  ns: string;
  dir: string;
  /** Runs ovs-vsctl against this instance's database. */
  vsctl(args: string[]): Promise<string>;
  /** Runs ovs-appctl against this instance's ovs-vswitchd. */
  appctl(args: string[]): Promise<string>;
  /** Tunnel port names on br-int, in the order of `tunnels`. */
  tunnelPorts: string[];
  /** The last lines of ovs-vswitchd's log (for failure messages). */
  logTail(lines?: number): string;
  stop(): Promise<void>;
}

/** NVGRE key as OVS's GRE `options:key` carries it: VSID in the upper 24 bits, FlowID in the low 8. */
export function nvgreKey(vsid: number, flowId = 0): number {
  return ((vsid & 0xffffff) * 256 + (flowId & 0xff)) >>> 0;
}

function ovsVars(dir: string): Record<string, string> {
  return { OVS_RUNDIR: dir, OVS_LOGDIR: dir, OVS_DBDIR: dir, OVS_SYSCONFDIR: dir };
}

/** Runs an OVS tool with this instance's OVS_* variables (through env(1): run() takes no env). */
function runOvs(vars: Record<string, string>, cmd: string, args: string[], timeoutMs = 30_000) {
  return run('env', [...Object.entries(vars).map(([k, v]) => `${k}=${v}`), cmd, ...args], { timeoutMs });
}

function stopChild(child: ChildProcess | undefined, graceMs = 3000): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

async function nsExists(ns: string): Promise<boolean> {
  const r = await run('ip', ['netns', 'list'], { allowFail: true });
  return r.stdout.split('\n').some((l) => l.split(' ')[0] === ns);
}

/** Starts a private OVS in `hostNs` with the tunnels and tenant namespaces of `opts`. */
export async function startOvsHost(hostNs: string, opts: OvsHostOptions): Promise<OvsHost> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-ovs-'));
  const vars = ovsVars(dir);
  const env = { ...process.env, ...vars };
  const db = path.join(dir, 'conf.db');
  const dbSock = path.join(dir, 'db.sock');
  const vswitchdCtl = path.join(dir, 'ovs-vswitchd.ctl');
  const dev = opts.underlayDev ?? 'eth0';
  const prefixLen = opts.prefixLen ?? 24;
  const children: ChildProcess[] = [];
  const madeNs: string[] = [];
  const madeVeths: string[] = [];
  let gateway: string | undefined;
  let paMoved = false;
  let stopped = false;
  const logs: Record<string, string> = { 'ovsdb-server': '', 'ovs-vswitchd': '' };

  const vsctl = async (args: string[]): Promise<string> =>
    (await runOvs(vars, 'ovs-vsctl', [`--db=unix:${dbSock}`, '--timeout=20', ...args])).stdout.trim();
  const appctl = async (args: string[]): Promise<string> =>
    (await runOvs(vars, 'ovs-appctl', ['-t', vswitchdCtl, '--timeout=10', ...args], 15_000)).stdout.trim();
  const logTail = (lines = 30): string => {
    const f = path.join(dir, 'ovs-vswitchd.log');
    const text = fs.existsSync(f) ? fs.readFileSync(f, 'utf8') : logs['ovs-vswitchd']!;
    return text.trim().split('\n').slice(-lines).join('\n');
  };

  const daemon = (name: string, args: string[]): ChildProcess => {
    const child = spawnIn(hostNs, name, args, env);
    child.stdout!.on('data', (d: Buffer) => (logs[name] = (logs[name]! + d.toString()).slice(-8000)));
    child.stderr!.on('data', (d: Buffer) => (logs[name] = (logs[name]! + d.toString()).slice(-8000)));
    children.push(child);
    return child;
  };

  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    // daemons first (they own br-phy's tap: the PA goes with it), then what we made, then the PA back
    // `exit --cleanup` makes ovs-vswitchd delete its datapath and tap devices (br-phy keeps the PA
    // otherwise: the netdev datapath's taps are persistent and outlive a plain SIGTERM)
    if (children.length > 1 && fs.existsSync(vswitchdCtl)) await appctl(['exit', '--cleanup']).catch(() => undefined);
    for (const c of [...children].reverse()) await stopChild(c);
    for (const v of [...madeVeths, 'br-int', 'br-phy', 'ovs-netdev']) await runIn(hostNs, 'ip', ['link', 'del', v], { allowFail: true });
    await removeNamespaces(madeNs);
    if (paMoved && (await nsExists(hostNs))) {
      await runIn(hostNs, 'ip', ['addr', 'replace', `${opts.pa}/${prefixLen}`, 'dev', dev], { allowFail: true });
      await runIn(hostNs, 'ip', ['link', 'set', dev, 'up'], { allowFail: true });
      if (gateway) await runIn(hostNs, 'ip', ['route', 'replace', 'default', 'via', gateway, 'dev', dev], { allowFail: true });
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };

  const host: OvsHost = { ns: hostNs, dir, vsctl, appctl, tunnelPorts: [], logTail, stop };
  try {
    const routes = JSON.parse((await runIn(hostNs, 'ip', ['-j', 'route', 'show', 'default'])).stdout || '[]') as { gateway?: string }[];
    gateway = routes[0]?.gateway;
    if (!gateway) throw new Error(`no default route in ${hostNs}`);
    const links = JSON.parse((await runIn(hostNs, 'ip', ['-j', 'link', 'show', 'dev', dev])).stdout) as { address: string; mtu: number }[];
    const devMac = links[0]!.address;
    const underlayMtu = links[0]!.mtu;

    await runOvs(vars, 'ovsdb-tool', ['create', db, SCHEMA]);
    const ovsdb = daemon('ovsdb-server', [
      db,
      `--remote=punix:${dbSock}`,
      `--unixctl=${path.join(dir, 'ovsdb-server.ctl')}`,
      `--pidfile=${path.join(dir, 'ovsdb-server.pid')}`,
      `--log-file=${path.join(dir, 'ovsdb-server.log')}`,
      '--no-chdir',
      '-vconsole:off',
    ]);
    await waitFor(
      () => {
        if (ovsdb.exitCode !== null) throw new Error(`ovsdb-server exited: ${logs['ovsdb-server']}`);
        return fs.existsSync(dbSock);
      },
      10_000,
      'ovsdb-server socket',
    );
    await vsctl(['--no-wait', 'init']);
    const vswitchd = daemon('ovs-vswitchd', [
      `unix:${dbSock}`,
      `--unixctl=${vswitchdCtl}`,
      `--pidfile=${path.join(dir, 'ovs-vswitchd.pid')}`,
      `--log-file=${path.join(dir, 'ovs-vswitchd.log')}`,
      '--no-chdir',
      '-vconsole:off',
      '-vfile:info',
    ]);
    await waitFor(
      () => {
        if (vswitchd.exitCode !== null) throw new Error(`ovs-vswitchd exited: ${logs['ovs-vswitchd']} ${logTail()}`);
        return fs.existsSync(vswitchdCtl);
      },
      15_000,
      'ovs-vswitchd control socket',
    );

    // underlay: br-phy owns eth0 and carries the PA (OVS's tunnel code routes and ARPs through it)
    await vsctl([
      'add-br', 'br-phy', '--', 'set', 'bridge', 'br-phy', 'datapath_type=netdev', `other-config:hwaddr="${devMac}"`,
      '--', 'add-port', 'br-phy', dev,
    ]);
    await runIn(hostNs, 'ip', ['addr', 'flush', 'dev', dev]);
    paMoved = true;
    await runIn(hostNs, 'ip', ['link', 'set', 'br-phy', 'mtu', String(underlayMtu), 'up']);
    await runIn(hostNs, 'ip', ['addr', 'add', `${opts.pa}/${prefixLen}`, 'dev', 'br-phy']);
    await runIn(hostNs, 'ip', ['route', 'replace', 'default', 'via', gateway, 'dev', 'br-phy']);

    // overlay: br-int with one tagged tunnel port per virtual subnet and its tenants
    await vsctl(['add-br', 'br-int', '--', 'set', 'bridge', 'br-int', 'datapath_type=netdev']);
    await runIn(hostNs, 'ip', ['link', 'set', 'br-int', 'up']);
    let vethIndex = 0;
    for (const [i, t] of opts.tunnels.entries()) {
      const tag = i + 1;
      const remote = t.remotePa ?? opts.remotePa;
      const key = t.kind === 'gre' ? nvgreKey(t.vsid, t.flowId ?? 0) : t.vsid;
      const port = `${t.kind === 'gre' ? 'gre' : 'vx'}${t.vsid}${t.flowId ? `f${t.flowId}` : ''}`.slice(0, 15);
      const tunOpts = [`options:remote_ip=${remote}`, `options:key=${key}`];
      if (opts.localIp ?? true) tunOpts.push(`options:local_ip=${opts.pa}`);
      if (t.kind === 'vxlan') tunOpts.push('options:dst_port=4789');
      await vsctl(['add-port', 'br-int', port, `tag=${tag}`, '--', 'set', 'interface', port, `type=${t.kind}`, ...tunOpts]);
      host.tunnelPorts.push(port);
      const mtu = underlayMtu - OVS_ENCAP_OVERHEAD[t.kind];
      for (const ten of t.tenants) {
        if (!(await nsExists(ten.ns))) {
          await run('ip', ['netns', 'add', ten.ns]);
          madeNs.push(ten.ns);
        }
        const hostEnd = `ovt${vethIndex++}`;
        await runIn(hostNs, 'ip', ['link', 'add', hostEnd, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ten.ns]);
        madeVeths.push(hostEnd);
        await runIn(hostNs, 'ip', ['link', 'set', hostEnd, 'mtu', String(ten.mtu ?? mtu), 'up']);
        await vsctl(['add-port', 'br-int', hostEnd, `tag=${tag}`]);
        await runIn(ten.ns, 'ip', ['link', 'set', 'lo', 'up']);
        await runIn(ten.ns, 'ip', ['link', 'set', 'eth0', 'address', ten.mac, 'mtu', String(ten.mtu ?? mtu), 'up']);
        await runIn(ten.ns, 'ip', ['addr', 'add', `${ten.ip}/${ten.prefixLen}`, 'dev', 'eth0']);
        // OVS's userspace datapath does not finish partial checksums (FACTS.md): the tenant must
        await runIn(ten.ns, 'ethtool', ['-K', 'eth0', 'tx', 'off']);
      }
    }
    // the tunnel needs OVS's route to the peer (learnt from the kernel's table for br-phy) and the
    // next hop's MAC: OVS snoops ARP replies on br-phy, and drops tunnel packets until it has one,
    // so make the kernel ARP for the gateway now rather than lose the tenants' first packets
    await waitFor(
      async () => {
        const routesShown = await appctl(['ovs/route/show']).catch(() => '');
        return routesShown.includes('br-phy');
      },
      10_000,
      'OVS to learn the route via br-phy',
    );
    await waitFor(
      async () => {
        await runIn(hostNs, 'ping', ['-n', '-c', '1', '-W', '1', gateway!], { allowFail: true });
        return (await appctl(['tnl/neigh/show']).catch(() => '')).includes(gateway!);
      },
      10_000,
      `OVS to learn the MAC of the gateway ${gateway}`,
    );
  } catch (err) {
    const tail = logTail(15);
    await stop();
    throw new Error(`${err instanceof Error ? err.message : String(err)}${tail ? `\novs-vswitchd log:\n${tail}` : ''}`, { cause: err });
  }
  return host;
}

export interface OvsFigure8 {
  hosts: [OvsHost, OvsHost];
  /** Tenant namespace of each policy interface placed on OVS (by interface name). */
  ns: Record<string, string>;
  stop(): Promise<void>;
}

/**
 * Both Figure 8 hosts on OVS, every interface of `policy` in the virtual network `vnet` (default
 * contoso) as a tenant namespace named `lab.tenantNs(nic)`, tunnels of `kind` (gre: key = VSID << 8
 * | nvgreFlowId (a fixed FlowID; 'hash' falls back to 0); vxlan: VNI = VSID). For the benchmark:
 * OVS userspace GRE or VXLAN tenant to tenant on the same lab as switchyard.
 */
export async function startOvsFigure8(lab: Figure8Lab, policy: Policy, kind: OvsTunnelKind, vnets: string[] = ['contoso']): Promise<OvsFigure8> {
  const started: OvsHost[] = [];
  const nsMap: Record<string, string> = {};
  const stop = async (): Promise<void> => {
    for (const h of started.reverse()) await h.stop().catch(() => undefined);
  };
  try {
    const paOf = (host: string): string => {
      const h = policy.hosts.find((x) => x.name === host);
      if (!h) throw new Error(`policy has no host ${host}`);
      return h.providerAddresses[0]!;
    };
    for (const [i, lh] of lab.hosts.entries()) {
      const other = lab.hosts[1 - i]!;
      const tunnels: OvsTunnel[] = [];
      for (const vn of policy.virtualNetworks.filter((v) => vnets.includes(v.name))) {
        for (const sn of vn.subnets) {
          const prefixLen = Number(sn.addressPrefix.split('/')[1]);
          const tenants = policy.networkInterfaces
            .filter((n) => n.host === lh.name && n.virtualNetwork === vn.name && n.subnet === sn.name)
            .map((n) => {
              nsMap[n.name] = lab.tenantNs(n.name);
              return { ns: lab.tenantNs(n.name), mac: n.macAddress, ip: n.ipAddress!, prefixLen };
            });
          if (tenants.length === 0) continue;
          const flowId = typeof sn.nvgreFlowId === 'number' ? sn.nvgreFlowId : 0;
          tunnels.push({ kind, vsid: sn.vsid, flowId: kind === 'gre' ? flowId : 0, tenants });
        }
      }
      started.push(await startOvsHost(lh.ns, { pa: paOf(lh.name), remotePa: paOf(other.name), tunnels }));
    }
    // warm up: every tenant pair across the hosts exchanges a ping, so a benchmark measures
    // forwarding, not OVS learning MACs (its first packets are lost while it does)
    const nics = policy.networkInterfaces.filter((n) => nsMap[n.name] !== undefined);
    for (const a of nics.filter((n) => n.host === lab.hosts[0].name)) {
      for (const b of nics.filter((n) => n.host === lab.hosts[1].name && n.virtualNetwork === a.virtualNetwork && n.subnet === a.subnet)) {
        if (!(await pingUntilReply(nsMap[a.name]!, b.ipAddress!))) throw new Error(`OVS ${kind}: ${a.name} cannot reach ${b.name} (${b.ipAddress})`);
      }
    }
    return { hosts: [started[0]!, started[1]!], ns: nsMap, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * Pings `addr` from `ns` until one reply comes (OVS learns MACs and next hops on the first packets
 * and drops those); true when it did within `timeoutMs`.
 */
export async function pingUntilReply(ns: string, addr: string, timeoutMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if ((await ping(ns, addr, 1, 0.2, 1)).received > 0) return true;
    await sleep(100);
  }
  return false;
}
