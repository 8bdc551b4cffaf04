/**
 * The flow key: the fields of a frame that the layers examine, parsed once at the edge into a
 * reusable FlowFields record (no object per frame) and packed into KEY_WORDS uint32 words for the
 * unified flow table. Every field a layer looks at is in the key (STYLE.md 8): in-port and
 * direction, VSID, both MACs, ethertype, IP protocol, IPv4 source/destination, L4 ports (for ICMP:
 * type/code and identifier). TTL is not: the router's TTL check is done on every frame by the
 * cached action itself. TCP flags are not: they drive connection tracking, which the fast path
 * updates per frame.
 *
 * parseFrame is the edge validation (STYLE.md 2): Ethernet length, IPv4 header (version, IHL,
 * total length, checksum), and enough bytes for the L4 header of first fragments.
 */
import { readMac, readU16, readU32 } from '../wire/bytes.js';
import { ipv4Check } from '../wire/ipv4.js';
import type { AclInput } from './acl-types.js';
import { Drop } from './drops.js';

export const KEY_WORDS = 9;
export const DIR_OUT = 0;
export const DIR_IN = 1;
/** In-port number of frames that came from the uplink. */
export const UPLINK_PORT = 0xffff;

export const ETH_IPV4 = 0x0800;
export const ETH_ARP = 0x0806;
export const PROTO_ICMP = 1;
export const PROTO_TCP = 6;
export const PROTO_UDP = 17;

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
  if (et !== ETH_IPV4) {
    f.isIp = false;
    return Drop.None;
  }
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
  const later = (ff & 0x1fff) !== 0;
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
  }
  return Drop.None;
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
  key[5] = (f.ethertype << 16) | ((f.proto & 0xff) << 8) | (f.isIp ? 1 : 0);
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
