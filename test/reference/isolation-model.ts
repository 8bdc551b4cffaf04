/**
 * The reference model of /work/notes/isolation-spec.md (issue 12): what the dataplane must do with
 * a frame, written as plainly as possible so that it can be read against the spec line by line.
 * No caches, no hash tables, no compiled tables: lists of endpoints, subnets and ACL rules built
 * once from the Policy, searched with loops; connection tracking and fragment state are plain
 * lists per host. Nothing here comes from src/vfp or src/dataplane (only policy types and
 * address parsing from src/policy).
 *
 * Beyond the spec, from the README's sections (issue 14, 15): IPv6 CAs ("IPv6 CAs (dual stack)":
 * source validation with the EUI-64 link-local address, ND and RS answered, routing by IPv6 CA,
 * `*` ACL rules matching both families), virtual switches ("Virtual switches and NAT networking":
 * switch-guard, MAC learning per host and switch, flooding within the switch, stateful ACLs in
 * the switch's zone whose connections belong to their ports ("Whose connection is it": origin and
 * receiver, a flood's receiver the first port that took its copy and answers; another port's
 * frame with the 5-tuple is its own new frame), IPv6 there by the rules alone) and HNV gateways ("The HNV gateway": outside
 * destinations to the gateway vNIC, gateway-guard, answers from outside back in). A host's own
 * ports are named as the README names them (names.ts).
 *
 * A frame from a port is followed across the underlay: each encapsulated copy is handed to the
 * receiving host's ingress, so the outcome of one event covers every host it touches.
 *
 * Modelled beyond the spec's text, following today's engine where the spec is silent (each
 * marked SILENT below): a group frame with no copy at all counts one `no-port` (also when ACLs refused every copy); a copy refused by
 * a port's inbound ACL counts one `acl-deny`; a connection is tracked at a host only when the
 * frame meets an ACL table there (the sender's outbound or the local receiver's inbound rules,
 * as today); TCP states as in today's conntrack (RST closes, FIN/ACK teardown to TIME_WAIT; a
 * closed connection admits no replies, a TIME_WAIT one all but a new SYN); broadcast/multicast are checked against the
 * ACLs without connection tracking. Not modelled: timeouts (the driver's clock stands still) and
 * the per-port quotas (`ct-limit`, `flow-limit`: generated worlds stay far below them).
 */
import type { AccessControlList, AclRule, Encapsulation, Policy } from '../../src/policy/types.js';
import { maskOf, parseCidr, parseIpv4 } from '../../src/policy/addr.js';
import { encapDelivery, hairpinDelivery, portDelivery, type Event, type Outcome } from './outcome.js';
import { gatewayMacNumber, gatewayPort, switchHostMacNumber, switchHostPort, switchNicPort } from './names.js';

export const ROUTER_MAC = 0x027379000001;
const BROADCAST_MAC = 0xffffffffffff;

// ---- the policy as lists --------------------------------------------------------------------

interface MRule {
  proto: number; // -1 any
  srcNet: number;
  srcLen: number;
  dstNet: number;
  dstLen: number;
  spLo: number;
  spHi: number;
  dpLo: number;
  dpHi: number;
  allow: boolean;
  /** A prefix other than `*`: the rule matches IPv4 only (README: "`*` both"). */
  v4Only: boolean;
}

interface MSubnet {
  vn: string;
  name: string;
  vsid: number;
  net: number;
  len: number;
  gateway: number;
  broadcast: number;
  encap: Encapsulation;
  /** Dual stack: the IPv6 gateway (prefix::1) as 32 hex digits. */
  gw6?: string;
}

/** A port's ACL rules per direction (null: no rules, allow all). */
interface Acls {
  aclIn: MRule[] | null;
  aclOut: MRule[] | null;
}

/** A virtual network's HNV gateway (README "The HNV gateway"). */
interface MGateway {
  vn: string;
  host: string;
  /** The gateway vNIC's port and MAC on that host. */
  port: string;
  mac: number;
}

/** A port of a virtual switch on one host (README "Virtual switches"): a VM's, the host vNIC, the bound NIC. */
interface MSwitchPort extends Acls {
  name: string;
  host: string;
  sw: string;
  role: 'vm' | 'host' | 'nic';
  /** The VM's macAddress or the host vNIC's; the NIC has none of its own (0). */
  mac: number;
}

interface MEndpoint extends Acls {
  name: string;
  host: string;
  vn: string;
  subnet: MSubnet;
  mac: number;
  ip: number;
  /** IPv6 CA and EUI-64 link-local address, as 32 hex digits. */
  ip6?: string;
  ll: string;
  /** Merged rules per direction, in decision order; null: no rules (allow all). */
  aclIn: MRule[] | null;
  aclOut: MRule[] | null;
}

function ip(text: string): number {
  const v = parseIpv4(text);
  if (v === undefined) throw new Error(`bad address ${text}`);
  return v;
}

function macNumber(text: string): number {
  return parseInt(text.replaceAll(':', '').replaceAll('-', ''), 16);
}

function prefix(text: string): { net: number; len: number } {
  const t = text.trim();
  if (t === '*' || t === '' || t.toLowerCase() === 'any') return { net: 0, len: 0 };
  const c = parseCidr(t, true);
  if (typeof c === 'string') throw new Error(c);
  return { net: c.network, len: c.prefixLength };
}

function range(text: string): { lo: number; hi: number } {
  const t = text.trim();
  if (t === '*' || t === '') return { lo: 0, hi: 65535 };
  const [a, b] = t.split('-').map((s) => Number(s.trim()));
  return { lo: a, hi: b ?? a };
}

function ruleOf(r: AclRule): MRule {
  const proto = r.protocol === 'All' ? -1 : r.protocol === 'TCP' ? 6 : r.protocol === 'UDP' ? 17 : r.protocol === 'ICMP' ? 1 : r.protocol;
  const s = prefix(r.sourceAddressPrefix);
  const d = prefix(r.destinationAddressPrefix);
  const sp = range(r.sourcePortRange);
  const dp = range(r.destinationPortRange);
  const star = (t: string): boolean => ['*', '', 'any'].includes(t.trim().toLowerCase());
  return { proto, srcNet: s.net, srcLen: s.len, dstNet: d.net, dstLen: d.len, spLo: sp.lo, spHi: sp.hi, dpLo: dp.lo, dpHi: dp.hi, allow: r.action === 'Allow', v4Only: !star(r.sourceAddressPrefix) || !star(r.destinationAddressPrefix) };
}

/** A port's rules for one direction: its own ACL's and its subnet's, by priority, its own first on a tie. */
function mergedRules(portAcl: AccessControlList | undefined, subnetAcl: AccessControlList | undefined, type: 'Inbound' | 'Outbound'): MRule[] | null {
  const items: { r: AclRule; own: number; order: number }[] = [];
  let order = 0;
  for (const [acl, own] of [
    [portAcl, 0],
    [subnetAcl, 1],
  ] as const) {
    if (acl) for (const r of acl.aclRules) if (r.type === type) items.push({ r, own, order: order++ });
  }
  if (items.length === 0) return null;
  items.sort((a, b) => a.r.priority - b.r.priority || a.own - b.own || a.order - b.order);
  return items.map((it) => ruleOf(it.r));
}

// ---- frames -------------------------------------------------------------------------------

const u16 = (b: Uint8Array, o: number): number => (b[o] << 8) | b[o + 1];
const u32 = (b: Uint8Array, o: number): number => ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
const mac48 = (b: Uint8Array, o: number): number => u16(b, o) * 0x100000000 + u32(b, o + 2);
const isGroup = (m: number): boolean => Math.floor(m / 0x10000000000) % 2 === 1;

