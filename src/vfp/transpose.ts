/**
 * Header transpositions, in place in a frame slot (STYLE.md 3, 4): push VXLAN or NVGRE in the
 * headroom (the outer IPv4 header is the kernel's), the router's rewrite (MACs, TTL - 1 with an
 * incremental checksum), and the frames the dataplane answers itself by rewriting the request:
 * ICMP echo reply from the router, ICMP time exceeded. All return the new start or length; none
 * allocates.
 */
import { readMac, readU16, readU32, writeMac, writeU16, writeU32 } from '../wire/bytes.js';
import { checksum, csumUpdate16 } from '../wire/checksum.js';

export const VXLAN_PORT = 4789;
export const VXLAN_HLEN = 16;
export const NVGRE_HLEN = 8;
export const ETH_TEB = 0x6558;

/** Outer UDP source port for an inner flow hash: 49152 + hash % 16384. */
export function vxlanSourcePort(flowHash: number): number {
  return 49152 + (flowHash % 16384);
}

/**
 * Pushes UDP + VXLAN in front of the inner frame at `start` (`len` bytes); returns the new start
 * (start - 16). UDP checksum 0 (allowed over IPv4, RFC 7348), VXLAN flags = I, VNI = `vni`.
 */
export function pushVxlan(b: Uint8Array, start: number, len: number, vni: number, srcPort: number): number {
  const o = start - VXLAN_HLEN;
  writeU16(b, o, srcPort);
  writeU16(b, o + 2, VXLAN_PORT);
  writeU16(b, o + 4, len + VXLAN_HLEN);
  writeU16(b, o + 6, 0);
  writeU32(b, o + 8, 0x08000000);
  writeU32(b, o + 12, (vni << 8) >>> 0);
  return o;
}

/** Pushes an NVGRE header (RFC 7637: K bit, protocol 0x6558, key = VSID << 8 | FlowID); returns start - 8. */
export function pushNvgre(b: Uint8Array, start: number, vsid: number, flowId: number): number {
  const o = start - NVGRE_HLEN;
  writeU16(b, o, 0x2000);
  writeU16(b, o + 2, ETH_TEB);
  writeU32(b, o + 4, ((vsid << 8) | (flowId & 0xff)) >>> 0);
  return o;
}

/** The router's rewrite of the Ethernet+IPv4 frame at `off`: MACs, TTL - 1 (incremental checksum). */
export function routeRewrite(b: Uint8Array, off: number, dstMac: number, srcMac: number): void {
  writeMac(b, off, dstMac);
  writeMac(b, off + 6, srcMac);
  const l3 = off + 14;
  const old = readU16(b, l3 + 8);
  const ttl = b[l3 + 8] - 1;
  b[l3 + 8] = ttl;
  writeU16(b, l3 + 10, csumUpdate16(readU16(b, l3 + 10), old, (ttl << 8) | b[l3 + 9]));
}

/** The router's rewrite of the Ethernet+IPv6 frame at `off`: MACs, hop limit - 1 (no header checksum). */
export function routeRewrite6(b: Uint8Array, off: number, dstMac: number, srcMac: number): void {
  writeMac(b, off, dstMac);
  writeMac(b, off + 6, srcMac);
  b[off + 21]--;
}

/**
 * Turns the ICMP echo request at `off` (IPv4 header at off + 14, `ihl` bytes) into the router's
 * echo reply from `routerIp`/`routerMac`, in place: MACs and addresses swapped, TTL 64, type 0.
 */
export function echoToReply(b: Uint8Array, off: number, ihl: number, routerMac: number, routerIp: number): void {
  const requester = readMac(b, off + 6);
  writeMac(b, off, requester);
  writeMac(b, off + 6, routerMac);
  const l3 = off + 14;
  const src = readU32(b, l3 + 12);
  writeU32(b, l3 + 16, src);
  writeU32(b, l3 + 12, routerIp);
  b[l3 + 8] = 64;
  writeU16(b, l3 + 10, 0);
  writeU16(b, l3 + 10, checksum(b, l3, ihl));
  const l4 = l3 + ihl;
  const oldWord = readU16(b, l4);
  b[l4] = 0;
  writeU16(b, l4 + 2, csumUpdate16(readU16(b, l4 + 2), oldWord, readU16(b, l4)));
}

/**
 * Replaces the Ethernet+IPv4 frame at `off` with an ICMP time exceeded (type 11, code 0) from
 * the router (`routerMac`, `routerIp`) back to its sender, quoting the original IP header and
 * the first 8 bytes of its payload (RFC 792). The quote moves back 28 bytes (memmove within the
 * slot; the slot must have room, which a frame that carried a payload has). Returns the new length.
 */
export function toTimeExceeded(b: Uint8Array, off: number, len: number, routerMac: number, routerIp: number): number {
  const l3 = off + 14;
  const ihl = (b[l3] & 0x0f) << 2;
  const total = readU16(b, l3 + 2);
  const quote = Math.min(ihl + 8, total, len - 14);
  const sender = readU32(b, l3 + 12);
  const senderMac = readMac(b, off + 6);
  b.copyWithin(l3 + 28, l3, l3 + quote);
  writeMac(b, off, senderMac);
  writeMac(b, off + 6, routerMac);
  writeU16(b, off + 12, 0x0800);
  const ipLen = 20 + 8 + quote;
  b[l3] = 0x45;
  b[l3 + 1] = 0xc0;
  writeU16(b, l3 + 2, ipLen);
  writeU16(b, l3 + 4, 0);
  writeU16(b, l3 + 6, 0);
  b[l3 + 8] = 64;
  b[l3 + 9] = 1;
  writeU16(b, l3 + 10, 0);
  writeU32(b, l3 + 12, routerIp);
  writeU32(b, l3 + 16, sender);
  writeU16(b, l3 + 10, checksum(b, l3, 20));
  const l4 = l3 + 20;
  b[l4] = 11;
  b[l4 + 1] = 0;
  writeU16(b, l4 + 2, 0);
  writeU32(b, l4 + 4, 0);
  writeU16(b, l4 + 2, checksum(b, l4, 8 + quote));
  return 14 + ipLen;
}
