/**
 * fast-check generators for the isolation property test: random policies (2-3 hosts with 1-2
 * PAs, 2-3 virtual networks whose subnets reuse the same prefixes and CA addresses, VXLAN and
 * NVGRE subnets, random ACLs on subnets and ports) and random events.
 *
 * An event is generated as a Recipe: a frame kind and a few small numbers, independent of the
 * policy (so fast-check shrinks policy and events separately); `realize` reads it against the
 * policy. Choice 0 of every number is the plain, valid one, so most frames are real traffic with
 * at most one field off ("almost valid"), and shrinking walks towards the plainest frame that
 * still disagrees.
 */
import fc from 'fast-check';
import type { AccessControlList, AclRule, Nat, NetworkInterface, Policy, SwitchType, VirtualNetwork, VirtualSwitch } from '../../src/policy/types.js';
import { policyOrThrow } from '../../src/policy/validate.js';
import { formatIpv4, maskOf, parseCidr, parseIpv4 } from '../../src/policy/addr.js';
import {
  buildArpReply,
  buildArpRequest,
  buildEth,
  buildIcmpEcho,
  buildIcmpv6,
  buildIpv4,
  buildIpv4Udp,
  buildIpv6Tcp,
  buildIpv6Udp,
  buildNvgre,
  buildTcp,
  buildVxlan,
} from '../../src/wire/build/frames.js';
import type { Event } from './outcome.js';
import { gatewayMacText, gatewayPort, switchHostMacText, switchHostPort, switchNicPort } from './names.js';

export const ROUTER = '02:73:79:00:00:01';

// ---- policies --------------------------------------------------------------------------------

interface PortSpec {
  host: number;
  acl: number; // < 0: none
  sharedMac: boolean;
}
interface SubnetSpec {
  slot: number;
  /** Dual stack: an IPv6 prefix, and an IPv6 CA on each port. */
  v6: boolean;
  nvgre: boolean;
  flowId: number; // -1 absent, -2 hash
  acl: number;
  ports: PortSpec[];
}
interface RuleSpec {
  proto: number;
  src: number;
  dst: number;
  sport: number;
  dport: number;
  allow: boolean;
  inbound: boolean;
}

/** A virtual switch: its type (0 Private, 1 Internal, 2 External), a NAT behind an Internal one, its VM ports. */
interface SwitchSpec {
  type: number;
  nat: boolean;
  ports: { host: number; acl: number }[];
}
const switchSpec = fc.record({
  type: fc.nat(2),
  nat: fc.boolean(),
  ports: fc.array(fc.record({ host: fc.nat(2), acl: fc.integer({ min: -4, max: 3 }) }), { minLength: 1, maxLength: 4 }),
});
/** Per virtual network: the gateway host's number (>= the hosts: none) and whether it NATs. */
const gatewaySpec = fc.record({ host: fc.nat(4), nat: fc.boolean() });

const portSpec = fc.record({ host: fc.nat(2), acl: fc.integer({ min: -5, max: 3 }), sharedMac: fc.boolean() });
const subnetSpec = fc.record({
  slot: fc.nat(3),
  v6: fc.boolean(),
  nvgre: fc.boolean(),
  flowId: fc.integer({ min: -2, max: 255 }),
  acl: fc.integer({ min: -6, max: 3 }),
  ports: fc.array(portSpec, { minLength: 0, maxLength: 4 }),
});
const ruleSpec = fc.record({
  proto: fc.nat(5),
  src: fc.nat(8),
  dst: fc.nat(8),
  sport: fc.nat(4),
  dport: fc.nat(4),
  allow: fc.nat(9).map((x) => x < 7),
  inbound: fc.boolean(),
});

const PROTOS: AclRule['protocol'][] = ['All', 'TCP', 'UDP', 'ICMP', 'All', 47];
const PREFIXES = ['*', '10.1.1.0/24', '10.1.1.11', '10.1.2.0/24', '10.1.1.12', '10.0.0.0/8', '10.1.2.11', '172.30.0.0/16', '203.0.113.0/24'];
const RANGES = ['*', '80', '40000-40001', '443', '1-1023'];

function aclOf(name: string, rules: RuleSpec[]): AccessControlList {
  let inP = 100;
  let outP = 100;
  return {
    name,
    aclRules: rules.map((r, i) => ({
      name: `r${i}`,
      protocol: PROTOS[r.proto],
      sourceAddressPrefix: PREFIXES[r.src],
      destinationAddressPrefix: PREFIXES[r.dst],
      sourcePortRange: RANGES[r.sport],
      destinationPortRange: RANGES[r.dport],
      action: r.allow ? 'Allow' : 'Deny',
      type: r.inbound ? 'Inbound' : 'Outbound',
      priority: r.inbound ? (inP += 10) : (outP += 10),
    })),
  };
}

const hex = (n: number): string => n.toString(16).padStart(2, '0');

const SWITCH_TYPES: SwitchType[] = ['Private', 'Internal', 'External'];

