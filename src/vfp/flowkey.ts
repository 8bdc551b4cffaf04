/**
 * The flow key: the fields of a frame that the layers examine, parsed once at the edge into a
 * reusable FlowFields record (no object per frame) and packed into KEY_WORDS uint32 words for the
 * unified flow table. Every field a layer looks at is in the key (STYLE.md 8): in-port and
 * direction, VSID, both MACs, ethertype, IP protocol, IPv4 source/destination, L4 ports (for ICMP:
 * type/code and identifier), whether it is a (first) fragment. TTL is not: the router's TTL check is done on every frame by the
 * cached action itself. TCP flags are not: they drive connection tracking, which the fast path
 * updates per frame.
 *
 * parseFrame is the edge validation (STYLE.md 2): Ethernet length, IPv4 header (version, IHL,
 * total length, checksum), enough bytes for the L4 header of first fragments, the ARP body. It
 * also classifies every frame by `kind` (IPv4, ARP, IPv6, VLAN-tagged, other): the port-security
 * layer decides on each kind, so nothing the parser does not understand is forwarded by default.
 * ARP fields, the IPv4 identification and fragment offset, and the header quoted by an ICMP error
 * are read here too, so the layers never go back to the bytes.
 */
import { arpCheck } from '../wire/arp.js';
import { readMac, readU16, readU32 } from '../wire/bytes.js';
import { ipv4Check } from '../wire/ipv4.js';
import { ipv6Check } from '../wire/ipv6.js';
import { addrId6, type AddrTable6 } from './ip6.js';
import type { AclInput } from './acl-types.js';
import { Drop } from './drops.js';

export const KEY_WORDS = 9;
export const DIR_OUT = 0;
export const DIR_IN = 1;

export const ETH_IPV4 = 0x0800;
export const ETH_ARP = 0x0806;
export const ETH_IPV6 = 0x86dd;
export const ETH_VLAN = 0x8100;
export const ETH_QINQ = 0x88a8;
export const ETH_QINQ_OLD = 0x9100;

/** What kind of frame parseFrame found (FlowFields.kind). */
export const K_IPV4 = 0;
export const K_ARP = 1;
export const K_IPV6 = 2;
export const K_VLAN = 3;
export const K_OTHER = 4;

export const PROTO_ICMP = 1;
export const PROTO_TCP = 6;
export const PROTO_UDP = 17;
export const PROTO_ICMPV6 = 58;

/** The parsed fields of one frame (reused for every frame of a batch). */
export class FlowFields implements AclInput {
  inPort = 0;
  dir = 0;
  vsid = 0;
  dstMac = 0;
  srcMac = 0;
  ethertype = 0;
  isIp = false;
  /** Offset of the IPv4 header in the buffer. */
  l3 = 0;
  ihl = 0;
  proto = -1;
  src = 0;
  dst = 0;
  ttl = 0;
  /** TCP/UDP ports when l4; ICMP: sport = type << 8 | code, dport = identifier. */
  sport = 0;
  dport = 0;
  l4 = false;
  frag = false;
  tcpFlags = 0;
  /** K_IPV4 | K_ARP | K_IPV6 | K_VLAN | K_OTHER. */
  kind = K_OTHER;
  /** IPv4 identification (IPv6: the fragment header's 32-bit identification) and fragment offset
   * (in 8-byte units; > 0: a later fragment). */
  ipId = 0;
  fragOff = 0;
  /** ARP (kind K_ARP): operation, sender and target hardware/protocol addresses. */
  arpOp = 0;
  arpSha = 0;
  arpSpa = 0;
  arpTha = 0;
  arpTpa = 0;
  /** ICMP error (type 3, 11, 12) quoting at least an IPv4 header + 8 bytes: the quoted packet's
   * addresses, protocol and ports (ICMP: identifier in both). IPv6: ICMPv6 types 1-4 quoting an
   * IPv6 header + 8 bytes, addresses as ids and qProto | 0x100 (parseQuoted6). */
  icmpErr = false;
  qSrc = 0;
  qDst = 0;
  qProto = 0;
  qSport = 0;
  qDport = 0;
  /** IPv6 (kind K_IPV6): `src`/`dst` hold the addresses' ids (ip6.ts; 0 = unknown), `ttl` the hop
   * limit, `proto` the upper-layer protocol after hop-by-hop/destination-options headers (`ext6`
   * when there were any), `frag` a fragment header. a6: the addresses' words (source 0..3,
   * destination 4..7) for IPv6 ACL prefixes and the ND layer. ndTarget: the target id of a
   * neighbour solicitation/advertisement. */
  a6 = new Uint32Array(8);
  ext6 = false;
  ndTarget = 0;
  /** IPv6 that failed validation (header lengths, extension headers, L4 header): see parseIpv6. */
  bad6 = false;
  /** The snapshot's IPv6 address table (set by the engine with each snapshot). */
  v6ids: AddrTable6 | null = null;
}

