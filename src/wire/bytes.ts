/**
 * Big-endian integer access at byte offsets of a Uint8Array: the primitives every header module
 * uses. Plain byte arithmetic, no DataView, no allocation, no bounds checks (STYLE.md 1, 2).
 * MAC addresses are 48-bit numbers (exact in a double); IPv4 addresses uint32 in host order.
 */

/** Big-endian uint16 at `off`. */
export function readU16(b: Uint8Array, off: number): number {
  return (b[off] << 8) | b[off + 1];
}

/** Writes `v` as big-endian uint16 at `off`. */
export function writeU16(b: Uint8Array, off: number, v: number): void {
  b[off] = v >>> 8;
  b[off + 1] = v;
}

/** Big-endian uint24 at `off`. */
export function readU24(b: Uint8Array, off: number): number {
  return (b[off] << 16) | (b[off + 1] << 8) | b[off + 2];
}

/** Writes `v` as big-endian uint24 at `off`. */
export function writeU24(b: Uint8Array, off: number, v: number): void {
  b[off] = v >>> 16;
  b[off + 1] = v >>> 8;
  b[off + 2] = v;
}

/** Big-endian uint32 at `off` (always non-negative). */
export function readU32(b: Uint8Array, off: number): number {
  return ((b[off] << 24) | (b[off + 1] << 16) | (b[off + 2] << 8) | b[off + 3]) >>> 0;
}

/** Writes `v` as big-endian uint32 at `off`. */
export function writeU32(b: Uint8Array, off: number, v: number): void {
  b[off] = v >>> 24;
  b[off + 1] = v >>> 16;
  b[off + 2] = v >>> 8;
  b[off + 3] = v;
}

/** The 6-byte MAC address at `off` as a 48-bit number. */
export function readMac(b: Uint8Array, off: number): number {
  return ((b[off] << 8) | b[off + 1]) * 0x100000000 + readU32(b, off + 2);
}

/** Writes the 48-bit MAC `mac` as 6 bytes at `off`. */
export function writeMac(b: Uint8Array, off: number, mac: number): void {
  const hi = Math.floor(mac / 0x100000000);
  b[off] = hi >>> 8;
  b[off + 1] = hi;
  writeU32(b, off + 2, mac >>> 0);
}

/** True when `len` bytes at `aOff` of `a` equal those at `bOff` of `b`. */
export function bytesEqual(a: Uint8Array, aOff: number, b: Uint8Array, bOff: number, len: number): boolean {
  for (let i = 0; i < len; i++) if (a[aOff + i] !== b[bOff + i]) return false;
  return true;
}
