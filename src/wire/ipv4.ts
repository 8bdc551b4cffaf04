/**
 * IPv4 headers (RFC 791). `off` is the offset of the IPv4 header. ipv4Check validates a header
 * once at the edge (version, IHL, total length, header checksum); accessors behind it do not
 * re-check (STYLE.md 2). Addresses are uint32 numbers in host order. Rewrites that the fast path
 * does per packet (TTL, addresses) update the header checksum incrementally (RFC 1624).
 */
import { readU16, readU32, writeU16, writeU32 } from './bytes.js';
import { csumUpdate16, csumUpdate32, finish, onesSum } from './checksum.js';

/** Length of a header without options. */
export const IPV4_MIN_HEADER_LEN = 20;
/** Offset of the version/IHL byte. */
export const IPV4_VER_IHL = 0;
/** Offset of the DSCP/ECN (type of service) byte. */
export const IPV4_TOS = 1;
/** Offset of the total length. */
export const IPV4_TOTAL_LEN = 2;
/** Offset of the identification. */
export const IPV4_ID = 4;
/** Offset of the flags and fragment offset. */
export const IPV4_FLAGS_FRAG = 6;
/** Offset of the TTL. */
export const IPV4_TTL = 8;
/** Offset of the protocol. */
export const IPV4_PROTO = 9;
/** Offset of the header checksum. */
export const IPV4_CHECKSUM = 10;
/** Offset of the source address. */
export const IPV4_SRC = 12;
/** Offset of the destination address. */
export const IPV4_DST = 16;

/** Don't Fragment, in the flags/fragment word. */
export const IPV4_FLAG_DF = 0x4000;
/** More Fragments, in the flags/fragment word. */
export const IPV4_FLAG_MF = 0x2000;
/** Fragment offset (in 8-byte units), in the flags/fragment word. */
export const IPV4_FRAG_OFFSET_MASK = 0x1fff;

export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_GRE = 47;
export const IPPROTO_ICMPV6 = 58;

/** ipv4Check reasons (0 = valid). */
export const IPV4_OK = 0;
/** Shorter than 20 bytes, or than the header length IHL declares. */
export const IPV4_TRUNCATED = 1;
export const IPV4_BAD_VERSION = 2;
/** IHL below 5 words. */
export const IPV4_BAD_IHL = 3;
/** Total length beyond the bytes available, or shorter than the header. */
export const IPV4_BAD_TOTAL_LENGTH = 4;
export const IPV4_BAD_CHECKSUM = 5;
/** Names of the ipv4Check reasons, indexed by reason. */
export const IPV4_REASONS: readonly string[] = ['ok', 'truncated', 'bad-version', 'bad-ihl', 'bad-total-length', 'bad-checksum'];

/**
 * Validates the IPv4 header at `off` with `len` bytes available (to the end of the frame, which
 * may include Ethernet padding beyond the total length): 0, or a reason. Checks the header
 * checksum; does not look at the payload.
 */
export function ipv4Check(b: Uint8Array, off: number, len: number): number {
  if (len < IPV4_MIN_HEADER_LEN) return IPV4_TRUNCATED;
  const vi = b[off];
  if (vi >>> 4 !== 4) return IPV4_BAD_VERSION;
  const ihl = (vi & 0x0f) << 2;
  if (ihl < IPV4_MIN_HEADER_LEN) return IPV4_BAD_IHL;
  if (ihl > len) return IPV4_TRUNCATED;
  const total = readU16(b, off + IPV4_TOTAL_LEN);
  if (total > len || total < ihl) return IPV4_BAD_TOTAL_LENGTH;
  if (onesSum(b, off, ihl, 0) !== 0xffff) return IPV4_BAD_CHECKSUM;
  return IPV4_OK;
}