/** Validates the frame at `off` (`len` bytes) and fills `f`; returns Drop.None or Drop.Malformed. */
export function parseFrame(b: Uint8Array, off: number, len: number, f: FlowFields): number {
  if (len < 14) return Drop.Malformed;
  f.dstMac = readMac(b, off);
  f.srcMac = readMac(b, off + 6);
  const et = readU16(b, off + 12);
  f.ethertype = et;
  f.proto = -1;
  f.src = 0;
  f.dst = 0;
  f.sport = 0;
  f.dport = 0;
  f.l4 = false;
  f.frag = false;
  f.tcpFlags = 0;
  f.ttl = 0;
  f.ipId = 0;
  f.fragOff = 0;
  f.icmpErr = false;
  if (et !== ETH_IPV4) {
    f.isIp = false;
    if (et === ETH_ARP) {
      f.kind = K_ARP;
      const a = off + 14;
      if (arpCheck(b, a, len - 14) !== 0) return Drop.Malformed;
      f.arpOp = readU16(b, a + 6);
      f.arpSha = readMac(b, a + 8);
      f.arpSpa = readU32(b, a + 14);
      f.arpTha = readMac(b, a + 18);
      f.arpTpa = readU32(b, a + 24);
    } else if (et === ETH_IPV6) {
      f.kind = K_IPV6;
      return parseIpv6(b, off + 14, len - 14, f);
    } else f.kind = et === ETH_VLAN || et === ETH_QINQ || et === ETH_QINQ_OLD ? K_VLAN : K_OTHER;
    return Drop.None;
  }
  f.kind = K_IPV4;
  const l3 = off + 14;
  if (ipv4Check(b, l3, len - 14) !== 0) return Drop.Malformed;
  f.isIp = true;
  f.l3 = l3;
  const ihl = (b[l3] & 0x0f) << 2;
  f.ihl = ihl;
  const total = readU16(b, l3 + 2);
  const proto = b[l3 + 9];
  f.proto = proto;
  f.ttl = b[l3 + 8];
  f.src = readU32(b, l3 + 12);
  f.dst = readU32(b, l3 + 16);
  const ff = readU16(b, l3 + 6);
  f.ipId = readU16(b, l3 + 4);
  f.fragOff = ff & 0x1fff;
  const later = f.fragOff !== 0;
  f.frag = later || (ff & 0x2000) !== 0;
  if (later) return Drop.None;
  const l4 = l3 + ihl;
  const l4len = total - ihl;
  if (proto === PROTO_TCP) {
    if (l4len < 20 || b[l4 + 12] >>> 4 < 5) return Drop.Malformed;
    f.sport = readU16(b, l4);
    f.dport = readU16(b, l4 + 2);
    f.tcpFlags = b[l4 + 13];
    f.l4 = true;
  } else if (proto === PROTO_UDP) {
    if (l4len < 8) return Drop.Malformed;
    f.sport = readU16(b, l4);
    f.dport = readU16(b, l4 + 2);
    f.l4 = true;
  } else if (proto === PROTO_ICMP) {
    if (l4len < 8) return Drop.Malformed;
    f.sport = readU16(b, l4);
    f.dport = readU16(b, l4 + 4);
    const type = b[l4];
    if ((type === 3 || type === 11 || type === 12) && !f.frag) parseQuoted(b, l4 + 8, Math.min(l4len, len - 14 - ihl) - 8, f);
  }
  return Drop.None;
}

/** Extension headers walked before the upper-layer header (more: malformed). */
const MAX_EXT6 = 4;

function bad6(f: FlowFields): number {
  f.bad6 = true;
  return Drop.None;
}

