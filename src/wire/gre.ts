/**
 * GRE (RFC 2784, keys and sequence numbers RFC 2890) and NVGRE (RFC 7637). `off` is the offset of
 * the GRE header (after the outer IPv4 header, IP protocol 47).
 *
 * NVGRE is GRE with only the K bit set, version 0, protocol 0x6558 (transparent Ethernet
 * bridging) and a 32-bit key = VSID (24 bits) << 8 | FlowID (8 bits): always 8 bytes, then the
 * inner Ethernet frame. nvgreCheck validates that shape once; vsid/flowId/nvgreKey read it
 * behind the check at the fixed offset. The general GRE accessors handle any C/K/S combination.
 */
import { readU16, readU32, writeU16, writeU32 } from './bytes.js';

/** IP protocol number of GRE. */
export const IPPROTO_GRE = 47;
/** Length of the base GRE header (flags/version, protocol). */
export const GRE_BASE_LEN = 4;
/** Offset of the flags/version word. */
export const GRE_FLAGS_VERSION = 0;
/** Offset of the protocol type. */
export const GRE_PROTOCOL = 2;
/** Checksum present. */
export const GRE_FLAG_C = 0x8000;
/** Key present. */
export const GRE_FLAG_K = 0x2000;
/** Sequence number present. */
export const GRE_FLAG_S = 0x1000;
/** Bits 1, 4 and 5 (RFC 1701 routing, strict route, recursion): a receiver must discard when set (RFC 2784). */
export const GRE_FLAGS_MUST_BE_ZERO = 0x4c00;
/** Version bits. */
export const GRE_VERSION_MASK = 0x0007;
/** Protocol type of NVGRE: transparent Ethernet bridging. */
export const GRE_PROTO_TEB = 0x6558;

/** Length of the NVGRE header. */
export const NVGRE_HEADER_LEN = 8;
/** Offset of the NVGRE key (VSID << 8 | FlowID). */
export const NVGRE_KEY = 4;
/** Flags/version word of NVGRE: K only, version 0. */
export const NVGRE_FLAGS = 0x2000;
/** Largest VSID. */
export const NVGRE_VSID_MAX = 0xffffff;
/** Outer bytes NVGRE adds over IPv4: Ethernet 14 + IPv4 20 + GRE 8. */
export const NVGRE_OVERHEAD_IPV4 = 42;
/** Smallest inner frame accepted: an Ethernet header. */
export const NVGRE_MIN_INNER_LEN = 14;

/** nvgreCheck reasons (0 = valid). */
export const NVGRE_OK = 0;
/** Fewer than the 8 bytes of an NVGRE header. */
export const NVGRE_TRUNCATED = 1;
/** Version not 0. */
export const NVGRE_BAD_VERSION = 2;
/** C or S set, or a must-be-zero bit (GRE_FLAGS_MUST_BE_ZERO). */
export const NVGRE_BAD_FLAGS = 3;
/** K clear: no VSID. */
export const NVGRE_NO_KEY = 4;
/** Protocol type not 0x6558. */
export const NVGRE_BAD_PROTOCOL = 5;
/** The inner frame is shorter than an Ethernet header. */
export const NVGRE_INNER_TRUNCATED = 6;
/** Names of the nvgreCheck reasons, indexed by reason. */
export const NVGRE_REASONS: readonly string[] = [
  'ok',
  'truncated',
  'bad-version',
  'bad-flags',
  'no-key',
  'bad-protocol',
  'inner-truncated',
];

/**
 * Validates the `len` bytes at `off` (the GRE header and inner frame) as NVGRE: 0, or a reason.
 * Reserved bits 6..12 are ignored (RFC 2784).
 */
export function nvgreCheck(b: Uint8Array, off: number, len: number): number {
  if (len < NVGRE_HEADER_LEN) return NVGRE_TRUNCATED;
  const fv = readU16(b, off + GRE_FLAGS_VERSION);
  if ((fv & GRE_VERSION_MASK) !== 0) return NVGRE_BAD_VERSION;
  if ((fv & (GRE_FLAG_C | GRE_FLAG_S | GRE_FLAGS_MUST_BE_ZERO)) !== 0) return NVGRE_BAD_FLAGS;
  if ((fv & GRE_FLAG_K) === 0) return NVGRE_NO_KEY;
  if (readU16(b, off + GRE_PROTOCOL) !== GRE_PROTO_TEB) return NVGRE_BAD_PROTOCOL;
  if (len < NVGRE_HEADER_LEN + NVGRE_MIN_INNER_LEN) return NVGRE_INNER_TRUNCATED;
  return NVGRE_OK;
}

