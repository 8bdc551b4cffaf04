/**
 * UDP headers (RFC 768) and their checksums over the IPv4 / IPv6 pseudo-header. `off` is the
 * offset of the UDP header, `ipOff` that of the IP header carrying it. Over IPv4 a zero checksum
 * means "none"; a computed zero is sent as 0xffff.
 */
import { readU16, writeU16 } from './bytes.js';
import { finish, onesSum, pseudoSumIpv4, pseudoSumIpv6 } from './checksum.js';

/** Length of the UDP header. */
export const UDP_HEADER_LEN = 8;
/** Offset of the source port. */
export const UDP_SRC_PORT = 0;
/** Offset of the destination port. */
export const UDP_DST_PORT = 2;
/** Offset of the length (header + payload). */
export const UDP_LENGTH = 4;
/** Offset of the checksum. */
export const UDP_CHECKSUM = 6;

/** udpCheck reasons (0 = valid). */
export const UDP_OK = 0;
export const UDP_TRUNCATED = 1;
/** Length field below 8 or beyond the bytes available. */
export const UDP_BAD_LENGTH = 2;
/** Names of the udpCheck reasons, indexed by reason. */
export const UDP_REASONS: readonly string[] = ['ok', 'truncated', 'bad-length'];

/**
 * Validates the UDP header at `off` with `len` bytes available (the IP payload length): 0, or a
 * reason. Does not verify the checksum (see udpChecksumOkIpv4).
 */
export function udpCheck(b: Uint8Array, off: number, len: number): number {
  if (len < UDP_HEADER_LEN) return UDP_TRUNCATED;
  const l = readU16(b, off + UDP_LENGTH);
  if (l < UDP_HEADER_LEN || l > len) return UDP_BAD_LENGTH;
  return UDP_OK;
}

/** Source port. */
export function srcPort(b: Uint8Array, off: number): number {
  return readU16(b, off + UDP_SRC_PORT);
}
/** Destination port. */
export function dstPort(b: Uint8Array, off: number): number {
  return readU16(b, off + UDP_DST_PORT);
}
/** Length (header + payload). */
export function length(b: Uint8Array, off: number): number {
  return readU16(b, off + UDP_LENGTH);
}
/** Checksum field (0 = none, over IPv4). */
export function checksum(b: Uint8Array, off: number): number {
  return readU16(b, off + UDP_CHECKSUM);
}
/** Sets the source port. */
export function setSrcPort(b: Uint8Array, off: number, v: number): void {
  writeU16(b, off + UDP_SRC_PORT, v);
}
/** Sets the destination port. */
export function setDstPort(b: Uint8Array, off: number, v: number): void {
  writeU16(b, off + UDP_DST_PORT, v);
}
/** Sets the length. */
export function setLength(b: Uint8Array, off: number, v: number): void {
  writeU16(b, off + UDP_LENGTH, v);
}
/** Sets the checksum field. */
export function setChecksum(b: Uint8Array, off: number, v: number): void {
  writeU16(b, off + UDP_CHECKSUM, v);
}
/** Writes a whole header; `csum` is usually 0 (none) for tunnels, or filled in later. */
export function writeUdp(b: Uint8Array, off: number, sport: number, dport: number, len: number, csum = 0): void {
  writeU16(b, off + UDP_SRC_PORT, sport);
  writeU16(b, off + UDP_DST_PORT, dport);
  writeU16(b, off + UDP_LENGTH, len);
  writeU16(b, off + UDP_CHECKSUM, csum);
}

/**
 * Checksum of the `udpLen`-byte datagram at `off` in the IPv4 header at `ipOff`, computed as if
 * the checksum field were 0; a result of 0 is returned as 0xffff (RFC 768).
 */
export function udpChecksumIpv4(b: Uint8Array, ipOff: number, off: number, udpLen: number): number {
  const s = onesSum(b, off, UDP_CHECKSUM, pseudoSumIpv4(b, ipOff, 17, udpLen));
  return finish(onesSum(b, off + UDP_HEADER_LEN, udpLen - UDP_HEADER_LEN, s)) || 0xffff;
}
/** As udpChecksumIpv4 for a datagram in the IPv6 header at `ipOff` (where 0 is not allowed). */
export function udpChecksumIpv6(b: Uint8Array, ipOff: number, off: number, udpLen: number): number {
  const s = onesSum(b, off, UDP_CHECKSUM, pseudoSumIpv6(b, ipOff, 17, udpLen));
  return finish(onesSum(b, off + UDP_HEADER_LEN, udpLen - UDP_HEADER_LEN, s)) || 0xffff;
}
/** True when the datagram's checksum is absent (0) or correct, over IPv4. */
export function udpChecksumOkIpv4(b: Uint8Array, ipOff: number, off: number, udpLen: number): boolean {
  if (readU16(b, off + UDP_CHECKSUM) === 0) return true;
  return onesSum(b, off, udpLen, pseudoSumIpv4(b, ipOff, 17, udpLen)) === 0xffff;
}
/** True when the datagram's checksum is correct, over IPv6 (a zero checksum is not accepted). */
export function udpChecksumOkIpv6(b: Uint8Array, ipOff: number, off: number, udpLen: number): boolean {
  if (readU16(b, off + UDP_CHECKSUM) === 0) return false;
  return onesSum(b, off, udpLen, pseudoSumIpv6(b, ipOff, 17, udpLen)) === 0xffff;
}
/**
 * True when the checksum field holds only the folded pseudo-header sum, as a kernel leaves it for
 * checksum offload (CHECKSUM_PARTIAL) and as packet captures on a veth show it.
 */
export function udpChecksumIsPartialIpv4(b: Uint8Array, ipOff: number, off: number, udpLen: number): boolean {
  return readU16(b, off + UDP_CHECKSUM) === pseudoSumIpv4(b, ipOff, 17, udpLen);
}