function buildPolicy(hosts: number[], vns: SubnetSpec[][], aclRules: RuleSpec[][], switches: SwitchSpec[] = [], gateways: { host: number; nat: boolean }[] = []): Policy {
  const acls: AccessControlList[] = [
    // a deny-all inbound ACL is always on offer (acl index 0)
    { name: 'deny-in', aclRules: [{ name: 'all', protocol: 'All', sourceAddressPrefix: '*', destinationAddressPrefix: '*', sourcePortRange: '*', destinationPortRange: '*', action: 'Deny', type: 'Inbound', priority: 4000 }] },
    ...aclRules.map((r, i) => aclOf(`acl${i + 1}`, r)),
  ];
  const aclName = (i: number): string | undefined => acls[i]?.name;
  const policyHosts = hosts.map((n, i) => ({ name: `host${i + 1}`, providerAddresses: Array.from({ length: n }, (_, k) => `192.168.${i + 1}.${10 + k}`) }));
  const virtualNetworks: VirtualNetwork[] = [];
  const nics: NetworkInterface[] = [];
  const macsOnHost = new Map<string, Set<string>>();
  vns.forEach((subnets, v) => {
    const name = `vn${v}`;
    const used = new Set<number>();
    const vn: VirtualNetwork = { name, addressPrefixes: ['10.1.0.0/16'], subnets: [] };
    subnets.forEach((s, j) => {
      let slot = s.slot;
      while (used.has(slot)) slot = (slot + 1) % 4;
      used.add(slot);
      const sn = `s${j}`;
      const acl = aclName(s.acl);
      vn.subnets.push({
        name: sn,
        vsid: 5000 + v * 100 + j,
        addressPrefix: `10.1.${slot + 1}.0/24`,
        ...(s.v6 ? { ipv6AddressPrefix: `fd00:1:${slot + 1}::/64` } : {}),
        encapsulation: s.nvgre ? 'nvgre' : 'vxlan',
        ...(s.nvgre && s.flowId !== -1 ? { nvgreFlowId: s.flowId === -2 ? ('hash' as const) : s.flowId } : {}),
        ...(acl ? { accessControlList: acl } : {}),
      });
      s.ports.forEach((p, k) => {
        const host = `host${(p.host % hosts.length) + 1}`;
        const onHost = macsOnHost.get(host) ?? new Set<string>();
        macsOnHost.set(host, onHost);
        // the same MAC in several tenants (on different hosts) when asked and possible
        let mac = p.sharedMac ? `02:00:00:00:${hex(slot)}:${hex(k + 1)}` : `02:00:00:${hex(v + 1)}:${hex(slot)}:${hex(k + 1)}`;
        if (onHost.has(mac)) mac = `02:00:00:${hex(v + 1)}:${hex(slot)}:${hex(k + 1)}`;
        onHost.add(mac);
        const pacl = aclName(p.acl);
        nics.push({
          name: `${name}-${sn}-p${k}`,
          host,
          virtualNetwork: name,
          subnet: sn,
          macAddress: mac,
          ipAddress: `10.1.${slot + 1}.${11 + k}`,
          ...(s.v6 ? { ipv6Address: `fd00:1:${slot + 1}::${11 + k}` } : {}),
          ...(pacl ? { accessControlList: pacl } : {}),
        });
      });
    });
    if (subnets.some((s) => s.v6)) vn.addressPrefixes.push('fd00:1::/32');
    virtualNetworks.push(vn);
  });
  // virtual switches (issue 14): each on every host with one of its ports; 172.30.<i>.0/24
  const vswitches: VirtualSwitch[] = [];
  const nats: Nat[] = [];
  switches.forEach((sw, i) => {
    const name = `sw${i}`;
    const switchType = SWITCH_TYPES[sw.type];
    vswitches.push({
      name,
      switchType,
      ...(switchType === 'Internal' ? { hostAddress: `172.30.${i}.1/24` } : {}),
      ...(switchType === 'External' ? { netAdapterName: `eth${i + 1}` } : {}),
    });
    if (switchType === 'Internal' && sw.nat) {
      nats.push({ name: `nat${i}`, internalIPInterfaceAddressPrefix: `172.30.${i}.0/24`, staticMappings: [{ protocol: 'TCP', externalIPAddress: '0.0.0.0', externalPort: 8080 + i, internalIPAddress: `172.30.${i}.10`, internalPort: 80 }] });
    }
    sw.ports.forEach((p, k) => {
      const pacl = aclName(p.acl);
      nics.push({ name: `${name}-p${k}`, host: `host${(p.host % hosts.length) + 1}`, switch: name, macAddress: `02:00:50:00:${hex(i)}:${hex(k + 1)}`, ...(pacl ? { accessControlList: pacl } : {}) });
    });
  });
  // HNV gateways: at most one network per gateway host (their subnets overlap: 10.1.x.0/24)
  const taken = new Set<number>();
  virtualNetworks.forEach((vn, v) => {
    const g = gateways[v];
    if (!g || g.host >= hosts.length || taken.has(g.host)) return;
    taken.add(g.host);
    vn.gateway = { host: `host${g.host + 1}`, nat: g.nat };
  });
  return policyOrThrow({ hosts: policyHosts, virtualNetworks, networkInterfaces: nics, accessControlLists: acls, switches: vswitches, nats });
}

export const arbPolicy: fc.Arbitrary<Policy> = fc
  .tuple(
    fc.array(fc.integer({ min: 1, max: 2 }), { minLength: 2, maxLength: 3 }),
    fc.array(fc.array(subnetSpec, { minLength: 1, maxLength: 3 }), { minLength: 2, maxLength: 3 }),
    fc.array(fc.array(ruleSpec, { minLength: 1, maxLength: 4 }), { minLength: 0, maxLength: 3 }),
    fc.array(switchSpec, { minLength: 0, maxLength: 3 }),
    fc.array(gatewaySpec, { minLength: 3, maxLength: 3 }),
  )
  .map(([hosts, vns, acls, switches, gateways]) => buildPolicy(hosts, vns, acls, switches, gateways));

// ---- events ----------------------------------------------------------------------------------

export const FRAME_KINDS = [
  'valid',
  'unicast',
  'routed',
  'group',
  'dhcp',
  'gateway',
  'arp',
  'vlan',
  'ipv6',
  'ethertype',
  'fragment',
  'icmp-error',
  'malformed',
  'switch',
  'gw',
  'wire',
  'reload',
] as const;
export type FrameKind = (typeof FRAME_KINDS)[number];
/** Kinds of inner frames from the underlay (HNV frames only: switches never cross it). */
const INNER_KINDS = FRAME_KINDS.filter((k): k is Exclude<FrameKind, 'reload' | 'switch' | 'gw'> => k !== 'reload' && k !== 'switch' && k !== 'gw');

export interface Recipe {
  kind: FrameKind;
  /** Small choices; 0 is always the plain one. */
  n: number[];
}

/** Kinds from SWITCHYARD_FUZZ_KINDS (comma-separated; default all), weighted towards plain unicast. */
export function arbRecipe(kinds: readonly FrameKind[] = FRAME_KINDS): fc.Arbitrary<Recipe> {
  const weight = (k: FrameKind): number => (k === 'unicast' || k === 'wire' || k === 'valid' ? 8 : k === 'routed' || k === 'arp' || k === 'switch' ? 4 : k === 'gw' ? 3 : k === 'reload' ? 1 : 2);
  const weighted = kinds.map((k) => ({ arbitrary: fc.constant(k), weight: weight(k) }));
  return fc.record({ kind: fc.oneof(...weighted), n: fc.array(fc.nat(1000), { minLength: 10, maxLength: 10 }) });
}

interface Ep {
  name: string;
  host: string;
  vn: string;
  subnet: string;
  vsid: number;
  encap: 'vxlan' | 'nvgre';
  mac: string;
  ip: string;
  gateway: string;
  broadcast: string;
  /** Dual stack: the IPv6 CA and the subnet's gateway (prefix::1); the EUI-64 link-local address. */
  ip6?: string;
  gw6?: string;
  ll: string;
}

/** A port of a virtual switch on one host: a VM's, the host vNIC (Internal) or the bound NIC (External). */
interface SwEp {
  name: string;
  host: string;
  sw: string;
  role: 'vm' | 'host' | 'nic';
  mac: string;
  /** The address its owner uses (the VM sets its own; the host vNIC has hostAddress). */
  ip: string;
}

/** A virtual network's gateway vNIC on its gateway host. */
interface GwEp {
  name: string;
  host: string;
  vn: string;
  mac: string;
}

/** One IPv4 frame a switch port sent (TCP, UDP or an ICMP echo: `sport` its identifier). */
interface SwSent {
  host: string;
  sw: string;
  srcMac: string;
  dstMac: string;
  srcIp: string;
  dstIp: string;
  proto: 6 | 17 | 1;
  sport: number;
  dport: number;
}

