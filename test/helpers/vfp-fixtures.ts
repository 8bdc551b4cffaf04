/**
 * A policy in the shape of the seed's Figure 8 (Contoso and Fabrikam with the same CAs on two
 * hosts), extended for the VFP tests: a second and third Contoso subnet (routing; NVGRE), a third
 * host, and a helper that wires a Forwarder to memory fakes with a hand-driven clock.
 */
import type { Policy } from '../../src/policy/types.js';
import { MemoryPort, MemoryUplink } from '../../src/io/memory.js';
import { compileSnapshot, type Snapshot } from '../../src/vfp/snapshot.js';
import { Forwarder, type ForwarderOptions } from '../../src/dataplane/forwarder.js';

export const PA1 = '192.168.1.10';
export const PA2 = '192.168.2.20';
export const PA3 = '192.168.3.30';

export const MAC = {
  contosoSql: '00:1d:d8:b7:1c:01',
  contosoWeb: '00:1d:d8:b7:1c:02',
  contosoApp: '00:1d:d8:b7:1c:03',
  contosoDb2: '00:1d:d8:b7:1c:21',
  contosoApi: '00:1d:d8:b7:1c:22',
  contosoGre: '00:1d:d8:b7:1c:31',
  contosoGreLocal: '00:1d:d8:b7:1c:32',
  fabrikamSql: '00:1d:d8:b7:2c:01',
  fabrikamWeb: '00:1d:d8:b7:2c:02',
} as const;

export const ROUTER = '02:73:79:00:00:01';

export function figure8(extra: Partial<Policy> = {}): Policy {
  const nic = (name: string, host: string, vn: string, subnet: string, mac: string, ip: string, acl?: string) => ({
    name,
    host,
    virtualNetwork: vn,
    subnet,
    macAddress: mac,
    ipAddress: ip,
    ...(acl ? { accessControlList: acl } : {}),
  });
  return {
    hosts: [
      { name: 'host1', providerAddresses: [PA1] },
      { name: 'host2', providerAddresses: [PA2] },
      { name: 'host3', providerAddresses: [PA3] },
    ],
    virtualNetworks: [
      {
        name: 'contoso',
        addressPrefixes: ['10.1.0.0/16'],
        subnets: [
          { name: 's1', vsid: 5001, addressPrefix: '10.1.1.0/24', encapsulation: 'vxlan' },
          { name: 's2', vsid: 5002, addressPrefix: '10.1.2.0/24', encapsulation: 'vxlan' },
          { name: 's3', vsid: 5003, addressPrefix: '10.1.3.0/24', encapsulation: 'nvgre', nvgreFlowId: 7 },
        ],
      },
      {
        name: 'fabrikam',
        addressPrefixes: ['10.1.0.0/16'],
        subnets: [{ name: 's1', vsid: 6001, addressPrefix: '10.1.1.0/24', encapsulation: 'vxlan' }],
      },
    ],
    networkInterfaces: [
      nic('contoso-sql', 'host1', 'contoso', 's1', MAC.contosoSql, '10.1.1.11'),
      nic('contoso-app', 'host1', 'contoso', 's1', MAC.contosoApp, '10.1.1.13'),
      nic('contoso-web', 'host2', 'contoso', 's1', MAC.contosoWeb, '10.1.1.12'),
      nic('contoso-db2', 'host1', 'contoso', 's2', MAC.contosoDb2, '10.1.2.21'),
      nic('contoso-api', 'host2', 'contoso', 's2', MAC.contosoApi, '10.1.2.22'),
      nic('contoso-gre', 'host3', 'contoso', 's3', MAC.contosoGre, '10.1.3.31'),
      nic('contoso-grl', 'host1', 'contoso', 's3', MAC.contosoGreLocal, '10.1.3.32'),
      nic('fabrikam-sql', 'host1', 'fabrikam', 's1', MAC.fabrikamSql, '10.1.1.11'),
      nic('fabrikam-web', 'host2', 'fabrikam', 's1', MAC.fabrikamWeb, '10.1.1.12'),
    ],
    accessControlLists: [],
    ...extra,
  };
}

/** The IPv6 CAs figure8Dual gives the Contoso ports. */
export const V6 = { sql: 'fd00:1:1::11', app: 'fd00:1:1::13', web: 'fd00:1:1::12', db2: 'fd00:1:2::21', api: 'fd00:1:2::22', gre: 'fd00:1:3::31', grl: 'fd00:1:3::32' };

/** Figure 8 with Contoso dual stack (every Contoso port has an IPv6 CA, V6); Fabrikam stays IPv4 only. */
export function figure8Dual(extra: (p: Policy) => void = () => undefined): Policy {
  const p = figure8();
  const vn = p.virtualNetworks[0]!;
  vn.addressPrefixes.push('fd00:1::/32');
  vn.subnets[0]!.ipv6AddressPrefix = 'fd00:1:1::/64';
  vn.subnets[1]!.ipv6AddressPrefix = 'fd00:1:2::/64';
  vn.subnets[2]!.ipv6AddressPrefix = 'fd00:1:3::/64';
  const set = (n: string, a: string): void => void (p.networkInterfaces.find((x) => x.name === n)!.ipv6Address = a);
  set('contoso-sql', V6.sql);
  set('contoso-app', V6.app);
  set('contoso-web', V6.web);
  set('contoso-db2', V6.db2);
  set('contoso-api', V6.api);
  set('contoso-gre', V6.gre);
  set('contoso-grl', V6.grl);
  extra(p);
  return p;
}

export interface Rig {
  fwd: Forwarder;
  snap: Snapshot;
  ports: Map<string, MemoryPort>;
  vx: MemoryUplink;
  nv: MemoryUplink;
  clock: { t: number };
  /** Pushes `frame` into port `name` and polls it. */
  send(name: string, frame: Uint8Array): void;
  /** Pushes an uplink packet (starting at the UDP or GRE header) from `src` and polls. */
  fromWire(kind: 'vxlan' | 'nvgre', packet: Uint8Array, src: string): void;
  pull(name: string): Uint8Array[];
}

export function rig(policy: Policy = figure8(), host = 'host1', opts: ForwarderOptions = {}, portQueue = 1024): Rig {
  const snap = compileSnapshot(policy, host, 1);
  const clock = { t: 1_000_000 };
  const pas = policy.hosts.find((h) => h.name === host)!.providerAddresses.map(ipNum);
  const vx = new MemoryUplink('vxlan', { localAddrs: pas });
  const nv = new MemoryUplink('nvgre', { localAddrs: pas });
  const ports = new Map<string, MemoryPort>();
  const fwd = new Forwarder({ ports: [], vxlan: vx, nvgre: nv }, snap, { now: () => clock.t, checkAclLinear: true, ...opts });
  for (const p of snap.ports) {
    const mp = new MemoryPort(p.name, { queueLimit: portQueue });
    ports.set(p.name, mp);
    fwd.setPort(p.index, mp);
  }
  return {
    fwd,
    snap,
    ports,
    vx,
    nv,
    clock,
    send(name, frame) {
      const p = snap.ports.find((x) => x.name === name)!;
      ports.get(name)!.push(frame);
      fwd.pollPort(p.index);
    },
    fromWire(kind, packet, src) {
      (kind === 'vxlan' ? vx : nv).push(packet, ipNum(src));
      fwd.pollUplink(kind);
    },
    pull(name) {
      return ports.get(name)!.pullAll();
    },
  };
}

export function ipNum(text: string): number {
  const p = text.split('.').map(Number);
  return ((p[0] << 24) | (p[1] << 16) | (p[2] << 8) | p[3]) >>> 0;
}
