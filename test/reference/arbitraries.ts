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
import type { AccessControlList, AclRule, NetworkInterface, Policy, VirtualNetwork } from '../../src/policy/types.js';
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
  buildNvgre,
  buildTcp,
  buildVxlan,
} from '../../src/wire/build/frames.js';
import type { Event } from './outcome.js';

export const ROUTER = '02:73:79:00:00:01';

// ---- policies --------------------------------------------------------------------------------

interface PortSpec {
  host: number;
  acl: number; // < 0: none
  sharedMac: boolean;
}
interface SubnetSpec {
  slot: number;
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

const portSpec = fc.record({ host: fc.nat(2), acl: fc.integer({ min: -5, max: 3 }), sharedMac: fc.boolean() });
const subnetSpec = fc.record({
  slot: fc.nat(3),
  nvgre: fc.boolean(),
  flowId: fc.integer({ min: -2, max: 255 }),
  acl: fc.integer({ min: -6, max: 3 }),
  ports: fc.array(portSpec, { minLength: 0, maxLength: 4 }),
});
const ruleSpec = fc.record({
  proto: fc.nat(5),
  src: fc.nat(6),
  dst: fc.nat(6),
  sport: fc.nat(4),
  dport: fc.nat(4),
  allow: fc.nat(9).map((x) => x < 7),
  inbound: fc.boolean(),
});

const PROTOS: AclRule['protocol'][] = ['All', 'TCP', 'UDP', 'ICMP', 'All', 47];
const PREFIXES = ['*', '10.1.1.0/24', '10.1.1.11', '10.1.2.0/24', '10.1.1.12', '10.0.0.0/8', '10.1.2.11'];
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

function buildPolicy(hosts: number[], vns: SubnetSpec[][], aclRules: RuleSpec[][]): Policy {
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
          ...(pacl ? { accessControlList: pacl } : {}),
        });
      });
    });
    virtualNetworks.push(vn);
  });
  return policyOrThrow({ hosts: policyHosts, virtualNetworks, networkInterfaces: nics, accessControlLists: acls });
}

export const arbPolicy: fc.Arbitrary<Policy> = fc
  .tuple(
    fc.array(fc.integer({ min: 1, max: 2 }), { minLength: 2, maxLength: 3 }),
    fc.array(fc.array(subnetSpec, { minLength: 1, maxLength: 3 }), { minLength: 2, maxLength: 3 }),
    fc.array(fc.array(ruleSpec, { minLength: 1, maxLength: 4 }), { minLength: 0, maxLength: 3 }),
  )
  .map(([hosts, vns, acls]) => buildPolicy(hosts, vns, acls));

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
  'wire',
  'reload',
] as const;
export type FrameKind = (typeof FRAME_KINDS)[number];

export interface Recipe {
  kind: FrameKind;
  /** Small choices; 0 is always the plain one. */
  n: number[];
}

/** Kinds from SWITCHYARD_FUZZ_KINDS (comma-separated; default all), weighted towards plain unicast. */
export function arbRecipe(kinds: readonly FrameKind[] = FRAME_KINDS): fc.Arbitrary<Recipe> {
  const weight = (k: FrameKind): number => (k === 'unicast' || k === 'wire' || k === 'valid' ? 8 : k === 'routed' || k === 'arp' ? 4 : k === 'reload' ? 1 : 2);
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
}

/** The policy as the generators need it. */
export class World {
  readonly eps: Ep[] = [];
  readonly hosts: string[];
  readonly pas: { host: string; pa: number }[] = [];
  readonly vsids: { vsid: number; encap: 'vxlan' | 'nvgre' }[] = [];

  /** The policy as last reloaded (its virtual networks in the current order). */
  current: Policy;

  constructor(readonly policy: Policy) {
    this.current = policy;
    this.hosts = policy.hosts.map((h) => h.name);
    for (const h of policy.hosts) for (const pa of h.providerAddresses) this.pas.push({ host: h.name, pa: parseIpv4(pa)! });
    for (const vn of policy.virtualNetworks) for (const s of vn.subnets) this.vsids.push({ vsid: s.vsid, encap: s.encapsulation ?? 'vxlan' });
    for (const n of policy.networkInterfaces) {
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
function innerFrame(w: World, kind: FrameKind, X: Ep, n: number[], routedSrc = false): Uint8Array {
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
      const dstIp = choice(n[9], 5, 8) === 0 ? T.ip : pick([X.ip, T.gateway, '10.1.3.77', '10.200.0.1'], n[9]);
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
      const quoted = (proto === 1 ? buildIcmpEcho({ srcIp: D.ip, dstIp: X.ip, echoId: dport }) : proto === 2 ? buildIpv4Udp({ srcIp: D.ip, dstIp: X.ip, srcPort: dport, dstPort: sport }) : buildTcp({ srcIp: D.ip, dstIp: X.ip, srcPort: dport, dstPort: sport })).subarray(14, 14 + 28);
      const body = new Uint8Array(8 + quoted.length);
      body[0] = pick([3, 11, 12, 3], n[9]);
      body[1] = 3;
      body.set(quoted, 8);
      let s = 0;
      for (let i = 0; i < body.length; i += 2) s += (body[i] << 8) | (body[i + 1] ?? 0);
      while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
      const c = ~s & 0xffff;
      body[2] = c >> 8;
      body[3] = c & 255;
      return buildIpv4({ srcMac: src.mac, dstMac: D.mac, srcIp: src.ip, dstIp: D.ip, proto: 1, payload: body });
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
  if (r.kind !== 'wire') {
    const X = pick(w.eps, n[0] * 7 + n[1]);
    const frame = innerFrame(w, r.kind, X, n);
    return { kind: 'port', host: X.host, port: X.name, frame, note: `${r.kind} from ${X.host}/${X.name} (${X.vn} ${X.ip} ${X.mac}): ${describeFrame(frame)}` };
  }
  // from the underlay: an inner frame of any kind from endpoint E (anywhere), into host T
  const E = pick(w.eps, n[0] * 7 + n[1]);
  const innerKind = choice(n[2], FRAME_KINDS.length - 1, 5) === 0 ? 'unicast' : pick(FRAME_KINDS.slice(0, -1), n[2]);
  const routedSrc = innerKind === 'routed' || n[3] % 7 === 3;
  const mixed = [n[9], n[8], n[7], n[6], n[5], n[4], n[3], n[2], n[1], n[0]];
  let inner = innerFrame(w, innerKind === 'routed' ? 'unicast' : innerKind, E, mixed, routedSrc);
  // T: mostly a host with a port of E's subnet other than E's own host
  const receivers = w.eps.filter((e) => e.vsid === E.vsid && e.host !== E.host);
  const T = choice(n[4], 3, 7) === 0 && receivers.length ? pick(receivers, n[5]).host : pick(w.hosts, n[5]);
  if (innerKind === 'routed') {
    // a routed frame: router MAC as source, destination a port of T in the same virtual network
    const dsts = w.eps.filter((e) => e.vn === E.vn && e.host === T);
    if (dsts.length) {
      const D = pick(dsts, n[6]);
      inner = buildTcp({ srcMac: ROUTER, dstMac: D.mac, srcIp: E.ip, dstIp: D.ip, srcPort: pick(PORTS, n[7]), dstPort: pick(PORTS, n[8]), ttl: 63 });
      return wireEvent(w, n, E, T, D.vsid, D.encap, inner, `routed to ${D.name}`);
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