/** The policy as the generators need it. */
export class World {
  readonly eps: Ep[] = [];
  readonly sws: SwEp[] = [];
  readonly gws: GwEp[] = [];
  readonly hosts: string[];
  readonly pas: { host: string; pa: number }[] = [];
  readonly vsids: { vsid: number; encap: 'vxlan' | 'nvgre' }[] = [];
  /** The last IPv4 conversations switch ports sent (switchFrame): what a forged frame copies. */
  readonly swRecent: SwSent[] = [];

  /** The policy as last reloaded (its virtual networks in the current order). */
  current: Policy;

  constructor(readonly policy: Policy) {
    this.current = policy;
    this.hosts = policy.hosts.map((h) => h.name);
    for (const h of policy.hosts) for (const pa of h.providerAddresses) this.pas.push({ host: h.name, pa: parseIpv4(pa)! });
    for (const vn of policy.virtualNetworks) for (const s of vn.subnets) this.vsids.push({ vsid: s.vsid, encap: s.encapsulation ?? 'vxlan' });
    for (const vn of policy.virtualNetworks) if (vn.gateway) this.gws.push({ name: gatewayPort(vn.name), host: vn.gateway.host, vn: vn.name, mac: gatewayMacText(vn.name) });
    (policy.switches ?? []).forEach((sw, i) => {
      const hosts = [...new Set(policy.networkInterfaces.filter((n) => n.switch === sw.name).map((n) => n.host))];
      policy.networkInterfaces.forEach((n, k) => {
        if (n.switch === sw.name) this.sws.push({ name: n.name, host: n.host, sw: sw.name, role: 'vm', mac: n.macAddress, ip: `172.30.${i}.${10 + (k % 5)}` });
      });
      for (const h of hosts) {
        if (sw.switchType === 'Internal') this.sws.push({ name: switchHostPort(sw.name), host: h, sw: sw.name, role: 'host', mac: switchHostMacText(h, sw.name), ip: `172.30.${i}.1` });
        if (sw.switchType === 'External') this.sws.push({ name: switchNicPort(sw.name), host: h, sw: sw.name, role: 'nic', mac: `02:ee:00:00:${hex(i)}:01`, ip: `172.30.${i}.200` });
      }
    });
    for (const n of policy.networkInterfaces) {
      if (n.switch !== undefined) continue;
      const s = policy.virtualNetworks.find((v) => v.name === n.virtualNetwork)!.subnets.find((x) => x.name === n.subnet)!;
      const c = parseCidr(s.addressPrefix);
      if (typeof c === 'string') throw new Error(c);
      this.eps.push({
        name: n.name,
        host: n.host,
        vn: n.virtualNetwork!,
        subnet: n.subnet!,
        vsid: s.vsid,
        encap: s.encapsulation ?? 'vxlan',
        mac: n.macAddress,
        ip: n.ipAddress!,
        gateway: formatIpv4((c.network + 1) >>> 0),
        broadcast: formatIpv4((c.network | ~maskOf(c.prefixLength)) >>> 0),
        ...(n.ipv6Address ? { ip6: n.ipv6Address, gw6: s.ipv6AddressPrefix!.replace(/::\/\d+$/, '::1') } : {}),
        ll: eui64(n.macAddress),
      });
    }
  }
}

/** Generation switches (the test sets them from the environment). */
export const options = {
  /** Spoil source fields of frames (MAC, IP, identity of a neighbour); off: senders are honest. */
  spoof: true,
};

const pick = <T>(xs: readonly T[], n: number): T => xs[n % xs.length];

/** A number choice: 0 .. k-1, where 0 comes `plain` out of 10 times. */
const choice = (n: number, k: number, plain = 6): number => (n % 10 < plain ? 0 : 1 + (Math.floor(n / 10) % (k - 1)));

const OTHER_MAC = '02:99:00:00:00:01';
/** Addresses outside every subnet (the HNV gateway's side). */
const OUTSIDE = ['203.0.113.9', '198.51.100.7'];
/** Senders behind an External switch's NIC. */
const NIC_MACS = ['02:ee:00:00:00:01', '02:ee:00:00:00:02', '02:ee:00:00:01:07'];
const PORTS = [80, 40000, 40001, 443];
const TCP_FLAGS = [0x02, 0x12, 0x10, 0x18, 0x11, 0x04, 0x02];

interface Who {
  mac: string;
  ip: string;
}

/**
 * An IPv4/ARP frame of `kind` from `X` (its addresses, possibly spoiled) to someone of the world,
 * chosen by the numbers in `n`. Used for frames from ports and, with a remote sender, inner frames.
 */