/** Flags/version word. */
export function flagsVersion(b: Uint8Array, off: number): number {
  return readU16(b, off + GRE_FLAGS_VERSION);
}
/** Version (3 bits). */
export function version(b: Uint8Array, off: number): number {
  return b[off + 1] & GRE_VERSION_MASK;
}
/** Protocol type (an ethertype). */
export function protocol(b: Uint8Array, off: number): number {
  return readU16(b, off + GRE_PROTOCOL);
}
/** True when C (checksum present) is set. */
export function hasChecksum(b: Uint8Array, off: number): boolean {
  return (b[off] & 0x80) !== 0;
}
/** True when K (key present) is set. */
export function hasKey(b: Uint8Array, off: number): boolean {
  return (b[off] & 0x20) !== 0;
}
/** True when S (sequence number present) is set. */
export function hasSeq(b: Uint8Array, off: number): boolean {
  return (b[off] & 0x10) !== 0;
}
/** Header length in bytes implied by C, K and S: 4 + 4 for each. */
export function headerLength(b: Uint8Array, off: number): number {
  const f = b[off];
  return GRE_BASE_LEN + ((f >>> 7) & 1) * 4 + ((f >>> 5) & 1) * 4 + ((f >>> 4) & 1) * 4;
}
/** Key of any GRE header with K set (after the checksum word when C is set). */
export function key(b: Uint8Array, off: number): number {
  return readU32(b, off + GRE_BASE_LEN + ((b[off] >>> 7) & 1) * 4);
}
/** Sequence number of any GRE header with S set (after the checksum and key words when present). */
export function sequence(b: Uint8Array, off: number): number {
  const f = b[off];
  return readU32(b, off + GRE_BASE_LEN + ((f >>> 7) & 1) * 4 + ((f >>> 5) & 1) * 4);
}
/** Checksum field of a GRE header with C set. */
export function greChecksum(b: Uint8Array, off: number): number {
  return readU16(b, off + GRE_BASE_LEN);
}

/** The NVGRE key of a validated NVGRE header (VSID << 8 | FlowID). */
export function nvgreKey(b: Uint8Array, off: number): number {
  return readU32(b, off + NVGRE_KEY);
}
/** VSID (24 bits) of a validated NVGRE header. */
export function vsid(b: Uint8Array, off: number): number {
  return readU32(b, off + NVGRE_KEY) >>> 8;
}
/** FlowID (8 bits) of a validated NVGRE header. */
export function flowId(b: Uint8Array, off: number): number {
  return b[off + NVGRE_KEY + 3];
}
/** The 32-bit NVGRE key of `vsidValue` and `flowIdValue`. */
export function makeNvgreKey(vsidValue: number, flowIdValue: number): number {
  return ((vsidValue << 8) | (flowIdValue & 0xff)) >>> 0;
}
/** VSID of a 32-bit NVGRE key. */
export function keyVsid(k: number): number {
  return k >>> 8;
}
/** FlowID of a 32-bit NVGRE key. */
export function keyFlowId(k: number): number {
  return k & 0xff;
}
/** Sets the FlowID of an NVGRE header, leaving the VSID. */
export function setFlowId(b: Uint8Array, off: number, v: number): void {
  b[off + NVGRE_KEY + 3] = v;
}
/** Writes a whole NVGRE header: flags K only, version 0, protocol 0x6558, key VSID << 8 | FlowID. */
export function writeNvgre(b: Uint8Array, off: number, vsidValue: number, flowIdValue: number): void {
  writeU16(b, off + GRE_FLAGS_VERSION, NVGRE_FLAGS);
  writeU16(b, off + GRE_PROTOCOL, GRE_PROTO_TEB);
  writeU32(b, off + NVGRE_KEY, makeNvgreKey(vsidValue, flowIdValue));
}