/** Version (4 for IPv4). */
export function version(b: Uint8Array, off: number): number {
  return b[off] >>> 4;
}
/** Header length in bytes (IHL * 4). */
export function headerLength(b: Uint8Array, off: number): number {
  return (b[off] & 0x0f) << 2;
}
/** Type-of-service byte (DSCP << 2 | ECN). */
export function tos(b: Uint8Array, off: number): number {
  return b[off + IPV4_TOS];
}
/** DSCP (6 bits). */
export function dscp(b: Uint8Array, off: number): number {
  return b[off + IPV4_TOS] >>> 2;
}
/** ECN (2 bits). */
export function ecn(b: Uint8Array, off: number): number {
  return b[off + IPV4_TOS] & 3;
}
/** Total length (header + payload) in bytes. */
export function totalLength(b: Uint8Array, off: number): number {
  return readU16(b, off + IPV4_TOTAL_LEN);
}
/** Identification. */
export function id(b: Uint8Array, off: number): number {
  return readU16(b, off + IPV4_ID);
}
/** Flags and fragment offset word (IPV4_FLAG_DF, IPV4_FLAG_MF, IPV4_FRAG_OFFSET_MASK). */
export function flagsFragment(b: Uint8Array, off: number): number {
  return readU16(b, off + IPV4_FLAGS_FRAG);
}
/** True when Don't Fragment is set. */
export function dontFragment(b: Uint8Array, off: number): boolean {
  return (b[off + IPV4_FLAGS_FRAG] & 0x40) !== 0;
}
/** True when More Fragments is set. */
export function moreFragments(b: Uint8Array, off: number): boolean {
  return (b[off + IPV4_FLAGS_FRAG] & 0x20) !== 0;
}
/** Fragment offset in bytes. */
export function fragmentOffset(b: Uint8Array, off: number): number {
  return (readU16(b, off + IPV4_FLAGS_FRAG) & IPV4_FRAG_OFFSET_MASK) << 3;
}
/** True for any fragment (MF set or a non-zero offset): only the first carries L4 ports. */
export function isFragment(b: Uint8Array, off: number): boolean {
  return (readU16(b, off + IPV4_FLAGS_FRAG) & (IPV4_FLAG_MF | IPV4_FRAG_OFFSET_MASK)) !== 0;
}
/** Time to live. */
export function ttl(b: Uint8Array, off: number): number {
  return b[off + IPV4_TTL];
}
/** Protocol (IPPROTO_*). */
export function protocol(b: Uint8Array, off: number): number {
  return b[off + IPV4_PROTO];
}
/** Header checksum field. */
export function checksum(b: Uint8Array, off: number): number {
  return readU16(b, off + IPV4_CHECKSUM);
}
/** Source address (uint32). */
export function src(b: Uint8Array, off: number): number {
  return readU32(b, off + IPV4_SRC);
}
/** Destination address (uint32). */
export function dst(b: Uint8Array, off: number): number {
  return readU32(b, off + IPV4_DST);
}

/** Sets version 4 and the header length `ihlBytes` (a multiple of 4, 20..60). */
export function setVersionIhl(b: Uint8Array, off: number, ihlBytes: number): void {
  b[off] = 0x40 | (ihlBytes >>> 2);
}
/** Sets the type-of-service byte. */
export function setTos(b: Uint8Array, off: number, v: number): void {
  b[off + IPV4_TOS] = v;
}
/** Sets the total length (does not update the checksum). */
export function setTotalLength(b: Uint8Array, off: number, v: number): void {
  writeU16(b, off + IPV4_TOTAL_LEN, v);
}
/** Sets the identification (does not update the checksum). */
export function setId(b: Uint8Array, off: number, v: number): void {
  writeU16(b, off + IPV4_ID, v);
}
/** Sets the flags/fragment word (does not update the checksum). */
export function setFlagsFragment(b: Uint8Array, off: number, v: number): void {
  writeU16(b, off + IPV4_FLAGS_FRAG, v);
}
/** Sets the TTL (does not update the checksum). */
export function setTtl(b: Uint8Array, off: number, v: number): void {
  b[off + IPV4_TTL] = v;
}
/** Sets the protocol (does not update the checksum). */
export function setProtocol(b: Uint8Array, off: number, v: number): void {
  b[off + IPV4_PROTO] = v;
}
/** Sets the header checksum field. */
export function setChecksum(b: Uint8Array, off: number, v: number): void {
  writeU16(b, off + IPV4_CHECKSUM, v);
}
/** Sets the source address (does not update the checksum). */
export function setSrc(b: Uint8Array, off: number, addr: number): void {
  writeU32(b, off + IPV4_SRC, addr);
}
/** Sets the destination address (does not update the checksum). */
export function setDst(b: Uint8Array, off: number, addr: number): void {
  writeU32(b, off + IPV4_DST, addr);
}