function innerFrame(w: World, kind: Exclude<FrameKind, 'switch' | 'gw'>, X: Ep, n: number[], routedSrc = false): Uint8Array {
  const sameSubnet = w.eps.filter((e) => e.vsid === X.vsid && e !== X);
  const sameVn = w.eps.filter((e) => e.vn === X.vn && e !== X);
  // the destination: mostly another endpoint of X's subnet, sometimes anyone
  const D = choice(n[1], 4, 7) === 0 && sameSubnet.length > 0 ? pick(sameSubnet, n[2]) : pick(w.eps, n[2]);
  // the source: X's own, or one field off
  const src: Who = { mac: routedSrc ? ROUTER : X.mac, ip: X.ip };
  switch (options.spoof ? choice(n[3], 6, 8) : 0) {
    case 1:
      src.mac = pick([D.mac, OTHER_MAC, 'ff:ff:ff:ff:ff:ff', '01:00:5e:00:00:01', ROUTER], n[4]);
      break;
    case 2:
      src.ip = pick([D.ip, '0.0.0.0', '10.1.1.99', X.gateway, '255.255.255.255'], n[4]);
      break;
    case 3:
      src.mac = D.mac;
      src.ip = D.ip;
      break;
    case 4:
      // someone else of the same tenant (same host or not), whole identity
      if (sameVn.length) {
        const o = pick(sameVn, n[4]);
        src.mac = o.mac;
        src.ip = o.ip;
      }
      break;
  }
  const sport = pick(PORTS, n[5]);
  const dport = pick(PORTS, n[6]);
  const proto = n[7] % 4;
  const ttl = pick([64, 64, 64, 1, 2, 0], n[8]);
  const ip4 = (dstMac: string, dstIp: string, extra: { id?: number; flagsFragment?: number; ttl?: number } = {}): Uint8Array => {
    const base = { srcMac: src.mac, dstMac, srcIp: src.ip, dstIp, ttl, ...extra };
    if (proto === 0) return buildTcp({ ...base, srcPort: sport, dstPort: dport, flags: pick(TCP_FLAGS, n[9]) });
    if (proto === 1) return buildIpv4Udp({ ...base, srcPort: sport, dstPort: dport });
    if (proto === 2) return buildIcmpEcho({ ...base, echoId: sport, reply: n[9] % 3 === 1 });
    return buildIpv4({ ...base, proto: 47, payload: new Uint8Array(8) });
  };
  switch (kind) {
    case 'valid': {
      // untagged unicast IPv4 as a well-behaved tenant sends it: to a neighbour, or routed
      const T = sameVn.length ? pick(sameVn, n[0]) : D;
      const ok = { ...base0(X), ttl: 64 };
      // out through the network's gateway (where it has one; else no-route)
      if (n[9] % 7 === 4) return valid(ok, ROUTER, pick(OUTSIDE, n[8]), proto, sport, dport, n[9]);
      if (T.vsid === X.vsid && n[9] % 3 !== 0) return valid(ok, T.mac, T.ip, proto, sport, dport, n[9]);
      return valid(ok, ROUTER, T.ip, proto, sport, dport, n[9]);
    }
    case 'unicast': {
      const dstIp = choice(n[0], 5, 8) === 0 ? D.ip : pick([X.ip, '255.255.255.255', D.broadcast, '224.0.0.251', '10.1.3.77'], n[0]);
      const dstMac = choice(n[9], 4, 9) === 0 ? D.mac : pick([X.mac, OTHER_MAC, ROUTER], n[9]);
      return ip4(dstMac, dstIp);
    }
    case 'routed': {
      const T = choice(n[0], 3, 7) === 0 && sameVn.length ? pick(sameVn, n[0]) : pick(w.eps, n[0]);
      const dstIp = choice(n[9], 6, 8) === 0 ? T.ip : pick([X.ip, T.gateway, '10.1.3.77', '10.200.0.1', OUTSIDE[0]], n[9]);
      return ip4(ROUTER, dstIp);
    }
    case 'group': {
      const dstMac = pick(['ff:ff:ff:ff:ff:ff', '01:00:5e:00:00:fb', '33:33:00:00:00:01', 'ff:ff:ff:ff:ff:ff'], n[0]);
      const dstIp = pick(['255.255.255.255', X.broadcast, '224.0.0.251', D.ip], n[9]);
      return ip4(dstMac, dstIp);
    }
    case 'dhcp': {
      const v = choice(n[0], 5, 6);
      return buildIpv4Udp({
        srcMac: src.mac,
        dstMac: v === 1 ? D.mac : 'ff:ff:ff:ff:ff:ff',
        srcIp: v === 4 ? X.ip : '0.0.0.0',
        dstIp: v === 2 ? X.gateway : '255.255.255.255',
        srcPort: v === 3 ? 40000 : 68,
        dstPort: 67,
      });
    }
    case 'gateway': {
      const v = n[0] % 5;
      const dstIp = choice(n[9], 3, 8) === 0 ? X.gateway : pick([D.gateway, '10.1.3.1'], n[9]);
      if (v === 0) return buildIcmpEcho({ srcMac: src.mac, dstMac: ROUTER, srcIp: src.ip, dstIp });
      if (v === 1) return buildIcmpEcho({ srcMac: src.mac, dstMac: ROUTER, srcIp: src.ip, dstIp, reply: true });
      if (v === 2) return buildIcmpEcho({ srcMac: src.mac, dstMac: ROUTER, srcIp: src.ip, dstIp, flagsFragment: 0x2000, id: 7 });
      return ip4(ROUTER, dstIp);
    }
    case 'arp': {
      const v = n[0] % 8;
      const sha = !options.spoof || choice(n[9], 3, 8) === 0 ? src.mac : pick([D.mac, OTHER_MAC], n[9]);
      const target = pick([D.ip, X.gateway, D.ip, '10.1.1.99', X.ip], n[1]);
      if (v === 0 || v === 1) return buildArpRequest({ srcMac: src.mac, senderMac: sha, senderIp: src.ip, targetIp: target, dstMac: v === 1 ? D.mac : undefined });
      if (v === 2) return buildArpRequest({ srcMac: src.mac, senderMac: sha, senderIp: src.ip, targetIp: src.ip }); // gratuitous
      if (v === 3) return buildArpRequest({ srcMac: src.mac, senderMac: sha, senderIp: '0.0.0.0', targetIp: target }); // probe
      if (v === 4 || v === 5) {
        const f = buildArpReply({ senderMac: sha, senderIp: src.ip, targetMac: D.mac, targetIp: D.ip });
        setMac(f, 6, src.mac);
        if (v === 5) setMac(f, 0, 'ff:ff:ff:ff:ff:ff');
        return f;
      }
      if (v === 6) {
        const f = buildArpReply({ senderMac: sha, senderIp: src.ip, targetMac: D.mac, targetIp: src.ip }); // gratuitous reply
        setMac(f, 6, src.mac);
        setMac(f, 0, 'ff:ff:ff:ff:ff:ff');
        return f;
      }
      const f = buildArpRequest({ srcMac: src.mac, senderMac: sha, senderIp: src.ip, targetIp: target });
      f[21] = pick([3, 4, 8, 0], n[1]); // RARP and other ops
      return f;
    }
    case 'vlan': {
      const base = innerFrame(w, pick(['unicast', 'arp', 'group', 'routed'] as const, n[0]), X, [...n.slice(1), n[0]], routedSrc);
      const tpid = pick([0x8100, 0x8100, 0x88a8, 0x9100], n[9]);
      const vid = pick([0, 5, 100, 0], n[8]);
      const tagged = new Uint8Array(base.length + (tpid === 0x88a8 ? 8 : 4));
      tagged.set(base.subarray(0, 12), 0);
      tagged[12] = tpid >> 8;
      tagged[13] = tpid & 255;
      tagged[14] = vid >> 8;
      tagged[15] = vid & 255;
      let p = 16;
      if (tpid === 0x88a8) {
        tagged.set([0x81, 0x00, 0x00, 7], 16);
        p = 20;
      }
      tagged.set(base.subarray(12), p);
      return tagged;
    }
    case 'ipv6': {
      if (X.ip6 !== undefined && X.gw6 !== undefined && n[1] % 4 !== 3) return ipv6Frame(w, X as Ep & { ip6: string; gw6: string }, n);
      const v = n[0] % 4;
      const ll = `fe80::${n[1] % 7}`;
      if (v === 0) return buildIpv6Tcp({ srcMac: src.mac, dstMac: D.mac, srcIp6: ll, dstIp6: 'fe80::99', srcPort: sport, dstPort: dport, flags: 0x02 });
      if (v === 1) return buildIcmpv6({ srcMac: src.mac, dstMac: '33:33:ff:00:00:99', srcIp6: '::', dstIp6: 'ff02::1:ff00:99', hopLimit: 255, type: 135, body: new Uint8Array(20) });
      if (v === 2) return buildIcmpv6({ srcMac: src.mac, dstMac: '33:33:00:00:00:01', srcIp6: ll, dstIp6: 'ff02::1', hopLimit: 255, type: 134, body: new Uint8Array(12) });
      return buildIcmpv6({ srcMac: src.mac, dstMac: '33:33:00:00:00:16', srcIp6: ll, dstIp6: 'ff02::16', hopLimit: 1, type: 143, body: new Uint8Array(4) });
    }
    case 'ethertype': {
      const type = pick([0x88cc, 0x8847, 0x0842, 0x88e5, 0x8863, 0x0600 + (n[1] % 0xf9ff), 0x0800 - 1 - (n[1] % 0x0200)], n[0]);
      return buildEth({ src: src.mac, dst: pick([D.mac, 'ff:ff:ff:ff:ff:ff', ROUTER], n[9]), type, payload: new Uint8Array(46) });
    }
    case 'fragment': {
      const id = n[0] % 3;
      const later = n[9] % 2 === 1;
      // the destination MAC follows from (destination IP, id), as in a real fragmented packet:
      // every fragment of one packet carries the same addresses
      const dstIp = n[1] % 3 === 1 && sameVn.length ? pick(sameVn, n[2]).ip : D.ip;
      const neighbour = sameSubnet.find((e) => e.ip === dstIp);
      const dstMac = id === 2 ? 'ff:ff:ff:ff:ff:ff' : neighbour ? neighbour.mac : dstIp === X.ip ? X.mac : ROUTER;
      const fttl = [64, 1, 64][id]; // one TTL per packet, so per id
      if (!later) return ip4(dstMac, dstIp, { id, flagsFragment: 0x2000, ttl: fttl });
      // a later fragment: no L4 header; UDP/TCP/ICMP by protocol number only
      return buildIpv4({ srcMac: src.mac, dstMac, srcIp: src.ip, dstIp, ttl: fttl, id, flagsFragment: (n[8] % 2 ? 0x2000 : 0) | 3, proto: pick([6, 17, 1, 47], n[7]), payload: new Uint8Array(16) });
    }
    case 'icmp-error': {
      // ICMP destination unreachable quoting a packet that D sent to X (its error goes back to D)
      const packet = proto === 1 ? buildIcmpEcho({ srcIp: D.ip, dstIp: X.ip, echoId: dport }) : proto === 2 ? buildIpv4Udp({ srcIp: D.ip, dstIp: X.ip, srcPort: dport, dstPort: sport }) : buildTcp({ srcIp: D.ip, dstIp: X.ip, srcPort: dport, dstPort: sport });
      return icmpErrorAbout(src.mac, D.mac, src.ip, D.ip, packet, pick([3, 11, 12, 3], n[9]));
    }
    case 'malformed': {
      const good = ip4(D.mac, D.ip);
      const v = n[0] % 6;
      if (v === 0) return good.slice(0, n[1] % 14);
      if (v === 1) {
        good[24] ^= 0x55; // header checksum
        return good;
      }
      if (v === 2) {
        good[14] = 0x44; // IHL 4
        return good;
      }
      if (v === 3) return buildIpv4({ srcMac: src.mac, dstMac: D.mac, srcIp: src.ip, dstIp: D.ip, proto: pick([6, 17, 1], n[1]), payload: new Uint8Array(4) }); // L4 too short
      if (v === 4) {
        const a = buildArpRequest({ srcMac: src.mac, senderMac: src.mac, senderIp: src.ip, targetIp: D.ip });
        a[15] = 6; // htype 6
        return a;
      }
      return good.slice(0, 14 + (n[1] % 20));
    }
    case 'wire':
    case 'reload':
      return innerFrame(w, 'unicast', X, n, routedSrc);
  }
}

