/**
 * Packet builders for tests and benches (pure, and not on the forwarding path: each call
 * allocates): whole Ethernet frames (or bare IP packets) from small option objects, with correct
 * lengths and checksums, returned as fresh Uint8Arrays. Addresses may be
 * given as text ("02:00:00:00:01:11", "10.1.1.11", "fe80::1") or as numbers (MAC 48-bit, IPv4
 * uint32) / 16 bytes (IPv6). Every option has a default, so `buildIpv4Udp({})` is a valid frame.
 *
 *   buildEth({ dst, src, type, payload, vlan })        buildArpRequest({ senderMac, senderIp, targetIp })
 *   buildIpv4Udp({ srcIp, dstIp, srcPort, dstPort })   buildArpReply({ senderMac, senderIp, targetMac, targetIp })
 *   buildTcp({ srcPort, dstPort, seq, ack, flags })    buildIcmpEcho({ reply, id, seq })
 *   buildVxlan({ vni, inner })                         buildNvgre({ vsid, flowId, inner })
 *   buildIcmpError({ icmpType, icmpCode, invoking })   (quotes the invoking packet's header + 8 bytes)
 */
import { parseIpv4, parseMac } from '../addr.js';
import { writeArp, ARP_OP_REPLY, ARP_OP_REQUEST, ARP_LEN } from '../arp.js';
import { writeMac, writeU16, writeU32 } from '../bytes.js';
import { checksum as inetChecksum, finish, onesSum, pseudoSumIpv6 } from '../checksum.js';
import {
  ETHERTYPE_ARP,
  ETHERTYPE_IPV4,
  ETHERTYPE_IPV6,
  ETHERTYPE_VLAN,
  ETH_HEADER_LEN,
  ETH_MIN_FRAME_LEN,
  MAC_BROADCAST,
} from '../ethernet.js';
import { IPV4_FLAG_DF, IPPROTO_GRE, IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, writeIpv4 } from '../ipv4.js';
import { tcpChecksumIpv4, tcpChecksumIpv6 } from '../tcp.js';
import { udpChecksumIpv4, udpChecksumIpv6 } from '../udp.js';
import { VXLAN_FLAG_I, VXLAN_PORT } from '../vxlan.js';
import { GRE_PROTO_TEB, NVGRE_FLAGS, makeNvgreKey } from '../gre.js';
import { ICMP_ECHO_REPLY, ICMP_ECHO_REQUEST } from '../icmp.js';

export type MacLike = number | string;
export type Ipv4Like = number | string;
export type Ipv6Like = Uint8Array | string;

/** A MAC as a 48-bit number. */
export function mac(m: MacLike): number {
  return typeof m === 'number' ? m : parseMac(m);
}
/** An IPv4 address as a uint32. */
export function ip4(a: Ipv4Like): number {
  return typeof a === 'number' ? a >>> 0 : parseIpv4(a);
}
/** An IPv6 address as 16 bytes; text in the usual forms ("fe80::1", "ff02::1:ff00:12"), no embedded IPv4. */
export function ip6(a: Ipv6Like): Uint8Array {
  if (typeof a !== 'string') return a;
  const halves = a.split('::');
  if (halves.length > 2) throw new Error(`bad IPv6 address ${a}`);
  const words = (s: string): number[] => (s === '' ? [] : s.split(':').map((w) => parseInt(w, 16)));
  const head = words(halves[0]!);
  const tail = halves.length === 2 ? words(halves[1]!) : [];
  const fill = 8 - head.length - tail.length;
  if (fill < 0 || (halves.length === 1 && fill !== 0) || [...head, ...tail].some((w) => !(w >= 0 && w <= 0xffff))) {
    throw new Error(`bad IPv6 address ${a}`);
  }
  const all = [...head, ...new Array<number>(fill).fill(0), ...tail];
  const out = new Uint8Array(16);
  all.forEach((w, i) => writeU16(out, i * 2, w));
  return out;
}

/** Concatenates byte arrays. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let p = 0;
  for (const part of parts) {
    out.set(part, p);
    p += part.length;
  }
  return out;
}
/** Bytes from hex text; spaces, newlines and colons are ignored ("02 00 00 ..."). */
export function fromHex(text: string): Uint8Array {
  const clean = text.replace(/[\s:]/g, '');
  if (clean.length % 2 !== 0 || /[^0-9a-fA-F]/.test(clean)) throw new Error(`bad hex: ${text}`);
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(i * 2, i * 2 + 2), 16);
  return out;
}
/** Lower-case hex of bytes, no separators (handy in expect(...).toBe for readable diffs). */
export function toHex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}
/** `n` bytes 0, 1, 2, ... (mod 256), a recognisable payload. */
export function pattern(n: number, start = 0): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (start + i) & 0xff);
}

