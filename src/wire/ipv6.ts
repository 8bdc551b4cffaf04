/**
 * IPv6 fixed headers (RFC 8200). `off` is the offset of the IPv6 header. Addresses stay bytes:
 * IPV6_SRC/IPV6_DST are their offsets inside the header, and addrEqual/addrCopy work on them
 * without allocating. Extension headers are not walked here.
 */
import { bytesEqual, readU16, readU32, writeU16, writeU32 } from './bytes.js';

/** Length of the fixed header. */
export const IPV6_HEADER_LEN = 40;
/** Offset of the version / traffic class / flow label word. */
export const IPV6_VER_TC_FLOW = 0;
/** Offset of the payload length. */
export const IPV6_PAYLOAD_LEN = 4;
/** Offset of the next header. */
export const IPV6_NEXT_HEADER = 6;
/** Offset of the hop limit. */
export const IPV6_HOP_LIMIT = 7;
/** Offset of the 16-byte source address. */
export const IPV6_SRC = 8;
/** Offset of the 16-byte destination address. */
export const IPV6_DST = 24;
/** Length of an address. */
export const IPV6_ADDR_LEN = 16;

/** Next-header values for extension headers (not walked by this module). */
export const IPV6_NH_HOP_BY_HOP = 0;
export const IPV6_NH_ROUTING = 43;
export const IPV6_NH_FRAGMENT = 44;
export const IPV6_NH_NONE = 59;
export const IPV6_NH_DEST_OPTS = 60;

/** ipv6Check reasons (0 = valid). */
export const IPV6_OK = 0;
export const IPV6_TRUNCATED = 1;
export const IPV6_BAD_VERSION = 2;
/** Payload length beyond the bytes available. */
export const IPV6_BAD_PAYLOAD_LENGTH = 3;
/** Names of the ipv6Check reasons, indexed by reason. */
export const IPV6_REASONS: readonly string[] = ['ok', 'truncated', 'bad-version', 'bad-payload-length'];

/** Validates the fixed IPv6 header at `off` with `len` bytes available: 0, or a reason. */
export function ipv6Check(b: Uint8Array, off: number, len: number): number {
  if (len < IPV6_HEADER_LEN) return IPV6_TRUNCATED;
  if (b[off] >>> 4 !== 6) return IPV6_BAD_VERSION;
  if (readU16(b, off + IPV6_PAYLOAD_LEN) > len - IPV6_HEADER_LEN) return IPV6_BAD_PAYLOAD_LENGTH;
  return IPV6_OK;
}

/** Version (6 for IPv6). */
export function version(b: Uint8Array, off: number): number {
  return b[off] >>> 4;
}
/** Traffic class (DSCP << 2 | ECN). */
export function trafficClass(b: Uint8Array, off: number): number {
  return (readU16(b, off) >>> 4) & 0xff;
}
/** Flow label (20 bits). */
export function flowLabel(b: Uint8Array, off: number): number {
  return readU32(b, off) & 0xfffff;
}
/** Payload length (bytes after the fixed header). */
export function payloadLength(b: Uint8Array, off: number): number {
  return readU16(b, off + IPV6_PAYLOAD_LEN);
}
/** Next header (IPPROTO_* or an extension header). */
export function nextHeader(b: Uint8Array, off: number): number {
  return b[off + IPV6_NEXT_HEADER];
}
/** Hop limit. */
export function hopLimit(b: Uint8Array, off: number): number {
  return b[off + IPV6_HOP_LIMIT];
}
/** Sets version 6, traffic class `tc` and flow label `label`. */
export function setVersionTcFlow(b: Uint8Array, off: number, tc: number, label: number): void {
  writeU32(b, off, ((6 << 28) | ((tc & 0xff) << 20) | (label & 0xfffff)) >>> 0);
}
/** Sets the payload length. */
export function setPayloadLength(b: Uint8Array, off: number, v: number): void {
  writeU16(b, off + IPV6_PAYLOAD_LEN, v);
}
/** Sets the next header. */
export function setNextHeader(b: Uint8Array, off: number, v: number): void {
  b[off + IPV6_NEXT_HEADER] = v;
}
/** Sets the hop limit. */
export function setHopLimit(b: Uint8Array, off: number, v: number): void {
  b[off + IPV6_HOP_LIMIT] = v;
}

/** True when the 16-byte addresses at `aOff` of `a` and `bOff` of `b` are equal. */
export function addrEqual(a: Uint8Array, aOff: number, b: Uint8Array, bOff: number): boolean {
  return bytesEqual(a, aOff, b, bOff, IPV6_ADDR_LEN);
}
/** Copies the 16-byte address at `srcOff` of `src` to `dstOff` of `dst`. */
export function addrCopy(dst: Uint8Array, dstOff: number, src: Uint8Array, srcOff: number): void {
  for (let i = 0; i < IPV6_ADDR_LEN; i++) dst[dstOff + i] = src[srcOff + i];
}
/** True when the address at `addrOff` is multicast (ff00::/8). */
export function addrIsMulticast(b: Uint8Array, addrOff: number): boolean {
  return b[addrOff] === 0xff;
}
/** True when the address at `addrOff` is unspecified (::). */
export function addrIsUnspecified(b: Uint8Array, addrOff: number): boolean {
  for (let i = 0; i < IPV6_ADDR_LEN; i++) if (b[addrOff + i] !== 0) return false;
  return true;
}
/** True when the address at `addrOff` is link-local unicast (fe80::/10). */
export function addrIsLinkLocal(b: Uint8Array, addrOff: number): boolean {
  return b[addrOff] === 0xfe && (b[addrOff + 1] & 0xc0) === 0x80;
}
