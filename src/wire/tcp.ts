/**
 * TCP headers (RFC 9293): the fields a flow table and conntrack read, and the checksum over the
 * IPv4 / IPv6 pseudo-header. `off` is the offset of the TCP header, `ipOff` that of its IP header.
 */
import { readU16, readU32, writeU16, writeU32 } from './bytes.js';
import { finish, onesSum, pseudoSumIpv4, pseudoSumIpv6 } from './checksum.js';

/** Length of a header without options. */
export const TCP_MIN_HEADER_LEN = 20;
/** Offset of the source port. */
export const TCP_SRC_PORT = 0;
/** Offset of the destination port. */
export const TCP_DST_PORT = 2;
/** Offset of the sequence number. */
export const TCP_SEQ = 4;
/** Offset of the acknowledgment number. */
export const TCP_ACK = 8;
/** Offset of the data offset byte (high nibble). */
export const TCP_DATA_OFFSET = 12;
/** Offset of the flags byte. */
export const TCP_FLAGS = 13;
/** Offset of the window. */
export const TCP_WINDOW = 14;
/** Offset of the checksum. */
export const TCP_CHECKSUM = 16;
/** Offset of the urgent pointer. */
export const TCP_URGENT = 18;

export const TCP_FLAG_FIN = 0x01;
export const TCP_FLAG_SYN = 0x02;
export const TCP_FLAG_RST = 0x04;
export const TCP_FLAG_PSH = 0x08;
export const TCP_FLAG_ACK = 0x10;
export const TCP_FLAG_URG = 0x20;
export const TCP_FLAG_ECE = 0x40;
export const TCP_FLAG_CWR = 0x80;

/** tcpCheck reasons (0 = valid). */
export const TCP_OK = 0;
export const TCP_TRUNCATED = 1;
/** Data offset below 5 words or beyond the bytes available. */
export const TCP_BAD_DATA_OFFSET = 2;
/** Names of the tcpCheck reasons, indexed by reason. */
export const TCP_REASONS: readonly string[] = ['ok', 'truncated', 'bad-data-offset'];

/** Validates the TCP header at `off` with `len` bytes of IP payload: 0, or a reason. No checksum. */
export function tcpCheck(b: Uint8Array, off: number, len: number): number {
  if (len < TCP_MIN_HEADER_LEN) return TCP_TRUNCATED;
  const doff = (b[off + TCP_DATA_OFFSET] >>> 4) << 2;
  if (doff < TCP_MIN_HEADER_LEN || doff > len) return TCP_BAD_DATA_OFFSET;
  return TCP_OK;
}

/** Source port. */
export function srcPort(b: Uint8Array, off: number): number {
  return readU16(b, off + TCP_SRC_PORT);
}
/** Destination port. */
export function dstPort(b: Uint8Array, off: number): number {
  return readU16(b, off + TCP_DST_PORT);
}
/** Sequence number. */
export function seq(b: Uint8Array, off: number): number {
  return readU32(b, off + TCP_SEQ);
}
/** Acknowledgment number. */
export function ack(b: Uint8Array, off: number): number {
  return readU32(b, off + TCP_ACK);
}
/** Header length in bytes (data offset * 4). */
export function dataOffset(b: Uint8Array, off: number): number {
  return (b[off + TCP_DATA_OFFSET] >>> 4) << 2;
}
/** Flags byte (TCP_FLAG_FIN .. TCP_FLAG_CWR). */
export function flags(b: Uint8Array, off: number): number {
  return b[off + TCP_FLAGS];
}
/** Window (unscaled). */
export function window(b: Uint8Array, off: number): number {
  return readU16(b, off + TCP_WINDOW);
}
/** Checksum field. */
export function checksum(b: Uint8Array, off: number): number {
  return readU16(b, off + TCP_CHECKSUM);
}
/** Urgent pointer. */
export function urgentPointer(b: Uint8Array, off: number): number {
  return readU16(b, off + TCP_URGENT);
}
/** Sets the source port. */
export function setSrcPort(b: Uint8Array, off: number, v: number): void {
  writeU16(b, off + TCP_SRC_PORT, v);
}
/** Sets the destination port. */
export function setDstPort(b: Uint8Array, off: number, v: number): void {
  writeU16(b, off + TCP_DST_PORT, v);
}
/** Sets the sequence number. */
export function setSeq(b: Uint8Array, off: number, v: number): void {
  writeU32(b, off + TCP_SEQ, v);
}
/** Sets the acknowledgment number. */
export function setAck(b: Uint8Array, off: number, v: number): void {
  writeU32(b, off + TCP_ACK, v);
}
/** Sets the header length in bytes (a multiple of 4, 20..60); clears the reserved bits. */
export function setDataOffset(b: Uint8Array, off: number, bytes: number): void {
  b[off + TCP_DATA_OFFSET] = (bytes >>> 2) << 4;
}
/** Sets the flags byte. */
export function setFlags(b: Uint8Array, off: number, v: number): void {
  b[off + TCP_FLAGS] = v;
}
/** Sets the window. */
export function setWindow(b: Uint8Array, off: number, v: number): void {
  writeU16(b, off + TCP_WINDOW, v);
}
/** Sets the checksum field. */
export function setChecksum(b: Uint8Array, off: number, v: number): void {
  writeU16(b, off + TCP_CHECKSUM, v);
}
/** Sets the urgent pointer. */
export function setUrgentPointer(b: Uint8Array, off: number, v: number): void {
  writeU16(b, off + TCP_URGENT, v);
}

/** Checksum of the `tcpLen`-byte segment at `off` in the IPv4 header at `ipOff`, as if the field were 0. */
export function tcpChecksumIpv4(b: Uint8Array, ipOff: number, off: number, tcpLen: number): number {
  const s = onesSum(b, off, TCP_CHECKSUM, pseudoSumIpv4(b, ipOff, 6, tcpLen));
  return finish(onesSum(b, off + TCP_URGENT, tcpLen - TCP_URGENT, s));
}
/** Checksum of the `tcpLen`-byte segment at `off` in the IPv6 header at `ipOff`, as if the field were 0. */
export function tcpChecksumIpv6(b: Uint8Array, ipOff: number, off: number, tcpLen: number): number {
  const s = onesSum(b, off, TCP_CHECKSUM, pseudoSumIpv6(b, ipOff, 6, tcpLen));
  return finish(onesSum(b, off + TCP_URGENT, tcpLen - TCP_URGENT, s));
}
/** True when the stored checksum of the segment is correct, over IPv4. */
export function tcpChecksumOkIpv4(b: Uint8Array, ipOff: number, off: number, tcpLen: number): boolean {
  return onesSum(b, off, tcpLen, pseudoSumIpv4(b, ipOff, 6, tcpLen)) === 0xffff;
}
/** True when the stored checksum of the segment is correct, over IPv6. */
export function tcpChecksumOkIpv6(b: Uint8Array, ipOff: number, off: number, tcpLen: number): boolean {
  return onesSum(b, off, tcpLen, pseudoSumIpv6(b, ipOff, 6, tcpLen)) === 0xffff;
}