/** The header checksum of the `ihlBytes`-byte header at `off`, computed as if its checksum field were 0. */
export function ipv4HeaderChecksum(b: Uint8Array, off: number, ihlBytes: number): number {
  const s = onesSum(b, off, IPV4_CHECKSUM, 0);
  return finish(onesSum(b, off + IPV4_SRC, ihlBytes - IPV4_SRC, s));
}
/** Computes and stores the header checksum of the header at `off`. */
export function fillChecksum(b: Uint8Array, off: number): void {
  writeU16(b, off + IPV4_CHECKSUM, ipv4HeaderChecksum(b, off, (b[off] & 0x0f) << 2));
}
/** True when the stored header checksum of the `ihlBytes`-byte header at `off` is correct. */
export function checksumValid(b: Uint8Array, off: number, ihlBytes: number): boolean {
  return onesSum(b, off, ihlBytes, 0) === 0xffff;
}

/** Decrements the TTL and updates the checksum incrementally; returns the new TTL. Call only with TTL > 0. */
export function decrementTtl(b: Uint8Array, off: number): number {
  const o = off + IPV4_TTL;
  const oldWord = (b[o] << 8) | b[o + 1];
  const t = b[o] - 1;
  b[o] = t;
  setChecksum(b, off, csumUpdate16(checksum(b, off), oldWord, oldWord - 0x100));
  return t;
}
/** Sets the TTL, updating the checksum incrementally. */
export function rewriteTtl(b: Uint8Array, off: number, v: number): void {
  const o = off + IPV4_TTL;
  const oldWord = (b[o] << 8) | b[o + 1];
  b[o] = v;
  setChecksum(b, off, csumUpdate16(checksum(b, off), oldWord, (v << 8) | b[o + 1]));
}
/** Sets the total length, updating the checksum incrementally. */
export function rewriteTotalLength(b: Uint8Array, off: number, v: number): void {
  const oldValue = readU16(b, off + IPV4_TOTAL_LEN);
  writeU16(b, off + IPV4_TOTAL_LEN, v);
  setChecksum(b, off, csumUpdate16(checksum(b, off), oldValue, v));
}
/** Sets the identification, updating the checksum incrementally. */
export function rewriteId(b: Uint8Array, off: number, v: number): void {
  const oldValue = readU16(b, off + IPV4_ID);
  writeU16(b, off + IPV4_ID, v);
  setChecksum(b, off, csumUpdate16(checksum(b, off), oldValue, v));
}
/**
 * Sets the source address, updating the header checksum incrementally. The caller also fixes any
 * L4 checksum that covers the pseudo-header (csumUpdate32 with the same old/new values).
 */
export function rewriteSrc(b: Uint8Array, off: number, addr: number): void {
  const oldAddr = readU32(b, off + IPV4_SRC);
  writeU32(b, off + IPV4_SRC, addr);
  setChecksum(b, off, csumUpdate32(checksum(b, off), oldAddr, addr));
}
/** Sets the destination address, updating the header checksum incrementally (see rewriteSrc). */
export function rewriteDst(b: Uint8Array, off: number, addr: number): void {
  const oldAddr = readU32(b, off + IPV4_DST);
  writeU32(b, off + IPV4_DST, addr);
  setChecksum(b, off, csumUpdate32(checksum(b, off), oldAddr, addr));
}

/**
 * Writes a 20-byte header without options at `off`, checksum included. `flagsFrag` is the
 * flags/fragment word (e.g. IPV4_FLAG_DF).
 */
export function writeIpv4(
  b: Uint8Array,
  off: number,
  tosByte: number,
  total: number,
  ident: number,
  flagsFrag: number,
  ttlValue: number,
  proto: number,
  srcAddr: number,
  dstAddr: number,
): void {
  b[off] = 0x45;
  b[off + IPV4_TOS] = tosByte;
  writeU16(b, off + IPV4_TOTAL_LEN, total);
  writeU16(b, off + IPV4_ID, ident);
  writeU16(b, off + IPV4_FLAGS_FRAG, flagsFrag);
  b[off + IPV4_TTL] = ttlValue;
  b[off + IPV4_PROTO] = proto;
  writeU32(b, off + IPV4_SRC, srcAddr);
  writeU32(b, off + IPV4_DST, dstAddr);
  writeU16(b, off + IPV4_CHECKSUM, ipv4HeaderChecksum(b, off, IPV4_MIN_HEADER_LEN));
}