/** The IPv6 packet at `l3` (`len` bytes available): fixed header, hop-by-hop / destination
 * options / routing headers skipped, a fragment header read (identification and offset, as
 * IPv4's: a first fragment is parsed on to its upper-layer header), TCP/UDP ports, ICMPv6 type/code
 * and identifier (echo) or the ND target. A malformed packet is not refused here but marked
 * (bad6): the guards drop it as malformed after deciding whether IPv6 is allowed at all, so a
 * port without an IPv6 CA keeps counting every IPv6 frame as ipv6-disabled. */
function parseIpv6(b: Uint8Array, l3: number, len: number, f: FlowFields): number {
  f.l3 = l3;
  f.ext6 = false;
  f.ndTarget = 0;
  f.bad6 = true;
  if (ipv6Check(b, l3, len) !== 0) return Drop.None;
  f.ttl = b[l3 + 7];
  const a = f.a6;
  for (let i = 0; i < 8; i++) a[i] = readU32(b, l3 + 8 + i * 4);
  const t = f.v6ids;
  f.src = t === null ? 0 : addrId6(t, a[0], a[1], a[2], a[3]);
  f.dst = t === null ? 0 : addrId6(t, a[4], a[5], a[6], a[7]);
  const end = l3 + 40 + readU16(b, l3 + 4);
  let nh = b[l3 + 6];
  let p = l3 + 40;
  for (let i = 0; nh === 0 || nh === 60 || nh === 43 || nh === 44; i++) {
    if (i === MAX_EXT6 || p + 8 > end) return bad6(f);
    if (nh === 44) {
      // a fragment: a later one carries no upper-layer header (its first fragment's verdict
      // applies, frag.ts); a first one carries the whole header chain (RFC 7112) and is parsed on.
      // A second fragment header is malformed.
      if (f.frag) return bad6(f);
      f.frag = true;
      f.fragOff = readU16(b, p + 2) >>> 3;
      f.ipId = readU32(b, p + 4);
      if (f.fragOff !== 0) {
        f.proto = b[p];
        f.bad6 = false;
        return Drop.None;
      }
      nh = b[p];
      p += 8;
      continue;
    }
    f.ext6 = true;
    nh = b[p];
    p += (b[p + 1] + 1) * 8;
  }
  f.proto = nh;
  const l4len = end - p;
  f.bad6 = false;
  if (nh === PROTO_TCP) {
    if (l4len < 20 || b[p + 12] >>> 4 < 5) return bad6(f);
    f.sport = readU16(b, p);
    f.dport = readU16(b, p + 2);
    f.tcpFlags = b[p + 13];
    f.l4 = true;
  } else if (nh === PROTO_UDP) {
    if (l4len < 8) return bad6(f);
    f.sport = readU16(b, p);
    f.dport = readU16(b, p + 2);
    f.l4 = true;
  } else if (nh === PROTO_ICMPV6) {
    if (l4len < 8) return bad6(f);
    const type = b[p];
    f.sport = readU16(b, p);
    f.dport = readU16(b, p + 4);
    if (type === 135 || type === 136) {
      if (l4len < 24) return bad6(f);
      f.ndTarget = t === null ? 0 : addrId6(t, readU32(b, p + 8), readU32(b, p + 12), readU32(b, p + 16), readU32(b, p + 20));
    } else if (type <= 4 && type >= 1 && t !== null && !f.frag) parseQuoted6(b, p + 8, Math.min(end, l3 + len) - p - 8, t, f);
  }
  return Drop.None;
}

/** The packet an ICMPv6 error (destination unreachable, packet too big, time exceeded, parameter
 * problem) quotes (`len` bytes at `q`), as parseQuoted for IPv4: its addresses as ids (ip6.ts),
 * its upper-layer protocol (after hop-by-hop, routing and destination options headers; a quoted
 * fragment names no connection) and ports (ICMPv6 echo: the identifier in both). qProto carries
 * 0x100 as the connection table's IPv6 protocols do (conntrack.ts fill). */
