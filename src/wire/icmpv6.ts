/**
 * Building ICMPv6 messages in place (RFC 4443, RFC 4861): a frame whose Ethernet and IPv6 headers
 * and ICMPv6 checksum are written around a message body the caller put at ICMPV6_BODY, and the
 * answers the dataplane gives from policy, each built into the slot of the frame that asked:
 * neighbour advertisement (from a solicitation), router advertisement (from a solicitation) and
 * echo reply. The checksums are computed over what was written (the pseudo-header included).
 * No allocation; `off` is the frame's first byte, and the slot must have room for what is built.
 *
 * writeIcmpv6Frame is the general helper for any other message (e.g. "packet too big": copy the
 * invoking packet to off + ICMPV6_BODY, then write the headers with type 2 and the MTU as `rest`).
 */
import { readMac, writeMac, writeU16, writeU32 } from './bytes.js';
import { ETHERTYPE_IPV6, ETH_HEADER_LEN } from './ethernet.js';
import { icmpv6Checksum, ICMPV6_ECHO_REPLY, ICMPV6_NEIGHBOR_ADVERT, ICMPV6_ROUTER_ADVERT, ICMPV6_ND_TARGET } from './icmp.js';
import { addrCopy, addrIsUnspecified, IPV6_DST, IPV6_HEADER_LEN, IPV6_SRC, setHopLimit, setNextHeader, setPayloadLength, setVersionTcFlow } from './ipv6.js';
import { csumUpdate16 } from './checksum.js';
import { readU16 } from './bytes.js';

/** Offset (from the frame's start) of the ICMPv6 header in an untagged frame without extension headers. */
export const ICMPV6_AT = ETH_HEADER_LEN + IPV6_HEADER_LEN;
/** Offset of the message body (after type, code, checksum and the 4-byte rest-of-header). */
export const ICMPV6_BODY = ICMPV6_AT + 8;
/** Hop limit of every neighbour discovery message (RFC 4861: receivers drop others). */
export const ND_HOP_LIMIT = 255;

/** ND option types (RFC 4861 4.6). */
export const ND_OPT_SOURCE_LLADDR = 1;
export const ND_OPT_TARGET_LLADDR = 2;
export const ND_OPT_PREFIX_INFO = 3;
export const ND_OPT_MTU = 5;
/** Neighbour advertisement flags (first byte of the rest-of-header). */
export const NA_FLAG_ROUTER = 0x80;
export const NA_FLAG_SOLICITED = 0x40;
export const NA_FLAG_OVERRIDE = 0x20;
/** Prefix information flags. */
export const PI_FLAG_ONLINK = 0x80;
export const PI_FLAG_AUTONOMOUS = 0x40;

/** Length of a neighbour advertisement with a target link-layer address option. */
export const NA_LEN = 32;
/** Length of the router advertisement routerAdvert builds (with an MTU option when mtu > 0). */
export function raLength(mtu: number): number {
  return 16 + 8 + (mtu > 0 ? 8 : 0) + 32;
}

/**
 * Writes Ethernet (dst, src, 0x86dd), IPv6 (src/dst addresses from `src`@`srcOff` and
 * `dst`@`dstOff`, hop limit, next header 58) and the ICMPv6 header (type, code, 32-bit `rest`)
 * in front of the `bodyLen` bytes already at off + ICMPV6_BODY, then the checksum. Returns the
 * frame length. `src`/`dst` may be the frame itself only when the addresses are already in place.
 */
export function writeIcmpv6Frame(
  b: Uint8Array, off: number, dstMac: number, srcMac: number,
  src: Uint8Array, srcOff: number, dst: Uint8Array, dstOff: number,
  hopLimit: number, type: number, code: number, rest: number, bodyLen: number,
): number {
  writeMac(b, off, dstMac);
  writeMac(b, off + 6, srcMac);
  writeU16(b, off + 12, ETHERTYPE_IPV6);
  const l3 = off + ETH_HEADER_LEN;
  const msgLen = 8 + bodyLen;
  setVersionTcFlow(b, l3, 0, 0);
  setPayloadLength(b, l3, msgLen);
  setNextHeader(b, l3, 58);
  setHopLimit(b, l3, hopLimit);
  if (src !== b || srcOff !== l3 + IPV6_SRC) addrCopy(b, l3 + IPV6_SRC, src, srcOff);
  if (dst !== b || dstOff !== l3 + IPV6_DST) addrCopy(b, l3 + IPV6_DST, dst, dstOff);
  return finishIcmpv6(b, off, type, code, rest, msgLen);
}

/** Type, code, rest-of-header and checksum of the `msgLen`-byte message of the frame at `off`
 * whose Ethernet and IPv6 headers are in place. Returns the frame length. */
function finishIcmpv6(b: Uint8Array, off: number, type: number, code: number, rest: number, msgLen: number): number {
  const l3 = off + ETH_HEADER_LEN;
  const m = l3 + IPV6_HEADER_LEN;
  b[m] = type;
  b[m + 1] = code;
  writeU32(b, m + 4, rest >>> 0);
  writeU16(b, m + 2, icmpv6Checksum(b, l3, m, msgLen));
  return ETH_HEADER_LEN + IPV6_HEADER_LEN + msgLen;
}

/**
 * The neighbour solicitation frame at `off` (untagged, no extension headers, its source not ::)
 * becomes the advertisement "target is at `targetMac`" (solicited, override; router when
 * `router`): from the target address and `targetMac`, back to the soliciting address and MAC,
 * with a target link-layer address option. Returns the new frame length (86).
 */