// ---- Ethernet ----

export interface EthOptions {
  /** Destination MAC; default 02:00:00:00:00:02. */
  dst?: MacLike;
  /** Source MAC; default 02:00:00:00:00:01. */
  src?: MacLike;
  /** Ethertype of the payload (after any VLAN tags); default IPv4. */
  type?: number;
  payload?: Uint8Array;
  /** One VLAN id, or [outer, inner] ids (outer tag 0x88a8 when two, else 0x8100); or full TCIs via vlanTci. */
  vlan?: number | readonly number[];
  /** Pad the frame with zeros to the 60-byte Ethernet minimum. */
  pad?: boolean;
}

/** An Ethernet frame (optionally VLAN-tagged). */
export function buildEth(o: EthOptions = {}): Uint8Array {
  const payload = o.payload ?? new Uint8Array(0);
  const tags = o.vlan === undefined ? [] : typeof o.vlan === 'number' ? [o.vlan] : [...o.vlan];
  const hdr = ETH_HEADER_LEN + 4 * tags.length;
  const len = o.pad ? Math.max(ETH_MIN_FRAME_LEN, hdr + payload.length) : hdr + payload.length;
  const out = new Uint8Array(len);
  writeMac(out, 0, mac(o.dst ?? '02:00:00:00:00:02'));
  writeMac(out, 6, mac(o.src ?? '02:00:00:00:00:01'));
  let p = 12;
  tags.forEach((tci, i) => {
    writeU16(out, p, tags.length === 2 && i === 0 ? 0x88a8 : ETHERTYPE_VLAN);
    writeU16(out, p + 2, tci);
    p += 4;
  });
  writeU16(out, p, o.type ?? ETHERTYPE_IPV4);
  out.set(payload, hdr);
  return out;
}

/** Ethernet addressing shared by the L3 builders. */
export interface L2Options {
  /** Destination MAC; default 02:00:00:00:00:02. */
  dstMac?: MacLike;
  /** Source MAC; default 02:00:00:00:00:01. */
  srcMac?: MacLike;
  vlan?: number | readonly number[];
  pad?: boolean;
}

// ---- IPv4 ----

export interface Ipv4Options extends L2Options {
  /** Default 10.0.0.1. */
  srcIp?: Ipv4Like;
  /** Default 10.0.0.2. */
  dstIp?: Ipv4Like;
  /** Default 64. */
  ttl?: number;
  /** Identification; default 0. */
  id?: number;
  tos?: number;
  /** Flags/fragment word; default DF (0x4000). */
  flagsFragment?: number;
  /** Store this header checksum instead of the right one (for bad-checksum cases). */
  ipChecksum?: number;
}

export interface Ipv4PacketOptions extends Ipv4Options {
  /** IP protocol; default 253 (experimental). */
  proto?: number;
  payload?: Uint8Array;
}

/** A bare IPv4 packet (no Ethernet header), 20-byte header, checksum filled. */
export function buildIpv4Packet(o: Ipv4PacketOptions = {}): Uint8Array {
  const payload = o.payload ?? new Uint8Array(0);
  const out = new Uint8Array(20 + payload.length);
  writeIpv4(
    out,
    0,
    o.tos ?? 0,
    out.length,
    o.id ?? 0,
    o.flagsFragment ?? IPV4_FLAG_DF,
    o.ttl ?? 64,
    o.proto ?? 253,
    ip4(o.srcIp ?? '10.0.0.1'),
    ip4(o.dstIp ?? '10.0.0.2'),
  );
  if (o.ipChecksum !== undefined) writeU16(out, 10, o.ipChecksum);
  out.set(payload, 20);
  return out;
}

function ethOf(o: L2Options, type: number, payload: Uint8Array): Uint8Array {
  return buildEth({ dst: o.dstMac, src: o.srcMac, vlan: o.vlan, pad: o.pad, type, payload });
}

/** An Ethernet frame carrying an IPv4 packet. */
export function buildIpv4(o: Ipv4PacketOptions = {}): Uint8Array {
  return ethOf(o, ETHERTYPE_IPV4, buildIpv4Packet(o));
}

