/**
 * ICMP for IPv4 (RFC 792) and the ICMPv6 types the dataplane sees (RFC 4443, 4861 neighbour
 * discovery, 2710/3810 MLD). Both share the first 4 bytes (type, code, checksum), so the same
 * accessors serve both. `off` is the offset of the ICMP header. The ICMPv4 checksum covers the
 * message only; the ICMPv6 one also covers the IPv6 pseudo-header (icmpv6Checksum).
 */
import { readU16, writeU16 } from './bytes.js';
import { finish, onesSum, pseudoSumIpv6 } from './checksum.js';

/** Length of the fixed ICMP header (type, code, checksum, 4 bytes of rest-of-header). */
export const ICMP_HEADER_LEN = 8;
/** Offset of the type. */
export const ICMP_TYPE = 0;
/** Offset of the code. */
export const ICMP_CODE = 1;
/** Offset of the checksum. */
export const ICMP_CHECKSUM = 2;
/** Offset of the echo identifier. */
export const ICMP_ECHO_ID = 4;
/** Offset of the echo sequence number. */
export const ICMP_ECHO_SEQ = 6;
/** Offset of the next-hop MTU in an ICMPv4 "fragmentation needed" message. */
export const ICMP_NEXT_HOP_MTU = 6;
/** Offset of the MTU in an ICMPv6 "packet too big" message (32 bits). */
export const ICMPV6_MTU = 4;

// ICMPv4 types and codes
export const ICMP_ECHO_REPLY = 0;
export const ICMP_DEST_UNREACH = 3;
export const ICMP_REDIRECT = 5;
export const ICMP_ECHO_REQUEST = 8;
export const ICMP_TIME_EXCEEDED = 11;
export const ICMP_PARAMETER_PROBLEM = 12;
/** Codes of ICMP_DEST_UNREACH. */
export const ICMP_NET_UNREACH = 0;
export const ICMP_HOST_UNREACH = 1;
export const ICMP_PROTO_UNREACH = 2;
export const ICMP_PORT_UNREACH = 3;
export const ICMP_FRAG_NEEDED = 4;
export const ICMP_ADMIN_PROHIBITED = 13;
/** Codes of ICMP_TIME_EXCEEDED. */
export const ICMP_TTL_EXCEEDED = 0;
export const ICMP_FRAG_REASSEMBLY_EXCEEDED = 1;

// ICMPv6 types
export const ICMPV6_DEST_UNREACH = 1;
export const ICMPV6_PACKET_TOO_BIG = 2;
export const ICMPV6_TIME_EXCEEDED = 3;
export const ICMPV6_PARAMETER_PROBLEM = 4;
export const ICMPV6_ECHO_REQUEST = 128;
export const ICMPV6_ECHO_REPLY = 129;
export const ICMPV6_MLD_QUERY = 130;
export const ICMPV6_MLD_REPORT = 131;
export const ICMPV6_MLD_DONE = 132;
export const ICMPV6_ROUTER_SOLICIT = 133;
export const ICMPV6_ROUTER_ADVERT = 134;
export const ICMPV6_NEIGHBOR_SOLICIT = 135;
export const ICMPV6_NEIGHBOR_ADVERT = 136;
export const ICMPV6_REDIRECT = 137;
export const ICMPV6_MLDV2_REPORT = 143;
/** Offset of the target address in a neighbour solicitation/advertisement. */
export const ICMPV6_ND_TARGET = 8;

/** Type. */
export function type(b: Uint8Array, off: number): number {
  return b[off + ICMP_TYPE];
}
/** Code. */
export function code(b: Uint8Array, off: number): number {
  return b[off + ICMP_CODE];
}
/** Checksum field. */
export function checksum(b: Uint8Array, off: number): number {
  return readU16(b, off + ICMP_CHECKSUM);
}
/** Echo identifier (echo request/reply only). */
export function echoId(b: Uint8Array, off: number): number {
  return readU16(b, off + ICMP_ECHO_ID);
}
/** Echo sequence number (echo request/reply only). */
export function echoSeq(b: Uint8Array, off: number): number {
  return readU16(b, off + ICMP_ECHO_SEQ);
}
/** Next-hop MTU of an ICMPv4 fragmentation-needed message. */
export function nextHopMtu(b: Uint8Array, off: number): number {
  return readU16(b, off + ICMP_NEXT_HOP_MTU);
}
/** Sets the type. */
export function setType(b: Uint8Array, off: number, v: number): void {
  b[off + ICMP_TYPE] = v;
}
/** Sets the code. */
export function setCode(b: Uint8Array, off: number, v: number): void {
  b[off + ICMP_CODE] = v;
}
/** Sets the checksum field. */
export function setChecksum(b: Uint8Array, off: number, v: number): void {
  writeU16(b, off + ICMP_CHECKSUM, v);
}
/** Sets the echo identifier. */
export function setEchoId(b: Uint8Array, off: number, v: number): void {
  writeU16(b, off + ICMP_ECHO_ID, v);
}
/** Sets the echo sequence number. */
export function setEchoSeq(b: Uint8Array, off: number, v: number): void {
  writeU16(b, off + ICMP_ECHO_SEQ, v);
}
/** Sets the next-hop MTU of an ICMPv4 fragmentation-needed message. */
export function setNextHopMtu(b: Uint8Array, off: number, v: number): void {
  writeU16(b, off + ICMP_NEXT_HOP_MTU, v);
}

/** ICMPv4 checksum of the `len`-byte message at `off`, computed as if its checksum field were 0. */
export function icmpv4Checksum(b: Uint8Array, off: number, len: number): number {
  return finish(onesSum(b, off + 4, len - 4, onesSum(b, off, 2, 0)));
}
/** True when the stored checksum of the `len`-byte ICMPv4 message at `off` is correct. */
export function icmpv4ChecksumValid(b: Uint8Array, off: number, len: number): boolean {
  return onesSum(b, off, len, 0) === 0xffff;
}
/**
 * ICMPv6 checksum of the `len`-byte message at `off` carried in the IPv6 header at `ipOff`
 * (pseudo-header with next header 58), computed as if its checksum field were 0.
 */
export function icmpv6Checksum(b: Uint8Array, ipOff: number, off: number, len: number): number {
  const s = onesSum(b, off, 2, pseudoSumIpv6(b, ipOff, 58, len));
  return finish(onesSum(b, off + 4, len - 4, s));
}
/** True when the stored checksum of the `len`-byte ICMPv6 message at `off` is correct. */
export function icmpv6ChecksumValid(b: Uint8Array, ipOff: number, off: number, len: number): boolean {
  return onesSum(b, off, len, pseudoSumIpv6(b, ipOff, 58, len)) === 0xffff;
}