export function neighborSolicitToAdvert(b: Uint8Array, off: number, targetMac: number, router: boolean): number {
  const l3 = off + ETH_HEADER_LEN;
  const m = l3 + IPV6_HEADER_LEN;
  const asker = readMac(b, off + 6);
  writeMac(b, off, asker);
  writeMac(b, off + 6, targetMac);
  // the target stays where it is (the same offset in NS and NA); the asker becomes the destination
  addrCopy(b, l3 + IPV6_DST, b, l3 + IPV6_SRC);
  addrCopy(b, l3 + IPV6_SRC, b, m + ICMPV6_ND_TARGET);
  setVersionTcFlow(b, l3, 0, 0);
  setPayloadLength(b, l3, NA_LEN);
  setNextHeader(b, l3, 58);
  setHopLimit(b, l3, ND_HOP_LIMIT);
  const o = m + 24;
  b[o] = ND_OPT_TARGET_LLADDR;
  b[o + 1] = 1;
  writeMac(b, o + 2, targetMac);
  const flags = (router ? NA_FLAG_ROUTER : 0) | NA_FLAG_SOLICITED | NA_FLAG_OVERRIDE;
  return finishIcmpv6(b, off, ICMPV6_NEIGHBOR_ADVERT, 0, flags << 24, NA_LEN);
}

/** What a router advertisement says (routerAdvert). */
export interface RaInfo {
  routerMac: number;
  /** The router's link-local address (16 bytes). */
  routerLl: Uint8Array;
  /** The on-link prefix (16 bytes) and its length. */
  prefix: Uint8Array;
  prefixLen: number;
  /** Advertise the prefix for address autoconfiguration (A flag). */
  autonomous: boolean;
  /** Link MTU option; 0: none. */
  mtu: number;
  /** Router lifetime in seconds (0: not a default router). */
  lifetime: number;
}

/** All-nodes multicast ff02::1. */
const ALL_NODES = new Uint8Array([0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);

/**
 * The router solicitation frame at `off` becomes the router's advertisement back to the
 * soliciting port: from the router's link-local address and MAC, to the soliciting address (or
 * all-nodes when it asked from ::), hop limit 255, current hop limit 64, the given router
 * lifetime, a source link-layer address option, an MTU option (when set) and the on-link prefix.
 * Returns the new frame length.
 */
export function routerSolicitToAdvert(b: Uint8Array, off: number, ra: RaInfo): number {
  const l3 = off + ETH_HEADER_LEN;
  const asker = readMac(b, off + 6);
  if (addrIsUnspecified(b, l3 + IPV6_SRC)) addrCopy(b, l3 + IPV6_DST, ALL_NODES, 0);
  else addrCopy(b, l3 + IPV6_DST, b, l3 + IPV6_SRC);
  addrCopy(b, l3 + IPV6_SRC, ra.routerLl, 0);
  const body = off + ICMPV6_BODY;
  // rest-of-header: cur hop limit, flags (M=0, O=0), router lifetime; then reachable and retrans timers
  writeU32(b, body, 0);
  writeU32(b, body + 4, 0);
  let o = body + 8;
  b[o] = ND_OPT_SOURCE_LLADDR;
  b[o + 1] = 1;
  writeMac(b, o + 2, ra.routerMac);
  o += 8;
  if (ra.mtu > 0) {
    b[o] = ND_OPT_MTU;
    b[o + 1] = 1;
    writeU16(b, o + 2, 0);
    writeU32(b, o + 4, ra.mtu);
    o += 8;
  }
  b[o] = ND_OPT_PREFIX_INFO;
  b[o + 1] = 4;
  b[o + 2] = ra.prefixLen;
  b[o + 3] = PI_FLAG_ONLINK | (ra.autonomous ? PI_FLAG_AUTONOMOUS : 0);
  writeU32(b, o + 4, 2592000); // valid lifetime: 30 days
  writeU32(b, o + 8, 604800); // preferred lifetime: 7 days
  writeU32(b, o + 12, 0);
  addrCopy(b, o + 16, ra.prefix, 0);
  const bodyLen = o + 32 - body;
  const rest = ((64 << 24) | (0 << 16) | (ra.lifetime & 0xffff)) >>> 0;
  return writeIcmpv6Frame(b, off, asker, ra.routerMac, b, l3 + IPV6_SRC, b, l3 + IPV6_DST, ND_HOP_LIMIT, ICMPV6_ROUTER_ADVERT, 0, rest, bodyLen);
}

/**
 * The ICMPv6 echo request frame at `off` (untagged, no extension headers) becomes the echo reply
 * from the address it was sent to and `fromMac`: MACs and addresses swapped, hop limit 64, type
 * 129; the checksum is updated incrementally (the pseudo-header sum does not change with a swap).
 */
export function echo6ToReply(b: Uint8Array, off: number, fromMac: number): void {
  const l3 = off + ETH_HEADER_LEN;
  const m = l3 + IPV6_HEADER_LEN;
  writeMac(b, off, readMac(b, off + 6));
  writeMac(b, off + 6, fromMac);
  for (let i = 0; i < 16; i++) {
    const t = b[l3 + IPV6_SRC + i];
    b[l3 + IPV6_SRC + i] = b[l3 + IPV6_DST + i];
    b[l3 + IPV6_DST + i] = t;
  }
  setHopLimit(b, l3, 64);
  const oldWord = readU16(b, m);
  b[m] = ICMPV6_ECHO_REPLY;
  writeU16(b, m + 2, csumUpdate16(readU16(b, m + 2), oldWord, readU16(b, m)));
}