/** Fills an L4 checksum of a bare IPv4 packet (header at 0, 20 bytes). */
function l4Ipv4(pkt: Uint8Array, proto: number, csumOff: number, value: number | boolean | undefined): void {
  const l4 = 20;
  if (value === false) return;
  if (typeof value === 'number') writeU16(pkt, l4 + csumOff, value);
  else if (proto === IPPROTO_UDP) writeU16(pkt, l4 + csumOff, udpChecksumIpv4(pkt, 0, l4, pkt.length - l4));
  else writeU16(pkt, l4 + csumOff, tcpChecksumIpv4(pkt, 0, l4, pkt.length - l4));
}

export interface UdpOptions {
  /** Default 40000. */
  srcPort?: number;
  /** Default 9 (discard). */
  dstPort?: number;
  payload?: Uint8Array;
  /** true (default): correct checksum; false: 0 (none); a number: stored as is. */
  udpChecksum?: boolean | number;
}

function udpBytes(o: UdpOptions): Uint8Array {
  const payload = o.payload ?? new Uint8Array(0);
  const u = new Uint8Array(8 + payload.length);
  writeU16(u, 0, o.srcPort ?? 40000);
  writeU16(u, 2, o.dstPort ?? 9);
  writeU16(u, 4, u.length);
  u.set(payload, 8);
  return u;
}

/** A bare IPv4/UDP packet. */
export function buildIpv4UdpPacket(o: Ipv4Options & UdpOptions = {}): Uint8Array {
  const pkt = buildIpv4Packet({ ...o, proto: IPPROTO_UDP, payload: udpBytes(o) });
  l4Ipv4(pkt, IPPROTO_UDP, 6, o.udpChecksum ?? true);
  return pkt;
}
/** An Ethernet/IPv4/UDP frame. */
export function buildIpv4Udp(o: Ipv4Options & UdpOptions = {}): Uint8Array {
  return ethOf(o, ETHERTYPE_IPV4, buildIpv4UdpPacket(o));
}

// ---- TCP ----

export interface TcpOptions {
  /** Default 40000. */
  srcPort?: number;
  /** Default 80. */
  dstPort?: number;
  seq?: number;
  ack?: number;
  /** Flags byte (TCP_FLAG_*); default SYN. */
  flags?: number;
  /** Default 65535. */
  window?: number;
  /** TCP options bytes (padded with zeros to a multiple of 4). */
  options?: Uint8Array;
  payload?: Uint8Array;
  /** true (default): correct checksum; a number: stored as is. */
  tcpChecksum?: boolean | number;
}

function tcpBytes(o: TcpOptions): Uint8Array {
  const opts = o.options ?? new Uint8Array(0);
  const hdr = 20 + ((opts.length + 3) & ~3);
  const payload = o.payload ?? new Uint8Array(0);
  const t = new Uint8Array(hdr + payload.length);
  writeU16(t, 0, o.srcPort ?? 40000);
  writeU16(t, 2, o.dstPort ?? 80);
  writeU32(t, 4, o.seq ?? 0);
  writeU32(t, 8, o.ack ?? 0);
  t[12] = (hdr >>> 2) << 4;
  t[13] = o.flags ?? 0x02;
  writeU16(t, 14, o.window ?? 65535);
  t.set(opts, 20);
  t.set(payload, hdr);
  return t;
}

/** A bare IPv4/TCP packet. */
export function buildTcpPacket(o: Ipv4Options & TcpOptions = {}): Uint8Array {
  const pkt = buildIpv4Packet({ ...o, proto: IPPROTO_TCP, payload: tcpBytes(o) });
  l4Ipv4(pkt, IPPROTO_TCP, 16, o.tcpChecksum ?? true);
  return pkt;
}
/** An Ethernet/IPv4/TCP frame. */
export function buildTcp(o: Ipv4Options & TcpOptions = {}): Uint8Array {
  return ethOf(o, ETHERTYPE_IPV4, buildTcpPacket(o));
}

// ---- ICMP ----

export interface IcmpEchoOptions {
  /** An echo reply instead of a request. */
  reply?: boolean;
  /** Echo identifier; default 0x1234. */
  echoId?: number;
  /** Echo sequence number; default 1. */
  echoSeq?: number;
  /** Default 56 bytes of pattern(56), like ping. */
  payload?: Uint8Array;
}

