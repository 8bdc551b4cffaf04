/**
 * The lab of the isolation tests (issue 12): the Figure 8 underlay (host1, host2 and a router)
 * with one virtual network laid out so every attack has a victim, a neighbour on the same host, a
 * neighbour on the other host, and CAs placed on a third host that has no machine in the lab
 * (it only has to exist in policy: a frame claiming one of its CAs must be refused).
 *
 *   subnet s1 (VSID 5001, 10.1.1.0/24)
 *     victim    host1 10.1.1.11 02:00:00:01:01:11  inbound ACL: TCP/UDP 7000 from s1, deny the rest
 *     attacker  host1 10.1.1.13 02:00:00:01:01:13
 *     local     host1 10.1.1.15 02:00:00:01:01:15
 *     remote    host2 10.1.1.12 02:00:00:01:01:12
 *     away      host3 10.1.1.14 02:00:00:01:01:14  (no namespace: host3 runs no agent)
 *   subnet s2 (VSID 5002, 10.1.2.0/24)
 *     s2-local  host1 10.1.2.11 02:00:00:01:02:11
 *     s2-away   host3 10.1.2.14 02:00:00:01:02:14
 *
 * Tenant namespaces run with IPv6 off (their kernels would otherwise send router solicitations,
 * MLD reports and DAD probes that muddy the drop counters) and arp_accept=1 (a gratuitous ARP or
 * an unsolicited reply creates a neighbour entry, so a poisoning frame that arrives shows up in
 * `ip neigh`). Packet sockets still see every frame that arrives, IPv6 included.
 */
import { controlRequest } from '../../src/agent/control-client.js';
import type { RunningAgent } from '../../src/lab/agents.js';
import { run } from '../../src/lab/run.js';
import type { Policy } from '../../src/policy/types.js';
import { startFigure8, type Figure8Run } from './lab-helpers.js';

export const ROUTER_MAC = '02:73:79:00:00:01';

export interface Tenant {
  name: string;
  host: string;
  mac: string;
  ip: string;
  /** IPv6 link-local address derived from the MAC (EUI-64), as the tenant's kernel would use. */
  ll6: string;
}

function eui64(mac: string): string {
  const b = mac.split(':').map((x) => parseInt(x, 16));
  b[0] = b[0]! ^ 2;
  const w = [(b[0]! << 8) | b[1]!, (b[2]! << 8) | 0xff, 0xfe00 | b[3]!, (b[4]! << 8) | b[5]!];
  return `fe80::${w.map((x) => x.toString(16)).join(':')}`;
}

function tenant(name: string, host: string, mac: string, ip: string): Tenant {
  return { name, host, mac, ip, ll6: eui64(mac) };
}

export const T = {
  victim: tenant('victim', 'host1', '02:00:00:01:01:11', '10.1.1.11'),
  attacker: tenant('attacker', 'host1', '02:00:00:01:01:13', '10.1.1.13'),
  local: tenant('local', 'host1', '02:00:00:01:01:15', '10.1.1.15'),
  remote: tenant('remote', 'host2', '02:00:00:01:01:12', '10.1.1.12'),
  away: tenant('away', 'host3', '02:00:00:01:01:14', '10.1.1.14'),
  s2local: tenant('s2-local', 'host1', '02:00:00:01:02:11', '10.1.2.11'),
  s2away: tenant('s2-away', 'host3', '02:00:00:01:02:14', '10.1.2.14'),
} as const;

/** Port that an accepted TCP/UDP probe goes to (the victim's ACL admits it). */
export const OPEN_PORT = 7000;

const ACL_RULE = { sourcePortRange: '*', destinationAddressPrefix: '*', destinationPortRange: '*' } as const;

