/**
 * A fast, non-cryptographic hash of an inner frame's flow, for the entropy fields of the outer
 * header: the VXLAN UDP source port (RFC 7348 recommends a hash of the inner headers in the
 * dynamic range 49152..65535) and the NVGRE FlowID (RFC 7637). Murmur3-style mixing of 32-bit
 * words; no allocation. IPv4/IPv6: addresses and protocol, plus TCP/UDP/SCTP/UDP-Lite ports when
 * not a fragment (so all fragments of a packet hash alike); other frames: MACs and ethertype.
 * Not symmetric: the two directions of a flow may get different ports, as in the kernel.
 * `seed` lets a host vary the mapping.
 */
import { readU16, readU32 } from './bytes.js';
import { ETHERTYPE_IPV4, ETHERTYPE_IPV6, l3EtherType, l3Offset } from './ethernet.js';

/** Lowest VXLAN source port (IANA dynamic range). */
export const FLOW_PORT_MIN = 49152;
/** Number of VXLAN source ports (49152..65535). */
export const FLOW_PORT_RANGE = 16384;

function mix(h: number, k: number): number {
  k = Math.imul(k, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, 0x1b873593);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

function finalize(h: number, n: number): number {
  h ^= n;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function hasPorts(proto: number): boolean {
  return proto === 6 || proto === 17 || proto === 132 || proto === 136;
}

/** Hash of the 5-tuple of the IPv4 packet at `ipOff` that ends at `end` (exclusive). */
export function flowHashIpv4(b: Uint8Array, ipOff: number, end: number, seed = 0): number {
  if (ipOff + 20 > end) return finalize(seed, 0);
  const proto = b[ipOff + 9];
  let h = mix(seed, readU32(b, ipOff + 12));
  h = mix(h, readU32(b, ipOff + 16));
  const l4 = ipOff + ((b[ipOff] & 0x0f) << 2);
  const frag = readU16(b, ipOff + 6) & 0x3fff; // MF or an offset: any fragment
  const ports = hasPorts(proto) && frag === 0 && l4 + 4 <= end ? readU32(b, l4) : 0;
  h = mix(h, (proto << 16) | 4);
  h = mix(h, ports);
  return finalize(h, 16);
}

/** Hash of the addresses, next header, flow label and ports of the IPv6 packet at `ipOff` ending at `end`. */
export function flowHashIpv6(b: Uint8Array, ipOff: number, end: number, seed = 0): number {
  if (ipOff + 40 > end) return finalize(seed, 1);
  let h = seed;
  for (let i = 8; i < 40; i += 4) h = mix(h, readU32(b, ipOff + i));
  const nh = b[ipOff + 6];
  const l4 = ipOff + 40;
  const ports = hasPorts(nh) && l4 + 4 <= end ? readU32(b, l4) : 0;
  h = mix(h, (nh << 16) | 6);
  h = mix(h, readU32(b, ipOff) & 0xfffff);
  h = mix(h, ports);
  return finalize(h, 44);
}

/** Hash of the MACs and `etherType` of the frame at `off` (for ARP and other non-IP frames). */
export function flowHashL2(b: Uint8Array, off: number, etherType: number, seed = 0): number {
  let h = mix(seed, readU32(b, off));
  h = mix(h, readU32(b, off + 4));
  h = mix(h, readU32(b, off + 8));
  h = mix(h, etherType);
  return finalize(h, 14);
}

/**
 * Flow hash of the `len`-byte Ethernet frame at `off` (0..2 VLAN tags): the IP 5-tuple when it
 * carries IPv4 or IPv6, else its MACs and ethertype. Never reads past `off + len`, except that a
 * frame shorter than 14 bytes hashes to a constant.
 */
export function flowHashFrame(b: Uint8Array, off: number, len: number, seed = 0): number {
  const l3 = l3Offset(b, off, len);
  if (l3 < 0) return finalize(seed, 2);
  const et = l3EtherType(b, l3);
  const end = off + len;
  if (et === ETHERTYPE_IPV4) return flowHashIpv4(b, l3, end, seed);
  if (et === ETHERTYPE_IPV6) return flowHashIpv6(b, l3, end, seed);
  return flowHashL2(b, off, et, seed);
}

/** VXLAN UDP source port (49152..65535) of a flow hash: its top 14 bits, as the kernel's scaling does. */
export function vxlanSourcePort(hash: number): number {
  return FLOW_PORT_MIN + (hash >>> 18);
}
/** NVGRE FlowID (0..255) of a flow hash. */
export function nvgreFlowId(hash: number): number {
  return hash & 0xff;
}