/** A bare IPv4/ICMP echo request (or reply) packet. */
export function buildIcmpEchoPacket(o: Ipv4Options & IcmpEchoOptions = {}): Uint8Array {
  const data = o.payload ?? pattern(56);
  const m = new Uint8Array(8 + data.length);
  m[0] = o.reply ? ICMP_ECHO_REPLY : ICMP_ECHO_REQUEST;
  writeU16(m, 4, o.echoId ?? 0x1234);
  writeU16(m, 6, o.echoSeq ?? 1);
  m.set(data, 8);
  writeU16(m, 2, inetChecksum(m, 0, m.length));
  return buildIpv4Packet({ ...o, proto: IPPROTO_ICMP, payload: m });
}
/** An Ethernet/IPv4/ICMP echo request (or reply) frame. */
export function buildIcmpEcho(o: Ipv4Options & IcmpEchoOptions = {}): Uint8Array {
  return ethOf(o, ETHERTYPE_IPV4, buildIcmpEchoPacket(o));
}

export interface IcmpErrorOptions {
  /** Default 3 (destination unreachable). */
  icmpType?: number;
  /** Default 3 (port unreachable). */
  icmpCode?: number;
  /** The packet the error is about (a bare IPv4 packet); its header and first 8 bytes are quoted,
   * as an RFC 792 host does. */
  invoking?: Uint8Array;
  /** Quote this many bytes of `invoking` instead (a short or long quote). */
  quoteLen?: number;
}

/** A bare IPv4/ICMP error packet (destination unreachable, time exceeded, ...) quoting `invoking`. */
export function buildIcmpErrorPacket(o: Ipv4Options & IcmpErrorOptions = {}): Uint8Array {
  const inv = o.invoking ?? buildIpv4UdpPacket();
  const quote = inv.subarray(0, Math.min(inv.length, o.quoteLen ?? ((inv[0] & 0x0f) << 2) + 8));
  const m = new Uint8Array(8 + quote.length);
  m[0] = o.icmpType ?? 3;
  m[1] = o.icmpCode ?? 3;
  m.set(quote, 8);
  writeU16(m, 2, inetChecksum(m, 0, m.length));
  return buildIpv4Packet({ ...o, proto: IPPROTO_ICMP, payload: m });
}
/** An Ethernet/IPv4/ICMP error frame quoting `invoking`. */
export function buildIcmpError(o: Ipv4Options & IcmpErrorOptions = {}): Uint8Array {
  return ethOf(o, ETHERTYPE_IPV4, buildIcmpErrorPacket(o));
}

// ---- ARP ----

export interface ArpRequestOptions {
  /** Default 02:00:00:00:00:01. */
  senderMac?: MacLike;
  /** Default 10.0.0.1. */
  senderIp?: Ipv4Like;
  /** Default 10.0.0.2. */
  targetIp?: Ipv4Like;
  /** Ethernet destination; default broadcast. */
  dstMac?: MacLike;
  /** Ethernet source; default senderMac. */
  srcMac?: MacLike;
  vlan?: number | readonly number[];
  pad?: boolean;
}

/** An ARP request frame "who has targetIp? tell senderIp", broadcast by default. */
export function buildArpRequest(o: ArpRequestOptions = {}): Uint8Array {
  const sha = mac(o.senderMac ?? '02:00:00:00:00:01');
  const a = new Uint8Array(ARP_LEN);
  writeArp(a, 0, ARP_OP_REQUEST, sha, ip4(o.senderIp ?? '10.0.0.1'), 0, ip4(o.targetIp ?? '10.0.0.2'));
  return buildEth({ dst: o.dstMac ?? MAC_BROADCAST, src: o.srcMac ?? sha, vlan: o.vlan, pad: o.pad, type: ETHERTYPE_ARP, payload: a });
}

export interface ArpReplyOptions {
  /** The answering station; default 02:00:00:00:00:02. */
  senderMac?: MacLike;
  /** The answered address; default 10.0.0.2. */
  senderIp?: Ipv4Like;
  /** The requester; default 02:00:00:00:00:01. */
  targetMac?: MacLike;
  /** Default 10.0.0.1. */
  targetIp?: Ipv4Like;
  vlan?: number | readonly number[];
  pad?: boolean;
}