function onesSum(b: Uint8Array, off: number, len: number): number {
  let s = 0;
  for (let i = 0; i + 1 < len; i += 2) s += u16(b, off + i);
  if (len % 2 === 1) s += b[off + len - 1] << 8;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

interface Ipv4 {
  bad: boolean;
  ihl: number;
  proto: number;
  ttl: number;
  src: number;
  dst: number;
  id: number;
  /** Any fragment: MF set or offset != 0. */
  fragment: boolean;
  /** A non-first fragment (offset != 0). */
  later: boolean;
  /** TCP/UDP ports present (not a later fragment). */
  l4: boolean;
  sport: number;
  dport: number;
  tcpFlags: number;
  icmpType: number;
  icmpCode: number;
  /** ICMP bytes 4-5 (echo identifier). */
  icmpId: number;
  /** Offset of the L4 header in the frame, and the bytes of it. */
  l4off: number;
  l4len: number;
}

interface Arp {
  bad: boolean;
  op: number;
  sha: number;
  spa: number;
  tha: number;
  tpa: number;
}

interface Frame {
  bytes: Uint8Array;
  dst: number;
  src: number;
  ethertype: number;
  ipv4?: Ipv4;
  arp?: Arp;
  /** IPv6 without extension headers (the generator sends none). */
  ipv6?: Ipv6;
}

interface Ipv6 {
  bad: boolean;
  next: number;
  hop: number;
  /** Addresses as 32 hex digits. */
  src: string;
  dst: string;
  l4: boolean;
  sport: number;
  dport: number;
  icmpType: number;
  /** The flow as connection tracking and the ACL stage read it (addresses as small numbers). */
  flow: Ipv4;
}

const hex2 = (x: number): string => x.toString(16).padStart(2, '0');
const v6At = (b: Uint8Array, o: number): string => Array.from(b.subarray(o, o + 16), hex2).join('');

/** An IPv6 address text as 32 hex digits. */
function v6key(text: string): string {
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const hs = head ? head.split(':') : [];
  const ts = tail ? tail.split(':') : [];
  return [...hs, ...Array<string>(8 - hs.length - ts.length).fill('0'), ...ts].map((w) => w.padStart(4, '0')).join('');
}

/** The modified EUI-64 link-local address of a MAC (RFC 4291 appendix A), as 32 hex digits. */
function eui64Key(mac: number): string {
  const b: number[] = [];
  for (let i = 5, m = mac; i >= 0; i--, m = Math.floor(m / 256)) b[i] = m % 256;
  return `fe80000000000000${[b[0] ^ 2, b[1], b[2], 0xff, 0xfe, b[3], b[4], b[5]].map(hex2).join('')}`;
}

const ROUTER_LL = v6key('fe80::73:79ff:fe00:1');
const UNSPECIFIED = '0'.repeat(32);
const isLinkLocal6 = (k: string): boolean => k.startsWith('fe8') || k.startsWith('fe9') || k.startsWith('fea') || k.startsWith('feb');

/** IPv6 addresses as numbers for the connection table (a range no IPv4 address of a world uses). */
const v6ids = new Map<string, number>();
function v6id(k: string): number {
  let id = v6ids.get(k);
  if (id === undefined) v6ids.set(k, (id = 0xf0000000 + v6ids.size));
  return id;
}

function parseIpv6Part(b: Uint8Array): Ipv6 {
  const empty: Ipv4 = { bad: true, ihl: 0, proto: 0, ttl: 0, src: 0, dst: 0, id: 0, fragment: false, later: false, l4: false, sport: 0, dport: 0, tcpFlags: 0, icmpType: -1, icmpCode: -1, icmpId: 0, l4off: 0, l4len: 0 };
  const out: Ipv6 = { bad: true, next: 0, hop: 0, src: '', dst: '', l4: false, sport: 0, dport: 0, icmpType: -1, flow: empty };
  if (b.length < 54 || b[14] >> 4 !== 6) return out;
  const plen = u16(b, 18);
  if (plen > b.length - 54) return out;
  out.next = b[20];
  out.hop = b[21];
  out.src = v6At(b, 22);
  out.dst = v6At(b, 38);
  const flow: Ipv4 = { ...empty, bad: false, proto: out.next, ttl: out.hop, src: v6id(out.src), dst: v6id(out.dst), l4off: 54, l4len: plen };
  if (out.next === 6) {
    if (plen < 20) return out;
    out.l4 = flow.l4 = true;
    out.sport = flow.sport = u16(b, 54);
    out.dport = flow.dport = u16(b, 56);
    flow.tcpFlags = b[67];
  } else if (out.next === 17) {
    if (plen < 8) return out;
    out.l4 = flow.l4 = true;
    out.sport = flow.sport = u16(b, 54);
    out.dport = flow.dport = u16(b, 56);
  } else if (out.next === 58) {
    if (plen < 4) return out;
    out.icmpType = flow.icmpType = b[54];
    flow.icmpCode = b[55];
    flow.icmpId = plen >= 6 ? u16(b, 58) : 0;
  }
  out.flow = flow;
  out.bad = false;
  return out;
}

function parseIpv4Part(b: Uint8Array): Ipv4 {
  const l3 = 14;
  const avail = b.length - l3;
  const out: Ipv4 = { bad: true, ihl: 0, proto: 0, ttl: 0, src: 0, dst: 0, id: 0, fragment: false, later: false, l4: false, sport: 0, dport: 0, tcpFlags: 0, icmpType: -1, icmpCode: -1, icmpId: 0, l4off: 0, l4len: 0 };
  if (avail < 20 || b[l3] >> 4 !== 4) return out;
  const ihl = (b[l3] & 15) * 4;
  if (ihl < 20 || ihl > avail) return out;
  const total = u16(b, l3 + 2);
  if (total > avail || total < ihl) return out;
  if (onesSum(b, l3, ihl) !== 0xffff) return out;
  out.ihl = ihl;
  out.proto = b[l3 + 9];
  out.ttl = b[l3 + 8];
  out.src = u32(b, l3 + 12);
  out.dst = u32(b, l3 + 16);
  out.id = u16(b, l3 + 4);
  const ff = u16(b, l3 + 6);
  out.later = (ff & 0x1fff) !== 0;
  out.fragment = out.later || (ff & 0x2000) !== 0;
  const l4 = l3 + ihl;
  const l4len = total - ihl;
  out.l4off = l4;
  out.l4len = l4len;
  if (!out.later) {
    if (out.proto === 6) {
      if (l4len < 20 || b[l4 + 12] >> 4 < 5) return out;
      out.l4 = true;
      out.sport = u16(b, l4);
      out.dport = u16(b, l4 + 2);
      out.tcpFlags = b[l4 + 13];
    } else if (out.proto === 17) {
      if (l4len < 8) return out;
      out.l4 = true;
      out.sport = u16(b, l4);
      out.dport = u16(b, l4 + 2);
    } else if (out.proto === 1) {
      if (l4len < 8) return out;
      out.icmpType = b[l4];
      out.icmpCode = b[l4 + 1];
      out.icmpId = u16(b, l4 + 4);
    }
  }
  out.bad = false;
  return out;
}

function parseArpPart(b: Uint8Array): Arp {
  const a = 14;
  const op = b.length - a >= 28 ? u16(b, a + 6) : 0;
  if (b.length - a < 28 || u16(b, a) !== 1 || u16(b, a + 2) !== 0x0800 || b[a + 4] !== 6 || b[a + 5] !== 4 || (op !== 1 && op !== 2)) {
    return { bad: true, op: 0, sha: 0, spa: 0, tha: 0, tpa: 0 };
  }
  return { bad: false, op: u16(b, a + 6), sha: mac48(b, a + 8), spa: u32(b, a + 14), tha: mac48(b, a + 18), tpa: u32(b, a + 24) };
}

/** The Ethernet header and, for IPv4 and ARP, the payload fields (frames of >= 14 bytes). */
function parseFrame(b: Uint8Array): Frame {
  const f: Frame = { bytes: b, dst: mac48(b, 0), src: mac48(b, 6), ethertype: u16(b, 12) };
  if (f.ethertype === 0x0800) f.ipv4 = parseIpv4Part(b);
  else if (f.ethertype === 0x0806) f.arp = parseArpPart(b);
  else if (f.ethertype === 0x86dd) f.ipv6 = parseIpv6Part(b);
  return f;
}

/** The router's rewrite: MACs, TTL - 1, header checksum recomputed. */
function routed(f: Frame, dstMac: number): Uint8Array {
  const b = f.bytes.slice();
  const put = (o: number, m: number): void => {
    for (let i = 5; i >= 0; i--) {
      b[o + i] = m % 256;
      m = Math.floor(m / 256);
    }
  };
  put(0, dstMac);
  put(6, ROUTER_MAC);
  if (u16(b, 12) === 0x86dd) {
    b[21] -= 1;
    return b;
  }
  b[22] -= 1;
  b[24] = 0;
  b[25] = 0;
  const ihl = (b[14] & 15) * 4;
  const s = ~onesSum(b, 14, ihl) & 0xffff;
  b[24] = s >> 8;
  b[25] = s & 255;
  return b;
}

/** DHCP client or server ports (68 -> 67, 67 -> 68): never forwarded (the dhcp layers). */
function isDhcp(v: NonNullable<Frame['ipv4']>): boolean {
  return v.proto === 17 && v.l4 && ((v.sport === 68 && v.dport === 67) || (v.sport === 67 && v.dport === 68));
}

function isDhcpFromZero(f: Frame): boolean {
  const v = f.ipv4!;
  return v.src === 0 && v.proto === 17 && v.l4 && v.sport === 68 && v.dport === 67 && v.dst === 0xffffffff && f.dst === BROADCAST_MAC;
}

// ---- connection tracking and fragments (per host, plain lists) ----------------------------

const enum St {
  SynSent,
  SynRecv,
  Established,
  FinWait,
  Closing,
  TimeWait,
  Closed,
  Open,
}

interface Conn {
  vn: string;
  proto: number;
  /** The side that opened it. */
  origSrc: number;
  origPort: number;
  origDst: number;
  origDport: number;
  state: St;
  /** On a virtual switch (README "Whose connection is it"): the port that opened it, and the port
   * it was delivered to, or FLOOD while only a flood delivered it (the first port of the switch
   * that took its copy and answers becomes it). Undefined on HNV: any port (addresses bind ports). */
  origin?: string;
  receiver?: string;
}

/** Conn.receiver: delivered by a flood to several ports, none of which has answered yet. */
const FLOOD = '(flood)';

/** The switch's side of one frame's ACL stage: the sending port, whether the switch floods it, and
 * the connections this very frame started or ended (a flood's earlier copies). */
interface SwitchStage {
  from: MSwitchPort;
  flooding: boolean;
  fresh: (c: Conn) => boolean;
  /** Set when a copy ended a connection: the same frame does not start it again. */
  ended: boolean;
}

interface FragVerdict {
  key: string;
  deliveries: string[];
  drops: string[];
  remote: { host: string; subnet: MSubnet; routeTo: number | undefined }[];
}

interface HostState {
  conns: Conn[];
  frags: FragVerdict[];
  /** Each switch's learned MACs here: switch name -> (MAC -> port name). */
  learned: Map<string, Map<number, string>>;
}

/** Conntrack's view of a frame's ports: TCP/UDP ports; ICMP: the identifier both ways; else 0. */
function ctPorts(v: Ipv4): [number, number] {
  if (v.proto === 1 || v.proto === 58) return [v.icmpId, v.icmpId];
  return v.l4 ? [v.sport, v.dport] : [0, 0];
}

function connOf(h: HostState, vn: string, v: Ipv4): { c: Conn; reply: boolean } | undefined {
  const [sp, dp] = ctPorts(v);
  for (const c of h.conns) {
    if (c.vn !== vn || c.proto !== v.proto) continue;
    if (c.origSrc === v.src && c.origPort === sp && c.origDst === v.dst && c.origDport === dp) return { c, reply: false };
    if (c.origSrc === v.dst && c.origPort === dp && c.origDst === v.src && c.origDport === sp) return { c, reply: true };
  }
  return undefined;
}

/** As conntrack's: not after a reset; in TIME_WAIT anything but a new SYN (flags 0: an ICMP error about it). */
const admitsReply = (c: Conn, tcpFlags = 0): boolean => c.state !== St.Closed && (c.state !== St.TimeWait || (tcpFlags & 0x12) !== 0x02);

function newConn(h: HostState, vn: string, v: Ipv4): Conn {
  const old = connOf(h, vn, v);
  if (old) h.conns.splice(h.conns.indexOf(old.c), 1);
  const [sp, dp] = ctPorts(v);
  let state = St.Open;
  if (v.proto === 6) state = v.tcpFlags & 4 ? St.Closed : (v.tcpFlags & 0x12) === 0x02 ? St.SynSent : St.Established;
  const c: Conn = { vn, proto: v.proto, origSrc: v.src, origPort: sp, origDst: v.dst, origDport: dp, state };
  h.conns.push(c);
  return c;
}

/** TCP state changes by one frame (as today's conntrack). */
function advance(c: Conn, reply: boolean, v: Ipv4): void {
  if (c.proto !== 6) return;
  const fl = v.tcpFlags;
  const st = c.state;
  if (fl & 4) c.state = St.Closed;
  else if (fl & 2) {
    if (!reply && (fl & 0x10) === 0) {
      if (st === St.TimeWait || st === St.Closed) c.state = St.SynSent;
    } else if (reply && fl & 0x10 && st === St.SynSent) c.state = St.SynRecv;
  } else if (fl & 1) {
    if (st === St.SynSent || st === St.SynRecv || st === St.Established) c.state = St.FinWait;
    else if (st === St.FinWait) c.state = St.Closing;
  } else if (fl & 0x10) {
    if (st === St.SynRecv) c.state = St.Established;
    else if (st === St.Closing) c.state = St.TimeWait;
  }
}

// ---- the model ------------------------------------------------------------------------------

/** Where one stage (one host) sends the frame, and what it drops. */
/**
 * What every port's first layer checks first, in this order: a frame too short for Ethernet, one
 * the parser finds malformed (spec step 0), a VLAN/QinQ tag. The parsed frame, or undefined when
 * `st` has taken the drop.
 */
function portFrame(b: Uint8Array, st: Stage): Frame | undefined {
  if (b.length < 14) {
    st.drop('malformed');
    return undefined;
  }
  const f = parseFrame(b);
  if (f.arp?.bad || f.ipv4?.bad) {
    st.drop('malformed');
    return undefined;
  }
  const et = u16(b, 12);
  if (et === 0x8100 || et === 0x88a8 || et === 0x9100) {
    st.drop('vlan-tagged');
    return undefined;
  }
  return f;
}

class Stage {
  deliveries: string[] = [];
  drops: string[] = [];
  /** Ends the stage with drop reason `r`. */
  drop(r: string): Stage {
    this.drops.push(r);
    return this;
  }
  /** Encapsulated copies to follow: (to host, subnet, frame bytes; the new destination MAC when routed). */
  remote: { host: string; subnet: MSubnet; bytes: Uint8Array; routeTo: number | undefined }[] = [];
}

export class IsolationModel {
  private subnets: MSubnet[] = [];
  private endpoints: MEndpoint[] = [];
  private switchPorts: MSwitchPort[] = [];
  private gateways: MGateway[] = [];
  private pas: { host: string; pa: number }[] = [];
  /** Connections and fragments per host: they outlive reloads (keyed by names, not positions). */
  private readonly state = new Map<string, HostState>();

  /** When a connection is tracked: where an ACL table applies to the frame (today's rule), or
   * whenever the sending or receiving port has any ACL rules. */
  constructor(
    policy: Policy,
    readonly trackWhen: 'table-applies' | 'port-has-acl' = 'port-has-acl',
  ) {
    this.load(policy);
  }

  private load(policy: Policy): void {
    this.subnets = [];
    this.endpoints = [];
    this.pas = [];
    for (const h of policy.hosts) {
      if (!this.state.has(h.name)) this.state.set(h.name, { conns: [], frags: [], learned: new Map() });
      for (const pa of h.providerAddresses) this.pas.push({ host: h.name, pa: ip(pa) });
    }
    for (const vn of policy.virtualNetworks) {
      for (const s of vn.subnets) {
        const c = parseCidr(s.addressPrefix);
        if (typeof c === 'string') throw new Error(c);
        // the IPv6 gateway is prefix::1 (README "IPv6 CAs")
        const gw6 = s.ipv6AddressPrefix ? `${v6key(s.ipv6AddressPrefix.split('/')[0]).slice(0, 31)}1` : undefined;
        this.subnets.push({ vn: vn.name, name: s.name, vsid: s.vsid, net: c.network, len: c.prefixLength, gateway: (c.network + 1) >>> 0, broadcast: (c.network | ~maskOf(c.prefixLength)) >>> 0, encap: s.encapsulation ?? 'vxlan', ...(gw6 ? { gw6 } : {}) });
      }
    }
    const acl = (name: string | undefined): AccessControlList | undefined => (name === undefined ? undefined : policy.accessControlLists.find((a) => a.name === name));
    this.gateways = [];
    for (const vn of policy.virtualNetworks) if (vn.gateway) this.gateways.push({ vn: vn.name, host: vn.gateway.host, port: gatewayPort(vn.name), mac: gatewayMacNumber(vn.name) });
    this.switchPorts = [];
    for (const sw of policy.switches ?? []) {
      const hosts: string[] = [];
      for (const n of policy.networkInterfaces) {
        if (n.switch !== sw.name) continue;
        if (!hosts.includes(n.host)) hosts.push(n.host);
        const a = acl(n.accessControlList);
        this.switchPorts.push({ name: n.name, host: n.host, sw: sw.name, role: 'vm', mac: macNumber(n.macAddress), aclIn: mergedRules(a, undefined, 'Inbound'), aclOut: mergedRules(a, undefined, 'Outbound') });
      }
      // the switch exists on each host with a port on it; the host vNIC and the bound NIC take no ACL
      for (const h of hosts) {
        if (sw.switchType === 'Internal') this.switchPorts.push({ name: switchHostPort(sw.name), host: h, sw: sw.name, role: 'host', mac: switchHostMacNumber(h, sw.name), aclIn: null, aclOut: null });
        if (sw.switchType === 'External') this.switchPorts.push({ name: switchNicPort(sw.name), host: h, sw: sw.name, role: 'nic', mac: 0, aclIn: null, aclOut: null });
      }
    }
    for (const n of policy.networkInterfaces) {
      if (n.switch !== undefined) continue;
      const subnet = this.subnets.find((s) => s.vn === n.virtualNetwork && s.name === n.subnet)!;
      const sAcl = policy.virtualNetworks.find((v) => v.name === n.virtualNetwork)!.subnets.find((s) => s.name === n.subnet)!.accessControlList;
      this.endpoints.push({
        name: n.name,
        host: n.host,
        vn: n.virtualNetwork!,
        subnet,
        mac: macNumber(n.macAddress),
        ip: ip(n.ipAddress!),
        ...(n.ipv6Address ? { ip6: v6key(n.ipv6Address) } : {}),
        ll: eui64Key(macNumber(n.macAddress)),
        aclIn: mergedRules(acl(n.accessControlList), acl(sAcl), 'Inbound'),
        aclOut: mergedRules(acl(n.accessControlList), acl(sAcl), 'Outbound'),
      });
    }
  }

  /** The outcome of one event, across every host it reaches. */
  run(e: Event): Outcome {
    const out: Outcome = { deliveries: [], drops: [] };
    if (e.kind === 'reload') {
      this.load(e.policy);
      // a first fragment remembered under the old policy no longer speaks for its followers
      for (const s of this.state.values()) s.frags = [];
      return out;
    }
    let stage: Stage;
    let from: string;
    if (e.kind === 'port') {
      const X = this.endpoints.find((p) => p.host === e.host && p.name === e.port);
      const P = this.switchPorts.find((p) => p.host === e.host && p.name === e.port);
      const G = this.gateways.find((g) => g.host === e.host && g.port === e.port);
      if (X) stage = this.egress(X, e.frame);
      else if (P) stage = this.switchEgress(P, e.frame);
      else if (G) stage = this.gatewayEgress(G, e.frame);
      else throw new Error(`no port ${e.host}/${e.port}`);
      from = e.host;
    } else {
      stage = this.fromUnderlay(e.host, e.srcPa, e.encap, e.payload);
      from = '';
    }
    out.deliveries.push(...stage.deliveries);
    out.drops.push(...stage.drops);
    for (const r of stage.remote) {
      // an encapsulated copy: what the receiving host makes of it (never re-encapsulated)
      out.deliveries.push(encapDelivery(from, r.host, r.subnet.encap, r.subnet.vsid));
      const s2 = this.ingress(r.host, from, r.subnet, r.bytes);
      out.deliveries.push(...s2.deliveries);
      out.drops.push(...s2.drops);
      if (s2.remote.length > 0) throw new Error('model: ingress never encapsulates');
    }
    return out;
  }

  // ---- ACLs ----

  private static matches(r: MRule, f: Frame): boolean {
    const v = f.ipv4;
    const wildPorts = r.spLo === 0 && r.spHi === 65535 && r.dpLo === 0 && r.dpHi === 65535;
    const v6 = f.ipv6;
    if (v6 && !v6.bad) {
      if (r.v4Only || (r.proto !== -1 && r.proto !== (v6.next === 58 ? 1 : v6.next))) return false;
      return wildPorts || (v6.l4 && v6.sport >= r.spLo && v6.sport <= r.spHi && v6.dport >= r.dpLo && v6.dport <= r.dpHi);
    }
    if (!v) return r.proto === -1 && r.srcLen === 0 && r.dstLen === 0 && !r.v4Only && wildPorts;
    if (r.proto !== -1 && r.proto !== v.proto) return false;
    if (r.srcLen !== 0 && ((v.src & maskOf(r.srcLen)) >>> 0) !== r.srcNet) return false;
    if (r.dstLen !== 0 && ((v.dst & maskOf(r.dstLen)) >>> 0) !== r.dstNet) return false;
    if (wildPorts) return true;
    return v.l4 && v.sport >= r.spLo && v.sport <= r.spHi && v.dport >= r.dpLo && v.dport <= r.dpHi;
  }

  /** Stateless: no rules allow all; else the first matching rule, default deny. */
  private static allows(rules: MRule[] | null, f: Frame): boolean {
    if (rules === null) return true;
    for (const r of rules) if (IsolationModel.matches(r, f)) return r.allow;
    return false;
  }

  /**
   * May `from` (a switch port; null: HNV) use connection `c` as side `reply`? The orig side is its
   * origin, the reply side its receiver; while only a flood delivered it, any other port of the
   * switch whose inbound rules take `orig` (the orig-direction packet; no inbound rules: every
   * copy) - the first to ask becomes its receiver.
   */
  private static takesPart(c: Conn, from: MSwitchPort | null, reply: boolean, orig: Ipv4): boolean {
    if (from === null || c.origin === undefined) return true;
    if (!reply) return from.name === c.origin;
    if (from.name === c.receiver) return true;
    if (c.receiver !== FLOOD || from.name === c.origin) return false;
    if (!IsolationModel.allows(from.aclIn, { ipv4: orig } as Frame)) return false;
    c.receiver = from.name;
    return true;
  }

  /** An ICMP error quoting a packet of a live connection that the error's destination sent (and,
   * on a switch, whose other side is the error's sender). */
  private related(h: HostState, vn: string, f: Frame, from: MSwitchPort | null = null): boolean {
    const v = f.ipv4!;
    if (v.proto !== 1 || v.later || ![3, 11, 12].includes(v.icmpType)) return false;
    const b = f.bytes;
    const q = v.l4off + 8;
    if (v.l4len < 8 + 20 || b[q] >> 4 !== 4) return false;
    const qihl = (b[q] & 15) * 4;
    if (qihl < 20 || v.l4len < 8 + qihl + 8) return false;
    const qproto = b[q + 9];
    const qsrc = u32(b, q + 12);
    const qdst = u32(b, q + 16);
    if (qsrc !== v.dst) return false;
    const ql4 = q + qihl;
    const quoted: Ipv4 = { ...v, proto: qproto, src: qsrc, dst: qdst, later: false, l4: qproto === 6 || qproto === 17, sport: u16(b, ql4), dport: u16(b, ql4 + 2), icmpId: u16(b, ql4 + 4) };
    const m = connOf(h, vn, quoted);
    // the quoted packet's side sent it; the error comes from the other side
    return m !== undefined && admitsReply(m.c) && IsolationModel.takesPart(m.c, from, !m.reply, quoted);
  }

  /** The stateful ACL stage at `host` from `src` (a local sender or null) to `dst` (a local receiver or null).
   * `sw`: on a virtual switch, the sending port and what this frame did so far (SwitchStage). */
  private aclStage(host: string, vn: string, f: Frame, src: Acls | null, dst: Acls | null, sw?: SwitchStage): boolean {
    const h = this.state.get(host)!;
    const outT = src ? src.aclOut : null;
    const inT = dst ? dst.aclIn : null;
    const v = f.ipv4 ?? (f.ipv6 && !f.ipv6.bad ? f.ipv6.flow : undefined);
    // SILENT: tracked only where an ACL table applies to this frame at this host (as today), so
    // a port whose ACL has inbound rules only is not stateful; `trackWhen: 'port-has-acl'`
    // tracks every connection of a port with any rules (then its replies pass its inbound rules)
    const hasAcl = (p: Acls | null): boolean => p !== null && (p.aclIn !== null || p.aclOut !== null);
    const tracked = this.trackWhen === 'port-has-acl' ? hasAcl(src) || hasAcl(dst) : outT !== null || inT !== null;
    if (!v || !tracked) return IsolationModel.allows(outT, f) && IsolationModel.allows(inT, f);
    const from = sw?.from ?? null;
    if (f.ipv4 && this.related(h, vn, f, from)) return true;
    const m = connOf(h, vn, v);
    const ok = (): boolean => IsolationModel.allows(outT, f) && IsolationModel.allows(inT, f);
    // README "Whose connection is it": another conversation's 5-tuple is the sender's own new
    // frame, and it neither continues, ends nor restarts that conversation
    if (m && !IsolationModel.takesPart(m.c, from, m.reply, m.reply ? { ...v, src: v.dst, dst: v.src, sport: v.dport, dport: v.sport } : v)) return ok();
    if (m && m.reply && admitsReply(m.c, v.proto === 6 ? v.tcpFlags : 0)) {
      advance(m.c, true, v);
      return true;
    }
    if (!ok()) {
      // a denied orig direction ends the connection it would have continued (a flooded copy: only
      // its receiver's), unless this very frame started it (a flood's earlier copies)
      const ends = m !== undefined && !m.reply && !(sw?.fresh(m.c) ?? false) && (!sw?.flooding || dst === null || (dst as MSwitchPort).name === m.c.receiver);
      if (ends) {
        h.conns.splice(h.conns.indexOf(m.c), 1);
        if (sw) sw.ended = true;
      }
      return false;
    }
    if (m && !m.reply) advance(m.c, false, v);
    else if (!sw?.ended) {
      const c = newConn(h, vn, v);
      if (sw) c.origin = sw.from.name;
      advance(c, false, v);
    }
    return true;
  }

  // ---- lookups (linear) ----

  private gatewayOf(vn: string): MGateway | undefined {
    return this.gateways.find((g) => g.vn === vn);
  }

  /** An IPv4 address outside every subnet of virtual network `vn` (the gateway's side) that a router
   * forwards at all: unicast, not 0/8, loopback or link-local (RFC 1122 3.2.1.3, RFC 3927 2.7). */
  private outsideSubnets(vn: string, a: number): boolean {
    const first = a >>> 24;
    if (first === 0 || first === 127 || first >= 224 || a >>> 16 === 0xa9fe) return false;
    return !this.subnets.some((s) => s.vn === vn && ((a & maskOf(s.len)) >>> 0) === s.net);
  }

  private endpointByMac(s: MSubnet, mac: number): MEndpoint | undefined {
    return this.endpoints.find((p) => p.subnet === s && p.mac === mac);
  }

  private localPorts(host: string, s: MSubnet): MEndpoint[] {
    return this.endpoints.filter((p) => p.host === host && p.subnet === s);
  }

  private remoteHosts(host: string, s: MSubnet): string[] {
    const out: string[] = [];
    for (const p of this.endpoints) if (p.subnet === s && p.host !== host && !out.includes(p.host)) out.push(p.host);
    return out;
  }

  /** Sends the frame to endpoint D: into D's port when local, else encapsulated to D's host. */
  private toEndpoint(st: Stage, host: string, D: MEndpoint, f: Frame, route: boolean): void {
    if (D.host === host) st.deliveries.push(portDelivery(host, D.name));
    else st.remote.push({ host: D.host, subnet: D.subnet, bytes: route ? routed(f, D.mac) : f.bytes, routeTo: route ? D.mac : undefined });
  }

  private static forPort(v: Ipv4, s: MSubnet, D: MEndpoint): boolean {
    return v.dst === D.ip || v.dst === 0xffffffff || v.dst === s.broadcast || v.dst >>> 28 === 0xe;
  }

  /** Step 8 (both directions): a later fragment takes the verdict recorded for its first fragment. */
  private static fragKey(v: Ipv4, where: string): string {
    return `${where} ${v.src} ${v.dst} ${v.proto} ${v.id}`;
  }

  private followFragment(host: string, where: string, f: Frame, st: Stage): boolean {
    const v = f.ipv4!;
    if (!v.later) return false;
    const key = IsolationModel.fragKey(v, where);
    const rec = this.state.get(host)!.frags.find((r) => r.key === key);
    if (!rec) st.drops.push('fragment-orphan');
    else {
      st.deliveries.push(...rec.deliveries);
      st.drops.push(...rec.drops);
      for (const r of rec.remote) st.remote.push({ ...r, bytes: r.routeTo === undefined ? f.bytes : routed(f, r.routeTo) });
    }
    return true;
  }

  private recordFragment(host: string, where: string, v: Ipv4, st: Stage, group = false): void {
    // only unicast datagrams are followed: later fragments of a broadcast/multicast one are orphans
    if (!v.fragment || v.later || group) return;
    const h = this.state.get(host)!;
    const key = IsolationModel.fragKey(v, where);
    h.frags = h.frags.filter((r) => r.key !== key);
    h.frags.push({ key, deliveries: st.deliveries.filter((d) => !d.startsWith('hairpin')), drops: st.drops.slice(), remote: st.remote.map((r) => ({ host: r.host, subnet: r.subnet, routeTo: r.routeTo })) });
  }

  // ---- egress: a frame sent by local port X ----

  private egress(X: MEndpoint, b: Uint8Array): Stage {
    const st = new Stage();
    const drop = (r: string): Stage => st.drop(r);
    const f = portFrame(b, st);
    if (f === undefined) return st;
    const et = u16(b, 12);
    if (f.src !== X.mac) return drop('spoofed');
    if (et === 0x86dd) {
      if (X.ip6 === undefined) return drop('ipv6-disabled');
      this.ipv6Egress(X, f, st);
      return st;
    }
    if (et !== 0x0800 && et !== 0x0806) return drop('ethertype');
    const S = X.subnet;
    if (f.arp) {
      const a = f.arp;
      if (a.bad) return drop('malformed');
      if (a.sha !== X.mac) return drop('spoofed');
      if (a.spa === 0) return drop(a.op === 1 ? 'arp-ignored' : 'spoofed');
      if (a.spa !== X.ip) return drop('spoofed');
      if (a.op === 1) {
        if (a.spa === a.tpa || a.tpa === X.ip) return drop('arp-ignored');
        if (a.tpa === S.gateway) {
          st.deliveries.push(hairpinDelivery(X.host, X.name));
          return st;
        }
        if (this.endpoints.some((p) => p !== X && p.subnet === S && p.ip === a.tpa)) {
          st.deliveries.push(hairpinDelivery(X.host, X.name));
          return st;
        }
        return drop('arp-unknown');
      }
      if (a.op !== 2) return drop('arp-ignored');
      if (isGroup(f.dst)) return drop('arp-ignored');
      return this.unicastEgress(X, f, st);
    }
    const v = f.ipv4!;
    if (v.bad) return drop('malformed');
    if (v.src !== X.ip && !isDhcpFromZero(f)) return drop('spoofed');
    if (this.followFragment(X.host, `out ${X.name}`, f, st)) return st;
    this.ipv4Egress(X, f, st);
    this.recordFragment(X.host, `out ${X.name}`, v, st, isGroup(f.dst));
    return st;
  }

  private ipv4Egress(X: MEndpoint, f: Frame, st: Stage): void {
    const v = f.ipv4!;
    const S = X.subnet;
    // no port in the model is Dynamic: every DHCP message is dropped
    if (isDhcp(v)) {
      st.drops.push('dhcp');
      return;
    }
    if (isGroup(f.dst)) {
      if (!IsolationModel.allows(X.aclOut, f)) {
        st.drops.push('acl-deny');
        return;
      }
      let copies = 0;
      for (const Y of this.localPorts(X.host, S)) {
        if (Y === X) continue;
        if (IsolationModel.allows(Y.aclIn, f)) {
          st.deliveries.push(portDelivery(X.host, Y.name));
          copies++;
        } else st.drops.push('acl-deny'); // SILENT: one per refused copy
      }
      for (const h of this.remoteHosts(X.host, S)) {
        st.remote.push({ host: h, subnet: S, bytes: f.bytes, routeTo: undefined });
        copies++;
      }
      if (copies === 0) st.drops.push('no-port'); // SILENT: as today, also after refused copies
      return;
    }
    if (f.dst === ROUTER_MAC) {
      if (v.dst === S.gateway) {
        if (v.proto === 1 && v.icmpType === 8 && !v.fragment) st.deliveries.push(hairpinDelivery(X.host, X.name));
        else st.drops.push('router-local');
        return;
      }
      const D = this.endpoints.find((p) => p.vn === X.vn && p.ip === v.dst && p !== X);
      const G = this.gatewayOf(X.vn);
      if (!D && G && this.outsideSubnets(X.vn, v.dst)) {
        // README "The HNV gateway": outside every subnet -> the gateway vNIC (VSID of the sender's subnet)
        if (!this.aclStage(X.host, X.vn, f, X, null)) {
          st.drops.push('acl-deny');
          return;
        }
        if (v.ttl <= 1) {
          st.drops.push('ttl-exceeded');
          st.deliveries.push(hairpinDelivery(X.host, X.name));
          return;
        }
        if (G.host === X.host) st.deliveries.push(portDelivery(X.host, G.port));
        else st.remote.push({ host: G.host, subnet: S, bytes: routed(f, G.mac), routeTo: G.mac });
        return;
      }
      if (!D) {
        st.drops.push('no-route');
        return;
      }
      if (!this.aclStage(X.host, X.vn, f, X, D.host === X.host ? D : null)) {
        st.drops.push('acl-deny');
        return;
      }
      if (v.ttl <= 1) {
        st.drops.push('ttl-exceeded');
        st.deliveries.push(hairpinDelivery(X.host, X.name));
        return;
      }
      this.toEndpoint(st, X.host, D, f, true);
      return;
    }
    this.unicastEgress(X, f, st);
  }

  /** Other unicast (IPv4, or a unicast ARP reply): to another endpoint of X's subnet. */
  private unicastEgress(X: MEndpoint, f: Frame, st: Stage): Stage {
    const D = this.endpointByMac(X.subnet, f.dst);
    if (!D || D === X) {
      st.drops.push('no-port');
      return st;
    }
    if (f.ipv4 && !IsolationModel.forPort(f.ipv4, X.subnet, D)) {
      st.drops.push('not-for-port');
      return st;
    }
    if (!this.aclStage(X.host, X.vn, f, X, D.host === X.host ? D : null)) {
      st.drops.push('acl-deny');
      return st;
    }
    this.toEndpoint(st, X.host, D, f, false);
    return st;
  }

  // ---- IPv6 of a dual-stack port (README "IPv6 CAs (dual stack)") ----

  private static isNd(v: Ipv6): boolean {
    return v.next === 58 && v.icmpType >= 133 && v.icmpType <= 137;
  }

  private static isMld(v: Ipv6): boolean {
    return v.next === 58 && (v.icmpType === 130 || v.icmpType === 131 || v.icmpType === 132 || v.icmpType === 143);
  }

  private ipv6Egress(X: MEndpoint, f: Frame, st: Stage): void {
    const v = f.ipv6!;
    const S = X.subnet;
    const drop = (r: string): void => {
      st.drops.push(r);
    };
    if (v.bad) return drop('malformed');
    const nd = IsolationModel.isNd(v);
    const mld = IsolationModel.isMld(v);
    // the port's CA or its EUI-64 link-local address; :: only for DAD NS, RS and MLD
    const unspecifiedOk = v.src === UNSPECIFIED && (mld || v.icmpType === 135 || v.icmpType === 133) && v.next === 58;
    if (v.src !== X.ip6 && v.src !== X.ll && !unspecifiedOk) return drop('spoofed');
    if (mld) return drop('nd-ignored');
    if (nd) {
      if (v.hop !== 255) return drop('nd-ignored');
      if (v.icmpType === 133) {
        st.deliveries.push(hairpinDelivery(X.host, X.name)); // router advertisement
        return;
      }
      if (v.icmpType !== 135 || v.src === UNSPECIFIED) return drop('nd-ignored');
      const target = v6At(f.bytes, 62);
      if (target === S.gw6 || target === ROUTER_LL || this.endpoints.some((p) => p !== X && p.subnet === S && (p.ip6 === target || p.ll === target))) {
        st.deliveries.push(hairpinDelivery(X.host, X.name));
        return;
      }
      return drop('nd-unknown');
    }
    // README's table: to prefix::1 or the router's link-local: an echo request to the router MAC is
    // answered; anything else to them (SILENT: to another MAC too) is router-local
    if (v.dst === S.gw6 || v.dst === ROUTER_LL) {
      if (v.next === 58 && v.icmpType === 128 && f.dst === ROUTER_MAC) st.deliveries.push(hairpinDelivery(X.host, X.name));
      else drop('router-local');
      return;
    }
    if (f.dst === ROUTER_MAC) {
      const D = isLinkLocal6(v.dst) ? undefined : this.endpoints.find((p) => p !== X && p.vn === X.vn && p.ip6 === v.dst);
      if (!D) return drop('no-route');
      if (!this.aclStage(X.host, X.vn, f, X, D.host === X.host ? D : null)) return drop('acl-deny');
      if (v.hop <= 1) {
        drop('ttl-exceeded');
        st.deliveries.push(hairpinDelivery(X.host, X.name));
        return;
      }
      this.toEndpoint(st, X.host, D, f, true);
      return;
    }
    const D = this.endpointByMac(S, f.dst);
    if (!D || D === X) return drop('no-port');
    if (v.dst !== D.ip6 && v.dst !== D.ll && !v.dst.startsWith('ff')) return drop('not-for-port');
    if (!this.aclStage(X.host, X.vn, f, X, D.host === X.host ? D : null)) return drop('acl-deny');
    this.toEndpoint(st, X.host, D, f, false);
  }

  /** IPv6 from the wire into dual-stack subnet S at `host`, sent by host H. */
  private ipv6Ingress(host: string, H: string, S: MSubnet, f: Frame, st: Stage): Stage {
    const v = f.ipv6!;
    const drop = (r: string): Stage => st.drop(r);
    if (v.bad) return drop('malformed');
    // each host answers ND itself: none in a tunnel
    if (IsolationModel.isNd(v) || IsolationModel.isMld(v)) return drop('nd-ignored');
    let owned: boolean;
    if (f.src === ROUTER_MAC) owned = this.endpoints.some((p) => p.vn === S.vn && p.host === H && p.ip6 !== undefined && p.ip6 === v.src);
    else {
      const E = this.endpoints.find((p) => p.subnet === S && p.host === H && p.mac === f.src);
      owned = E !== undefined && (v.src === E.ip6 || v.src === E.ll);
    }
    if (!owned) return drop('src-not-owned');
    if (isGroup(f.dst)) {
      let copies = 0;
      for (const Y of this.localPorts(host, S)) {
        if (IsolationModel.allows(Y.aclIn, f)) {
          st.deliveries.push(portDelivery(host, Y.name));
          copies++;
        } else st.drops.push('acl-deny');
      }
      if (copies === 0) st.drops.push('no-port');
      return st;
    }
    const Y = this.endpoints.find((p) => p.host === host && p.subnet === S && p.mac === f.dst);
    if (!Y) return drop('no-port');
    if (v.dst !== Y.ip6 && v.dst !== Y.ll && !v.dst.startsWith('ff')) return drop('not-for-port');
    if (!this.aclStage(host, S.vn, f, null, Y)) return drop('acl-deny');
    st.deliveries.push(portDelivery(host, Y.name));
    return st;
  }

  // ---- a virtual switch's port (README "Virtual switches and NAT networking") ----

  /** switch-guard, acl-out (a VM's port with an ACL), switch (learn, then known unicast or flood), acl-in per copy. */
  private switchEgress(P: MSwitchPort, b: Uint8Array): Stage {
    const st = new Stage();
    const drop = (r: string): Stage => st.drop(r);
    const f = portFrame(b, st);
    if (f === undefined) return st;
    const et = u16(b, 12);
    const mine = this.switchPorts.filter((q) => q.host === P.host && q.sw === P.sw);
    if (P.role === 'nic') {
      // the bound NIC: anyone outside, but never a group source nor a MAC of this switch's ports
      if (isGroup(f.src) || mine.some((q) => q.role !== 'nic' && q.mac === f.src)) return drop('spoofed');
    } else if (f.src !== P.mac || (f.arp && f.arp.sha !== P.mac)) return drop('spoofed');
    const zone = `switch ${P.host}/${P.sw}`;
    // ACLs apply to IP (IPv4 and IPv6); ARP and other EtherTypes pass
    const isIp = et === 0x0800 || et === 0x86dd;
    // stateful in the switch's zone: a port with any ACL rules tracks what it sends (its replies then pass its acl-in)
    const stage = (p: MSwitchPort, out: boolean): boolean => (out ? p.aclOut : p.aclIn) !== null || (this.trackWhen === 'port-has-acl' && (p.aclIn !== null || p.aclOut !== null));
    // IPv6 there is the VM's own (addresses policy does not know): the rules alone decide it (README)
    const v6 = et === 0x86dd;
    // broadcast/multicast: the rules alone, as on an HNV port (never tracked)
    // a connection starts only with a frame that is delivered somewhere (SILENT: as the engine commits)
    const h = this.state.get(P.host)!;
    const connsBefore = new Set(h.conns);
    // README "Virtual switches": "a denied copy counts acl-deny" and "an allowed flooded frame starts
    // its connection, so the reply finds it": one port refusing its copy does not end the connection
    // the sender's allowed frame (or another port's allowed copy) just started - the other copies were
    // delivered, and their replies are that connection's return traffic (README "ACLs are stateful").
    // A connection that existed before this frame ends when its receiver's copy is refused (a copy
    // of another port is no business of it), and this frame then starts none (README "Whose
    // connection is it").
    const sw: SwitchStage = { from: P, flooding: false, fresh: (c: Conn): boolean => !connsBefore.has(c), ended: false };
    const ok = (src: MSwitchPort | null, dst: MSwitchPort | null): boolean => (v6 || isGroup(f.dst) ? IsolationModel.allows(src?.aclOut ?? null, f) && IsolationModel.allows(dst?.aclIn ?? null, f) : this.aclStage(P.host, zone, f, src, dst, sw));
    if (isIp && stage(P, true) && !ok(P, null)) return drop('acl-deny');
    const table = this.learned(P.host, P.sw);
    table.set(f.src, P.name);
    const known = isGroup(f.dst) ? undefined : table.get(f.dst);
    const targets = known !== undefined ? mine.filter((q) => q.name === known && q !== P) : mine.filter((q) => q !== P);
    // flooded: unknown unicast or a group destination (a learned port that is P itself is no flood)
    sw.flooding = known === undefined || !mine.some((q) => q.name === known);
    let copies = 0;
    let took = '';
    for (const Q of targets) {
      if (isIp && stage(Q, false) && !ok(null, Q)) {
        st.drops.push('acl-deny');
        continue;
      }
      st.deliveries.push(portDelivery(P.host, Q.name));
      copies++;
      took = Q.name;
    }
    // a connection this frame started: delivered to the one port that took it, or flooded
    for (const c of h.conns) if (!connsBefore.has(c) && c.origin !== undefined) c.receiver = copies === 1 ? took : FLOOD;
    // SILENT: a flood with no copy counts one no-port, as an HNV flood's (also after refused copies);
    // known unicast refused by its port's acl-in is only that acl-deny
    if (copies === 0 && (known === undefined || targets.length === 0)) st.drops.push('no-port');
    if (copies === 0) h.conns = h.conns.filter((c) => connsBefore.has(c));
    return st;
  }

  private learned(host: string, sw: string): Map<number, string> {
    const h = this.state.get(host)!;
    let t = h.learned.get(sw);
    if (!t) h.learned.set(sw, (t = new Map()));
    return t;
  }

  // ---- the gateway vNIC: the gateway host's stack answers into the network ----

  /** gateway-guard (its own MAC, IPv4 only, a source outside every subnet), then the router. */
  private gatewayEgress(G: MGateway, b: Uint8Array): Stage {
    const st = new Stage();
    const drop = (r: string): Stage => st.drop(r);
    const f = portFrame(b, st);
    if (f === undefined) return st;
    const et = u16(b, 12);
    if (f.src !== G.mac) return drop('spoofed');
    // IPv4 only: the router MAC is a permanent neighbour there (no ARP), IPv6 is not routed out
    if (et === 0x86dd) return drop('ipv6-disabled');
    if (et === 0x0806) return drop('arp-ignored');
    if (et !== 0x0800) return drop('ethertype');
    const v = f.ipv4!;
    // SILENT: the port only routes: anything not to the router MAC has no route (checked before the source)
    if (f.dst !== ROUTER_MAC) return drop('no-route');
    if (!this.outsideSubnets(G.vn, v.src)) return drop('spoofed');
    const D = this.endpoints.find((p) => p.vn === G.vn && p.ip === v.dst);
    if (!D) return drop('no-route');
    if (!this.aclStage(G.host, G.vn, f, null, D.host === G.host ? D : null)) return drop('acl-deny');
    if (v.ttl <= 1) {
      st.drops.push('ttl-exceeded');
      st.deliveries.push(hairpinDelivery(G.host, G.port));
      return st;
    }
    this.toEndpoint(st, G.host, D, f, true);
    return st;
  }

  // ---- ingress: a datagram from the underlay ----

  private hostOfPa(pa: number): string | undefined {
    return this.pas.find((p) => p.pa === pa)?.host;
  }

  /** Steps 1-2: outer checks, then the inner frame. */
  private fromUnderlay(host: string, srcPa: number, kind: 'vxlan' | 'nvgre', p: Uint8Array): Stage {
    const st = new Stage();
    const drop = (r: string): Stage => st.drop(r);
    const H = this.hostOfPa(srcPa);
    if (H === undefined || H === host) return drop('unknown-src-pa');
    let vsid: number;
    let inner: Uint8Array;
    if (kind === 'vxlan') {
      if (p.length < 16) return drop('malformed');
      const udpLen = u16(p, 4);
      if (udpLen < 16 || udpLen > p.length || (p[8] & 0x08) === 0) return drop('malformed');
      vsid = (p[12] << 16) | (p[13] << 8) | p[14];
      inner = p.subarray(16, udpLen);
    } else {
      if (p.length < 8) return drop('malformed');
      const fv = u16(p, 0);
      if ((fv & 7) !== 0 || (fv & (0x8000 | 0x1000 | 0x4c00)) !== 0 || (fv & 0x2000) === 0 || u16(p, 2) !== 0x6558) return drop('malformed');
      vsid = u32(p, 4) >>> 8;
      inner = p.subarray(8);
    }
    // the tunnel header checks include a whole inner Ethernet header (wire/vxlan.ts, wire/gre.ts)
    if (inner.length < 14) return drop('malformed');
    const S = this.subnets.find((s) => s.vsid === vsid);
    // the gateway host knows every subnet of its networks, ports there or not
    if (!S || (this.localPorts(host, S).length === 0 && this.gatewayOf(S.vn)?.host !== host)) return drop('unknown-vni');
    if (S.encap !== kind) return drop('encap-mismatch');
    return this.ingress(host, H, S, inner.slice());
  }

  /** Steps 3-6 at `host` for a frame of subnet S sent by host H. */
  private ingress(host: string, H: string, S: MSubnet, b: Uint8Array): Stage {
    const st = new Stage();
    const drop = (r: string): Stage => st.drop(r);
    if (b.length < 14) return drop('malformed');
    const et = u16(b, 12);
    if (et === 0x8100 || et === 0x88a8 || et === 0x9100) return drop('vlan-tagged');
    if (et === 0x86dd) return S.gw6 === undefined ? drop('ipv6-disabled') : this.ipv6Ingress(host, H, S, parseFrame(b), st);
    if (et !== 0x0800 && et !== 0x0806) return drop('ethertype');
    const f = parseFrame(b);
    if (f.arp?.bad || f.ipv4?.bad) return drop('malformed');
    // step 4: the inner source must be owned by the sending host
    let owned = false;
    if (f.src === ROUTER_MAC) {
      const v = f.ipv4;
      // a frame H routed: from a CA of H, or from outside when H is the network's gateway host
      owned = v !== undefined && (this.endpoints.some((p) => p.vn === S.vn && p.host === H && p.ip === v.src) || (this.gatewayOf(S.vn)?.host === H && this.outsideSubnets(S.vn, v.src)));
    } else {
      const E = this.endpoints.find((p) => p.subnet === S && p.host === H && p.mac === f.src);
      if (E && f.ipv4) owned = f.ipv4.src === E.ip || isDhcpFromZero(f);
      else if (E && f.arp) owned = f.arp.sha === E.mac && f.arp.spa === E.ip;
    }
    if (!owned) return drop('src-not-owned');
    const v = f.ipv4;
    const where = `in ${S.vsid}`;
    if (v && this.followFragment(host, where, f, st)) return st;
    if (v && isDhcp(v)) st.drops.push('dhcp');
    else if (isGroup(f.dst)) {
      if (f.arp && f.arp.op === 2) return drop('arp-ignored');
      let copies = 0;
      for (const Y of this.localPorts(host, S)) {
        if (IsolationModel.allows(Y.aclIn, f)) {
          st.deliveries.push(portDelivery(host, Y.name));
          copies++;
        } else st.drops.push('acl-deny');
      }
      if (copies === 0) st.drops.push('no-port');
    } else {
      const Y = this.endpoints.find((p) => p.host === host && p.subnet === S && p.mac === f.dst);
      const G = this.gatewayOf(S.vn);
      if (!Y && G && G.host === host && f.dst === G.mac) {
        // the gateway vNIC takes what was routed outside: a destination inside the network is not for it
        if (v && !this.outsideSubnets(S.vn, v.dst)) st.drops.push('not-for-port');
        else st.deliveries.push(portDelivery(host, G.port));
      } else if (!Y) st.drops.push('no-port');
      else if (v && !IsolationModel.forPort(v, S, Y)) st.drops.push('not-for-port');
      else if (!this.aclStage(host, S.vn, f, null, Y)) st.drops.push('acl-deny');
      else st.deliveries.push(portDelivery(host, Y.name));
    }
    if (v) this.recordFragment(host, where, v, st, isGroup(f.dst));
    return st;
  }
}