/** An ICMP destination unreachable (or time exceeded, parameter problem) quoting the first 28 bytes of `packet` (an Ethernet frame). */
function icmpErrorAbout(srcMac: string, dstMac: string, srcIp: string, dstIp: string, packet: Uint8Array, type: number): Uint8Array {
  const quoted = packet.subarray(14, 14 + 28);
  const body = new Uint8Array(8 + quoted.length);
  body[0] = type;
  body[1] = 3;
  body.set(quoted, 8);
  let s = 0;
  for (let i = 0; i < body.length; i += 2) s += (body[i] << 8) | (body[i + 1] ?? 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  const c = ~s & 0xffff;
  body[2] = c >> 8;
  body[3] = c & 255;
  return buildIpv4({ srcMac, dstMac, srcIp, dstIp, proto: 1, payload: body });
}

/** The frame of conversation `t` as it was sent (from its addresses and MACs), TCP with `flags`. */
function sentFrame(t: SwSent, flags: number, srcMac = t.srcMac, dstMac = t.dstMac): Uint8Array {
  const base = { srcMac, dstMac, srcIp: t.srcIp, dstIp: t.dstIp };
  if (t.proto === 6) return buildTcp({ ...base, srcPort: t.sport, dstPort: t.dport, flags });
  if (t.proto === 17) return buildIpv4Udp({ ...base, srcPort: t.sport, dstPort: t.dport });
  return buildIcmpEcho({ ...base, echoId: t.sport });
}

/**
 * A frame port P forges from a conversation a port of its switch had (README "Whose connection is
 * it"): the VM sets its own addresses, so it may send the conversation's reply (a SYN-ACK, an
 * echo reply...), its next orig-direction segment, or an ICMP error about it, each with P's own
 * MAC (switch-guard checks only that). Its sender may be P itself: then it is no forgery.
 */
function forgedFrame(srcMac: string, t: SwSent, n: number[]): Uint8Array {
  const flags = pick(TCP_FLAGS, n[8]);
  switch (n[9] % 4) {
    case 1: // the orig direction, towards its receiver
      return sentFrame(t, flags, srcMac);
    case 2: // an ICMP error from its receiver's address about it
      return icmpErrorAbout(srcMac, t.srcMac, t.dstIp, t.srcIp, sentFrame(t, flags), pick([3, 11, 12], n[7]));
    default: {
      // the reply, towards its sender
      const r: SwSent = { ...t, srcIp: t.dstIp, dstIp: t.srcIp, sport: t.dport, dport: t.sport };
      if (t.proto === 1) return buildIcmpEcho({ srcMac, dstMac: t.srcMac, srcIp: t.dstIp, dstIp: t.srcIp, echoId: t.sport, reply: true });
      return sentFrame(r, n[9] % 4 === 0 ? 0x12 : flags, srcMac, t.srcMac);
    }
  }
}

/** A frame a virtual switch's port sends: to a port of its switch (known or not), anywhere else, flooded; mostly IPv4. */
function switchFrame(w: World, P: SwEp, n: number[]): Uint8Array {
  const same = w.sws.filter((q) => q.host === P.host && q.sw === P.sw && q !== P);
  const others = w.sws.filter((q) => q !== P);
  const D = same.length ? pick(same, n[2]) : pick(others.length ? others : [P], n[2]);
  let dstMac: string;
  switch (choice(n[1], 8, 5)) {
    case 0:
      dstMac = D.mac;
      break;
    case 1:
      dstMac = 'ff:ff:ff:ff:ff:ff';
      break;
    case 2:
      dstMac = pick(['01:00:5e:00:00:fb', '33:33:00:00:00:01'], n[2]);
      break;
    case 3:
      dstMac = others.length ? pick(others, n[2]).mac : OTHER_MAC; // another switch, or another host's
      break;
    case 4:
      dstMac = w.eps.length ? pick(w.eps, n[2]).mac : OTHER_MAC; // an HNV port's MAC
      break;
    case 5:
      dstMac = pick([OTHER_MAC, ...NIC_MACS], n[2]);
      break;
    case 6:
      dstMac = ROUTER;
      break;
    default:
      dstMac = P.mac;
  }
  let srcMac = P.role === 'nic' ? pick(NIC_MACS, n[3]) : P.mac;
  if (options.spoof) {
    const v = choice(n[4], 4, 8);
    if (v === 1) srcMac = pick([...same, ...others, P].map((q) => q.mac), n[3]);
    else if (v === 2) srcMac = pick(['ff:ff:ff:ff:ff:ff', '01:00:5e:00:00:01'], n[3]);
    else if (v === 3) srcMac = OTHER_MAC;
  }
  // a conversation of this switch, forged (one switch frame in five, once there is one to copy)
  const seen = w.swRecent.filter((t) => t.host === P.host && t.sw === P.sw);
  if (options.spoof && seen.length > 0 && Math.floor(n[5] / 12) % 5 === 1) return forgedFrame(srcMac, pick(seen, n[6]), n);
  const srcIp = P.ip;
  const dstIp = choice(n[6], 3, 7) === 0 ? D.ip : pick(['172.30.0.99', '10.1.1.11'], n[6]);
  const sport = pick(PORTS, n[7]);
  const dport = pick(PORTS, n[8]);
  const base = { srcMac, dstMac, srcIp, dstIp };
  const sent = (proto: 6 | 17 | 1): void => {
    w.swRecent.push({ host: P.host, sw: P.sw, srcMac, dstMac, srcIp, dstIp, proto, sport, dport: proto === 1 ? sport : dport });
    if (w.swRecent.length > 8) w.swRecent.shift();
  };
  switch (n[5] % 12) {
    case 0:
    case 1:
    case 2:
      sent(6);
      return buildTcp({ ...base, srcPort: sport, dstPort: dport, flags: pick(TCP_FLAGS, n[9]) });
    case 3:
    case 4:
      sent(17);
      return buildIpv4Udp({ ...base, srcPort: sport, dstPort: dport });
    case 5:
      if (n[9] % 2 === 0) sent(1);
      return buildIcmpEcho({ ...base, echoId: sport, reply: n[9] % 2 === 1 });
    case 6: {
      const sha = !options.spoof || n[9] % 4 !== 3 ? srcMac : OTHER_MAC;
      return buildArpRequest({ srcMac, senderMac: sha, senderIp: srcIp, targetIp: dstIp, dstMac: dstMac === D.mac && n[9] % 2 ? D.mac : undefined });
    }
    case 7: {
      const f = buildArpReply({ senderMac: srcMac, senderIp: srcIp, targetMac: D.mac, targetIp: D.ip });
      setMac(f, 0, dstMac);
      setMac(f, 6, srcMac);
      return f;
    }
    case 8:
      return buildIpv6Tcp({ srcMac, dstMac, srcIp6: 'fe80::1', dstIp6: 'fe80::2', srcPort: sport, dstPort: dport, flags: 0x02 });
    case 9: {
      const f = buildTcp({ ...base, srcPort: sport, dstPort: dport, flags: 0x02 });
      const tagged = new Uint8Array(f.length + 4);
      tagged.set(f.subarray(0, 12), 0);
      tagged.set([0x81, 0x00, 0x00, n[9] % 2 ? 5 : 0], 12);
      tagged.set(f.subarray(12), 16);
      return tagged;
    }
    case 10:
      return buildEth({ src: srcMac, dst: dstMac, type: pick([0x88cc, 0x8847, 0x0842], n[9]), payload: new Uint8Array(46) });
    default: {
      const f = buildTcp({ ...base, srcPort: sport, dstPort: dport });
      if (n[9] % 3 === 0) return f.slice(0, n[9] % 14);
      f[24] ^= 0x55; // header checksum
      return f;
    }
  }
}

/** A frame the gateway host's stack writes into a network's gateway vNIC: mostly an answer from outside to a CA. */
function gatewayFrame(w: World, G: GwEp, n: number[]): Uint8Array {
  const cas = w.eps.filter((e) => e.vn === G.vn);
  const T = cas.length ? pick(cas, n[1]) : pick(w.eps, n[1]);
  const srcIp = choice(n[3], 4, 7) === 0 || !options.spoof ? pick(OUTSIDE, n[2]) : pick([T.ip, '10.1.3.77', '10.1.99.1'], n[3]);
  const dstIp = choice(n[4], 4, 7) === 0 ? T.ip : pick(['10.1.3.77', '203.0.113.10', T.gateway], n[4]);
  const dstMac = choice(n[5], 4, 8) === 0 ? ROUTER : pick([T.mac, 'ff:ff:ff:ff:ff:ff', G.mac], n[5]);
  const srcMac = !options.spoof || choice(n[6], 3, 8) === 0 ? G.mac : pick([OTHER_MAC, ROUTER], n[6]);
  const sport = pick(PORTS, n[7]);
  const dport = pick(PORTS, n[8]);
  const base = { srcMac, dstMac, srcIp, dstIp };
  switch (n[9] % 10) {
    case 0:
    case 1:
    case 2:
      return buildTcp({ ...base, srcPort: sport, dstPort: dport, flags: pick(TCP_FLAGS, n[0]) });
    case 3:
      return buildIpv4Udp({ ...base, srcPort: sport, dstPort: dport });
    case 4:
      return buildIcmpEcho({ ...base, echoId: sport, reply: n[0] % 2 === 0 });
    case 5:
      return buildTcp({ ...base, srcPort: sport, dstPort: dport, flags: 0x12, ttl: pick([1, 0, 2], n[0]) });
    case 6:
      return buildArpRequest({ srcMac, senderMac: srcMac, senderIp: srcIp, targetIp: dstIp });
    case 7:
      return buildIpv6Tcp({ srcMac, dstMac, srcIp6: '2001:db8::9', dstIp6: 'fd00:1:1::11', srcPort: sport, dstPort: dport, flags: 0x12 });
    case 8:
      return buildIpv4Udp({ ...base, srcPort: 67, dstPort: 68 });
    default: {
      const f = buildTcp({ ...base, srcPort: sport, dstPort: dport });
      f[24] ^= 0x55;
      return f;
    }
  }
}

/** The modified EUI-64 link-local address of a MAC (RFC 4291 appendix A). */
function eui64(mac: string): string {
  const b = mac.split(':').map((h) => parseInt(h, 16));
  const w = [((b[0] ^ 2) << 8) | b[1], (b[2] << 8) | 0xff, 0xfe00 | b[3], (b[4] << 8) | b[5]];
  return `fe80::${w.map((x) => x.toString(16)).join(':')}`;
}

const ROUTER_LL = 'fe80::73:79ff:fe00:1';

/** The solicited-node multicast group of an address, and its MAC. */
function solicited(addr: string): { ip: string; mac: string } {
  const last = addr.split(':').slice(-2).map((h) => parseInt(h || '0', 16));
  const lo = last[1] ?? 0;
  const x = ((last[0] & 0xff) << 16) | lo;
  const t = (x >>> 16).toString(16);
  return { ip: `ff02::1:ff${t.padStart(2, '0')}:${(x & 0xffff).toString(16)}`, mac: `33:33:ff:${hex(x >>> 16)}:${hex((x >> 8) & 255)}:${hex(x & 255)}` };
}

/** Neighbour solicitation body: reserved, target, and (unless from ::) the source link-layer option. */
function nsBody(target: string, srcMac: string | undefined): Uint8Array {
  const t = ipv6Bytes(target);
  const b = new Uint8Array(srcMac ? 28 : 20);
  b.set(t, 4);
  if (srcMac) {
    b[20] = 1;
    b[21] = 1;
    srcMac.split(':').forEach((h, i) => (b[22 + i] = parseInt(h, 16)));
  }
  return b;
}

function ipv6Bytes(text: string): Uint8Array {
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const hs = head ? head.split(':') : [];
  const ts = tail ? tail.split(':') : [];
  const words = [...hs, ...Array(8 - hs.length - ts.length).fill('0'), ...ts].map((w) => parseInt(w, 16));
  const b = new Uint8Array(16);
  words.forEach((w, i) => {
    b[2 * i] = w >> 8;
    b[2 * i + 1] = w & 255;
  });
  return b;
}

/** IPv6 from a dual-stack port X (README "IPv6 CAs"): neighbours, routed, ND, the router, spoofed sources. */
function ipv6Frame(w: World, X: Ep & { ip6: string; gw6: string }, n: number[]): Uint8Array {
  const sameSubnet = w.eps.filter((e) => e.vsid === X.vsid && e !== X);
  const sameVn = w.eps.filter((e) => e.vn === X.vn && e !== X && e.ip6 !== undefined);
  const D = sameSubnet.length ? pick(sameSubnet, n[2]) : X;
  let src = choice(n[3], 3, 8) === 0 ? X.ip6 : X.ll;
  if (options.spoof && choice(n[4], 4, 9) !== 0) src = pick([D.ip6 ?? 'fd00:1:9::9', D.ll, 'fe80::99'], n[4]);
  const sport = pick(PORTS, n[5]);
  const dport = pick(PORTS, n[6]);
  const hop = pick([64, 64, 64, 1], n[8]);
  const l4 = (dstMac: string, dstIp6: string): Uint8Array => {
    const o = { srcMac: X.mac, dstMac, srcIp6: src, dstIp6, hopLimit: hop };
    const k = n[7] % 3;
    if (k === 0) return buildIpv6Tcp({ ...o, srcPort: sport, dstPort: dport, flags: pick(TCP_FLAGS, n[9]) });
    if (k === 1) return buildIpv6Udp({ ...o, srcPort: sport, dstPort: dport });
    const body = new Uint8Array(8);
    body[0] = sport >> 8;
    body[1] = sport & 255;
    return buildIcmpv6({ ...o, type: n[9] % 3 === 1 ? 129 : 128, body: body.subarray(0, 4) });
  };
  switch (n[0] % 8) {
    case 0:
    case 1: {
      // to a neighbour: its CA, its link-local address, or someone else's
      const dst = choice(n[1], 3, 8) === 0 ? (D.ip6 ?? D.ll) : pick([D.ll, X.gw6, 'fd00:1:9::9'], n[1]);
      return l4(D.mac, dst);
    }
    case 2:
    case 3: {
      // routed: another CA of the network, a link-local address, outside
      const T = sameVn.length ? pick(sameVn, n[1]) : D;
      const dst = choice(n[1], 4, 7) === 0 && T.ip6 ? T.ip6 : pick([T.ll, '2001:db8::1', 'fd00:1:9::9'], n[1]);
      return l4(ROUTER, dst);
    }
    case 4: {
      // the router itself
      const dst = n[1] % 2 ? X.gw6 : ROUTER_LL;
      return l4(ROUTER, dst);
    }
    case 5: {
      // neighbour solicitation: the router, a neighbour, someone unknown; DAD from ::
      // ... or an endpoint of another subnet of the network, or of another tenant (never answered)
      const far = pick(w.eps.filter((e) => e.vsid !== X.vsid && e.ip6 !== undefined).concat(X), n[2]);
      const target = pick([X.gw6, ROUTER_LL, D.ip6 ?? D.ll, D.ll, 'fd00:1:9::9', X.ip6, far.ip6 ?? far.ll, far.ll], n[1]);
      const dad = n[9] % 7 === 3;
      const g = solicited(target);
      const unicast = n[9] % 5 === 1;
      return buildIcmpv6({ srcMac: X.mac, dstMac: unicast ? ROUTER : g.mac, srcIp6: dad ? '::' : src, dstIp6: unicast ? target : g.ip, hopLimit: n[9] % 11 === 4 ? 64 : 255, type: 135, body: nsBody(target, dad ? undefined : X.mac) });
    }
    case 6: {
      // router solicitation (from its link-local address or ::)
      const unspecified = n[9] % 4 === 1;
      const body = new Uint8Array(unspecified ? 4 : 12);
      if (!unspecified) {
        body[4] = 1;
        body[5] = 1;
        X.mac.split(':').forEach((h, i) => (body[6 + i] = parseInt(h, 16)));
      }
      return buildIcmpv6({ srcMac: X.mac, dstMac: '33:33:00:00:00:02', srcIp6: unspecified ? '::' : src, dstIp6: 'ff02::2', hopLimit: n[9] % 11 === 4 ? 64 : 255, type: 133, body });
    }
    default: {
      // a neighbour advertisement for the router's address (never believed)
      return buildIcmpv6({ srcMac: X.mac, dstMac: '33:33:00:00:00:01', srcIp6: src, dstIp6: 'ff02::1', hopLimit: 255, type: 136, body: nsBody(X.gw6, X.mac) });
    }
  }
}

function base0(X: Ep): { srcMac: string; srcIp: string } {
  return { srcMac: X.mac, srcIp: X.ip };
}

function valid(o: { srcMac: string; srcIp: string; ttl: number }, dstMac: string, dstIp: string, proto: number, sport: number, dport: number, f: number): Uint8Array {
  const base = { ...o, dstMac, dstIp };
  if (proto === 0) return buildTcp({ ...base, srcPort: sport, dstPort: dport, flags: pick(TCP_FLAGS, f) });
  if (proto === 1) return buildIpv4Udp({ ...base, srcPort: sport, dstPort: dport });
  if (proto === 2) return buildIcmpEcho({ ...base, echoId: sport, reply: f % 3 === 1 });
  return buildIpv4({ ...base, proto: 47, payload: new Uint8Array(8) });
}

function setMac(b: Uint8Array, off: number, mac: string): void {
  mac.split(':').forEach((h, i) => (b[off + i] = parseInt(h, 16)));
}

function describeFrame(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

/** The event a recipe makes in world `w` (undefined when the world has no port to send from). */
export function realize(w: World, r: Recipe): Event | undefined {
  if (w.eps.length === 0) return undefined;
  const n = r.n;
  if (r.kind === 'reload') {
    // the same policy with the virtual networks in another order: positions move, names stay
    const vns = [...w.current.virtualNetworks];
    if (n[0] % 2 === 0) vns.reverse();
    else vns.push(vns.shift()!);
    w.current = { ...w.current, virtualNetworks: vns };
    return { kind: 'reload', policy: w.current, note: `reload: virtual networks now ${vns.map((v) => v.name).join(', ')}` };
  }
  if (r.kind === 'switch' || r.kind === 'gw') {
    // from a switch port (a VM's, the host vNIC, the bound NIC) or a gateway vNIC; plain unicast without them
    if (r.kind === 'switch' && w.sws.length > 0) {
      const P = pick(w.sws, n[0] * 7 + n[1]);
      const frame = switchFrame(w, P, n);
      return { kind: 'port', host: P.host, port: P.name, frame, note: `switch from ${P.host}/${P.name} (${P.sw} ${P.role} ${P.mac}): ${describeFrame(frame)}` };
    }
    if (r.kind === 'gw' && w.gws.length > 0) {
      const G = pick(w.gws, n[0] * 7 + n[1]);
      const frame = gatewayFrame(w, G, n);
      return { kind: 'port', host: G.host, port: G.name, frame, note: `gw from ${G.host}/${G.name} (${G.vn} ${G.mac}): ${describeFrame(frame)}` };
    }
  }
  if (r.kind !== 'wire') {
    const X = pick(w.eps, n[0] * 7 + n[1]);
    const frame = innerFrame(w, r.kind === 'switch' || r.kind === 'gw' ? 'unicast' : r.kind, X, n);
    return { kind: 'port', host: X.host, port: X.name, frame, note: `${r.kind} from ${X.host}/${X.name} (${X.vn} ${X.ip} ${X.mac}): ${describeFrame(frame)}` };
  }
  // from the underlay: an inner frame of any kind from endpoint E (anywhere), into host T
  const E = pick(w.eps, n[0] * 7 + n[1]);
  const innerKind = choice(n[2], INNER_KINDS.length, 5) === 0 ? 'unicast' : pick(INNER_KINDS, n[2]);
  const routedSrc = innerKind === 'routed' || n[3] % 7 === 3;
  const mixed = [n[9], n[8], n[7], n[6], n[5], n[4], n[3], n[2], n[1], n[0]];
  let inner = innerFrame(w, innerKind === 'routed' ? 'unicast' : innerKind, E, mixed, routedSrc);
  // T: mostly a host with a port of E's subnet other than E's own host
  const receivers = w.eps.filter((e) => e.vsid === E.vsid && e.host !== E.host);
  const T = choice(n[4], 3, 7) === 0 && receivers.length ? pick(receivers, n[5]).host : pick(w.hosts, n[5]);
  if (innerKind === 'routed') {
    // a routed frame: router MAC as source, destination a port of T in the same virtual network
    const dsts = w.eps.filter((e) => e.vn === E.vn && e.host === T);
    const G = w.gws.find((g) => g.vn === E.vn);
    if (G && n[6] % 4 === 1) {
      // routed to the gateway vNIC (to an outside address), mostly into the gateway host
      const into = n[5] % 3 === 0 ? T : G.host;
      inner = buildTcp({ srcMac: ROUTER, dstMac: G.mac, srcIp: E.ip, dstIp: n[8] % 5 === 0 ? E.ip : pick(OUTSIDE, n[8]), srcPort: pick(PORTS, n[7]), dstPort: pick(PORTS, n[8]), ttl: 63 });
      return wireEvent(w, n, E, into, E.vsid, E.encap, inner, `routed to ${G.name}`);
    }
    if (dsts.length) {
      const D = pick(dsts, n[6]);
      // from a CA of E's host, or (an answer from outside) from an outside address
      const srcIp = n[6] % 4 === 2 ? pick(OUTSIDE, n[7]) : E.ip;
      inner = buildTcp({ srcMac: ROUTER, dstMac: D.mac, srcIp, dstIp: D.ip, srcPort: pick(PORTS, n[7]), dstPort: pick(PORTS, n[8]), ttl: 63 });
      return wireEvent(w, n, E, T, D.vsid, D.encap, inner, `routed to ${D.name}${srcIp !== E.ip ? ` from ${srcIp}` : ''}`);
    }
  }
  const sub = choice(n[6], 3, 8) === 0 ? { vsid: E.vsid, encap: E.encap } : pick(w.vsids, n[6]);
  return wireEvent(w, n, E, T, sub.vsid, sub.encap, inner, innerKind);
}

function wireEvent(w: World, n: number[], E: Ep, T: string, vsid: number, encap: 'vxlan' | 'nvgre', inner: Uint8Array, what: string): Event {
  // the outer source: a PA of E's host, of another host (T's own included), or of no host
  const own = w.pas.filter((p) => p.host === E.host);
  const v = choice(n[7], 4, 7);
  const srcPa = v === 0 ? pick(own, n[8]).pa : v === 1 ? pick(w.pas, n[8]).pa : v === 2 ? parseIpv4('192.168.99.1')! : pick(w.pas.filter((p) => p.host === T), n[8]).pa;
  const kind = n[9] % 13 === 5 ? (encap === 'vxlan' ? 'nvgre' : 'vxlan') : encap;
  const bad = n[9] % 17 === 3;
  const unknownVni = n[9] % 19 === 4;
  const id = unknownVni ? 4095 : vsid;
  const payload =
    kind === 'vxlan'
      ? buildVxlan({ vni: id, inner, flags: bad ? 0x00 : 0x08 }).slice(34)
      : buildNvgre({ vsid: id, flowId: n[3] % 256, inner, ...(bad ? { protocol: 0x0800 } : {}) }).slice(34);
  return {
    kind: 'wire',
    host: T,
    srcPa,
    encap: kind,
    payload,
    note: `wire ${kind} ${id}${bad ? ' (bad header)' : ''} into ${T} from PA ${formatIpv4(srcPa)}; inner ${what} as ${E.name} (${E.host} ${E.vn} ${E.ip}): ${describeFrame(inner)}`,
  };
}