/** An ARP reply frame "senderIp is at senderMac", unicast to targetMac. */
export function buildArpReply(o: ArpReplyOptions = {}): Uint8Array {
  const sha = mac(o.senderMac ?? '02:00:00:00:00:02');
  const tha = mac(o.targetMac ?? '02:00:00:00:00:01');
  const a = new Uint8Array(ARP_LEN);
  writeArp(a, 0, ARP_OP_REPLY, sha, ip4(o.senderIp ?? '10.0.0.2'), tha, ip4(o.targetIp ?? '10.0.0.1'));
  return buildEth({ dst: tha, src: sha, vlan: o.vlan, pad: o.pad, type: ETHERTYPE_ARP, payload: a });
}

// ---- IPv6 ----

export interface Ipv6Options extends L2Options {
  /** Default fe80::1. */
  srcIp6?: Ipv6Like;
  /** Default fe80::2. */
  dstIp6?: Ipv6Like;
  /** Default 64. */
  hopLimit?: number;
  trafficClass?: number;
  flowLabel?: number;
}

/** A bare IPv6 packet with the given next header and payload (no extension headers). */
export function buildIpv6Packet(o: Ipv6Options & { nextHeader?: number; payload?: Uint8Array } = {}): Uint8Array {
  const payload = o.payload ?? new Uint8Array(0);
  const out = new Uint8Array(40 + payload.length);
  writeU32(out, 0, ((6 << 28) | ((o.trafficClass ?? 0) << 20) | (o.flowLabel ?? 0)) >>> 0);
  writeU16(out, 4, payload.length);
  out[6] = o.nextHeader ?? 59;
  out[7] = o.hopLimit ?? 64;
  out.set(ip6(o.srcIp6 ?? 'fe80::1'), 8);
  out.set(ip6(o.dstIp6 ?? 'fe80::2'), 24);
  out.set(payload, 40);
  return out;
}
/** An Ethernet/IPv6 frame. */
export function buildIpv6(o: Ipv6Options & { nextHeader?: number; payload?: Uint8Array } = {}): Uint8Array {
  return ethOf(o, ETHERTYPE_IPV6, buildIpv6Packet(o));
}
/** An Ethernet/IPv6/ICMPv6 frame with message `type`/`code` and `body` after the 4-byte header; checksum filled. */
export function buildIcmpv6(o: Ipv6Options & { type?: number; code?: number; body?: Uint8Array } = {}): Uint8Array {
  const body = o.body ?? new Uint8Array(4);
  const m = new Uint8Array(4 + body.length);
  m[0] = o.type ?? 128;
  m[1] = o.code ?? 0;
  m.set(body, 4);
  const pkt = buildIpv6Packet({ ...o, nextHeader: 58, payload: m });
  writeU16(pkt, 42, finish(onesSum(pkt, 40, m.length, pseudoSumIpv6(pkt, 0, 58, m.length))));
  return ethOf(o, ETHERTYPE_IPV6, pkt);
}
/** An Ethernet/IPv6/UDP frame with a correct checksum. */
export function buildIpv6Udp(o: Ipv6Options & UdpOptions = {}): Uint8Array {
  const pkt = buildIpv6Packet({ ...o, nextHeader: IPPROTO_UDP, payload: udpBytes(o) });
  writeU16(pkt, 46, typeof o.udpChecksum === 'number' ? o.udpChecksum : udpChecksumIpv6(pkt, 0, 40, pkt.length - 40));
  return ethOf(o, ETHERTYPE_IPV6, pkt);
}
/** An Ethernet/IPv6/TCP frame with a correct checksum. */
export function buildIpv6Tcp(o: Ipv6Options & TcpOptions = {}): Uint8Array {
  const pkt = buildIpv6Packet({ ...o, nextHeader: IPPROTO_TCP, payload: tcpBytes(o) });
  writeU16(pkt, 56, typeof o.tcpChecksum === 'number' ? o.tcpChecksum : tcpChecksumIpv6(pkt, 0, 40, pkt.length - 40));
  return ethOf(o, ETHERTYPE_IPV6, pkt);
}

// ---- Tunnels ----

export interface OuterOptions {
  /** Outer Ethernet destination; default 02:00:00:00:aa:02. */
  outerDstMac?: MacLike;
  /** Outer Ethernet source; default 02:00:00:00:aa:01. */
  outerSrcMac?: MacLike;
  /** Outer source PA; default 192.168.61.1. */
  outerSrcIp?: Ipv4Like;
  /** Outer destination PA; default 192.168.61.2. */
  outerDstIp?: Ipv4Like;
  /** Default 64. */
  outerTtl?: number;
  /** Default 0. */
  outerId?: number;
  /** Outer flags/fragment word; default 0 (the kernel's vxlan does not set DF by default). */
  outerFlagsFragment?: number;
  outerTos?: number;
}