export function isolationPolicy(): Policy {
  const nic = (t: Tenant, subnet: string, withNs: boolean, acl?: string) => ({
    name: t.name,
    host: t.host,
    virtualNetwork: 'blue',
    subnet,
    macAddress: t.mac,
    ipAddress: t.ip,
    ...(withNs ? { netns: t.name } : {}),
    ...(acl ? { accessControlList: acl } : {}),
  });
  return {
    hosts: [
      { name: 'host1', providerAddresses: ['192.168.1.10'] },
      { name: 'host2', providerAddresses: ['192.168.2.20'] },
      // a host of the policy with no machine in the lab (nothing answers at this address)
      { name: 'host3', providerAddresses: ['192.168.5.30'] },
    ],
    virtualNetworks: [
      {
        name: 'blue',
        addressPrefixes: ['10.1.0.0/16'],
        subnets: [
          { name: 's1', vsid: 5001, addressPrefix: '10.1.1.0/24', encapsulation: 'vxlan' },
          { name: 's2', vsid: 5002, addressPrefix: '10.1.2.0/24', encapsulation: 'vxlan' },
        ],
      },
    ],
    networkInterfaces: [
      nic(T.victim, 's1', true, 'victim-acl'),
      nic(T.attacker, 's1', true),
      nic(T.local, 's1', true),
      nic(T.remote, 's1', true),
      nic(T.away, 's1', false),
      nic(T.s2local, 's2', true),
      nic(T.s2away, 's2', false),
    ],
    accessControlLists: [
      {
        name: 'victim-acl',
        aclRules: [
          { ...ACL_RULE, name: 'allow-tcp-7000', protocol: 'TCP', sourceAddressPrefix: '10.1.1.0/24', destinationPortRange: String(OPEN_PORT), action: 'Allow', type: 'Inbound', priority: 100 },
          { ...ACL_RULE, name: 'allow-udp-7000', protocol: 'UDP', sourceAddressPrefix: '10.1.1.0/24', destinationPortRange: String(OPEN_PORT), action: 'Allow', type: 'Inbound', priority: 110 },
          { ...ACL_RULE, name: 'deny-all-inbound', protocol: 'All', sourceAddressPrefix: '*', action: 'Deny', type: 'Inbound', priority: 4096 },
        ],
      },
    ],
  };
}

export interface IsolationLab {
  run: Figure8Run;
  /** Namespace of a tenant (per-run name). */
  ns(t: Tenant): string;
  /** The tenant's interface inside its namespace. */
  iface(t: Tenant): string;
  /** Namespace and interface, for frame counters. */
  at(t: Tenant): { ns: string; iface: string };
  agent(host: string): RunningAgent;
  host(name: string): { ns: string; pa: string };
}

/** Builds the lab, starts agents on host1 and host2, and quiets the tenant namespaces. */
export async function startIsolationLab(): Promise<IsolationLab> {
  const r = await startFigure8({ policy: isolationPolicy() });
  try {
    const ifnames = new Map<string, string>();
    for (const a of r.agents) {
      const ports = (await controlRequest(a.socket, { op: 'ports' })) as { name: string; ifname: string }[];
      for (const p of ports) ifnames.set(p.name, p.ifname);
    }
    const lab: IsolationLab = {
      run: r,
      ns: (t) => r.ns(t.name),
      iface: (t) => {
        const i = ifnames.get(t.name);
        if (i === undefined) throw new Error(`no port ${t.name} in the lab`);
        return i;
      },
      at: (t) => ({ ns: lab.ns(t), iface: lab.iface(t) }),
      agent: (host) => {
        const a = r.agents.find((x) => x.host === host);
        if (!a) throw new Error(`no agent on ${host}`);
        return a;
      },
      host: (name) => {
        const h = r.lab.hosts.find((x) => x.name === name);
        if (!h) throw new Error(`no lab host ${name}`);
        return { ns: h.ns, pa: h.pa };
      },
    };
    for (const t of [T.victim, T.attacker, T.local, T.remote, T.s2local]) {
      const ns = lab.ns(t);
      const dev = lab.iface(t);
      await run('ip', ['netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1', `net.ipv6.conf.${dev}.disable_ipv6=1`]);
      await run('ip', ['netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv4.conf.all.arp_accept=1', 'net.ipv4.conf.default.arp_accept=1', `net.ipv4.conf.${dev}.arp_accept=1`]);
    }
    return lab;
  } catch (e) {
    await r.teardown();
    throw e;
  }
}

interface Stats {
  drops: Record<string, number>;
}

/** The agent's drop counters by reason (`ctl stats`: drop-<reason>). */
export async function dropCounters(agent: RunningAgent): Promise<Record<string, number>> {
  return ((await controlRequest(agent.socket, { op: 'stats' })) as Stats).drops;
}

/** Drops by reason that `agent` counted while `fn` ran (after a short settle for the workers). */
export async function dropsDuring(agent: RunningAgent, fn: () => Promise<unknown>): Promise<Record<string, number>> {
  const before = await dropCounters(agent);
  await fn();
  // counters are summed from the workers' shared counters; the frames were handled long before
  // the listening window ended, this only lets a worker finish its batch
  await new Promise((r) => setTimeout(r, 100));
  const after = await dropCounters(agent);
  const d: Record<string, number> = {};
  for (const k of Object.keys(after)) {
    const v = (after[k] ?? 0) - (before[k] ?? 0);
    if (v !== 0) d[k] = v;
  }
  return d;
}