function parseQuoted6(b: Uint8Array, q: number, len: number, t: AddrTable6, f: FlowFields): void {
  if (len < 48 || b[q] >>> 4 !== 6) return;
  let nh = b[q + 6];
  let p = q + 40;
  const end = q + len;
  for (let i = 0; nh === 0 || nh === 60 || nh === 43; i++) {
    if (i === MAX_EXT6 || p + 8 > end) return;
    nh = b[p];
    p += (b[p + 1] + 1) * 8;
  }
  if (nh === 44 || p + 8 > end) return;
  f.qSrc = addrId6(t, readU32(b, q + 8), readU32(b, q + 12), readU32(b, q + 16), readU32(b, q + 20));
  f.qDst = addrId6(t, readU32(b, q + 24), readU32(b, q + 28), readU32(b, q + 32), readU32(b, q + 36));
  f.qProto = nh | 0x100;
  if (nh === PROTO_ICMPV6) {
    f.qSport = readU16(b, p + 4);
    f.qDport = f.qSport;
  } else if (nh === PROTO_TCP || nh === PROTO_UDP) {
    f.qSport = readU16(b, p);
    f.qDport = readU16(b, p + 2);
  } else {
    f.qSport = 0; // as conntrack keys a protocol without ports
    f.qDport = 0;
  }
  // an unknown quoted source (id 0) names no connection this table could hold
  f.icmpErr = f.qSrc !== 0;
}

/** The packet an ICMP error quotes (`len` bytes at `q`): sets f.icmpErr when its IPv4 header and
 * first 8 bytes are there. A quote too short to name a connection is an ordinary ICMP frame. */
function parseQuoted(b: Uint8Array, q: number, len: number, f: FlowFields): void {
  if (len < 28 || b[q] >>> 4 !== 4) return;
  const ihl = (b[q] & 0x0f) << 2;
  if (ihl < 20 || len < ihl + 8) return;
  f.qProto = b[q + 9];
  f.qSrc = readU32(b, q + 12);
  f.qDst = readU32(b, q + 16);
  const l4 = q + ihl;
  if (f.qProto === PROTO_ICMP) {
    f.qSport = readU16(b, l4 + 4);
    f.qDport = f.qSport;
  } else {
    f.qSport = readU16(b, l4);
    f.qDport = readU16(b, l4 + 2);
  }
  f.icmpErr = true;
}

/** Packs the key of `f` into `key[0..KEY_WORDS)`. */
export function fillKey(f: FlowFields, key: Uint32Array): void {
  const dHi = Math.floor(f.dstMac / 0x100000000);
  const sHi = Math.floor(f.srcMac / 0x100000000);
  key[0] = f.inPort | (f.dir << 16);
  key[1] = f.vsid;
  key[2] = (dHi << 16) | sHi;
  key[3] = f.dstMac >>> 0;
  key[4] = f.srcMac >>> 0;
  // a first fragment is decided apart from whole datagrams of the flow (the gateway does not
  // answer one, and its verdict is remembered for the fragments that follow)
  key[5] = (f.ethertype << 16) | ((f.proto & 0xff) << 8) | (f.frag ? 2 : 0) | (f.isIp ? 1 : 0);
  key[6] = f.src;
  key[7] = f.dst;
  key[8] = (f.sport << 16) | f.dport;
}

/** A 32-bit hash of the key words (murmur3-style mixing). */
export function hashKey(key: Uint32Array): number {
  let h = 0x2545f491;
  for (let i = 0; i < KEY_WORDS; i++) {
    let k = Math.imul(key[i], 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    h ^= Math.imul(k, 0x1b873593);
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Entropy of the inner flow for the outer UDP source port and the NVGRE FlowID: the 5-tuple for
 * IPv4, else the MACs. The same for every frame of a flow. */
export function innerFlowHash(f: FlowFields): number {
  let h: number;
  if (f.isIp) {
    h = Math.imul(f.src ^ 0x9e3779b9, 0x85ebca6b) ^ f.dst;
    h = Math.imul(h ^ (h >>> 15), 0xc2b2ae35) ^ ((f.proto << 16) | 0);
    h = Math.imul(h ^ (h >>> 13), 0x27d4eb2f) ^ ((f.sport << 16) | f.dport);
  } else {
    h = Math.imul((f.srcMac >>> 0) ^ 0x9e3779b9, 0x85ebca6b) ^ (f.dstMac >>> 0);
    h = Math.imul(h ^ (h >>> 15), 0xc2b2ae35) ^ f.ethertype;
  }
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  return (h ^ (h >>> 15)) >>> 0;
}