function outerIpv4(o: OuterOptions, proto: number, payload: Uint8Array): Uint8Array {
  return buildIpv4Packet({
    srcIp: o.outerSrcIp ?? '192.168.61.1',
    dstIp: o.outerDstIp ?? '192.168.61.2',
    ttl: o.outerTtl ?? 64,
    id: o.outerId ?? 0,
    flagsFragment: o.outerFlagsFragment ?? 0,
    tos: o.outerTos ?? 0,
    proto,
    payload,
  });
}
function outerEth(o: OuterOptions, pkt: Uint8Array): Uint8Array {
  return buildEth({ dst: o.outerDstMac ?? '02:00:00:00:aa:02', src: o.outerSrcMac ?? '02:00:00:00:aa:01', type: ETHERTYPE_IPV4, payload: pkt });
}

export interface VxlanOptions extends OuterOptions {
  /** Default 5001. */
  vni?: number;
  /** The inner Ethernet frame; default an ICMP echo request. */
  inner?: Uint8Array;
  /** Outer UDP source port; default 49152. */
  srcPort?: number;
  /** Default 4789. */
  dstPort?: number;
  /** Outer UDP checksum: false (default): 0; true: correct; a number: stored as is. */
  udpChecksum?: boolean | number;
  /** Flags byte; default 0x08 (I). */
  flags?: number;
  /** The 3 reserved bytes after the flags and the 1 after the VNI; default zero. */
  reserved?: readonly [number, number, number, number];
  /** Cut the VXLAN payload (header + inner) to this many bytes. */
  truncateTo?: number;
}

/** An outer Ethernet/IPv4/UDP/VXLAN frame around `inner`. */
export function buildVxlan(o: VxlanOptions = {}): Uint8Array {
  const inner = o.inner ?? buildIcmpEcho();
  const r = o.reserved ?? [0, 0, 0, 0];
  let vx = new Uint8Array(8 + inner.length);
  vx[0] = o.flags ?? VXLAN_FLAG_I;
  vx[1] = r[0];
  vx[2] = r[1];
  vx[3] = r[2];
  vx[4] = (o.vni ?? 5001) >>> 16;
  vx[5] = (o.vni ?? 5001) >>> 8;
  vx[6] = o.vni ?? 5001;
  vx[7] = r[3];
  vx.set(inner, 8);
  if (o.truncateTo !== undefined) vx = vx.slice(0, o.truncateTo);
  const u = udpBytes({ srcPort: o.srcPort ?? 49152, dstPort: o.dstPort ?? VXLAN_PORT, payload: vx });
  const pkt = outerIpv4(o, IPPROTO_UDP, u);
  l4Ipv4(pkt, IPPROTO_UDP, 6, o.udpChecksum ?? false);
  return outerEth(o, pkt);
}

export interface NvgreOptions extends OuterOptions {
  /** Default 0xabcd. */
  vsid?: number;
  /** Default 7. */
  flowId?: number;
  /** The inner Ethernet frame; default an ICMP echo request. */
  inner?: Uint8Array;
  /** Flags/version word; default 0x2000 (K). */
  flagsVersion?: number;
  /** Protocol; default 0x6558. */
  protocol?: number;
  /** Cut the GRE payload (header + inner) to this many bytes. */
  truncateTo?: number;
}

/** An outer Ethernet/IPv4/GRE(NVGRE) frame around `inner` (always the 8-byte K-only layout). */
export function buildNvgre(o: NvgreOptions = {}): Uint8Array {
  const inner = o.inner ?? buildIcmpEcho();
  let g = new Uint8Array(8 + inner.length);
  writeU16(g, 0, o.flagsVersion ?? NVGRE_FLAGS);
  writeU16(g, 2, o.protocol ?? GRE_PROTO_TEB);
  writeU32(g, 4, makeNvgreKey(o.vsid ?? 0xabcd, o.flowId ?? 7));
  g.set(inner, 8);
  if (o.truncateTo !== undefined) g = g.slice(0, o.truncateTo);
  return outerEth(o, outerIpv4(o, IPPROTO_GRE, g));
}
