/**
 * VXLAN (RFC 7348): an 8-byte header after outer UDP (destination port 4789), then the inner
 * Ethernet frame. `off` is the offset of the VXLAN header. Only the I flag is checked on receipt;
 * reserved bits and bytes are ignored, as RFC 7348 section 5 requires, and written as zero.
 *
 *   0               1               2               3
 *   |R|R|R|R|I|R|R|R|            reserved (24)              |
 *   |                VNI (24)                |  reserved (8) |
 */
import { readU24, writeU24 } from './bytes.js';

/** Length of the VXLAN header. */
export const VXLAN_HEADER_LEN = 8;
/** IANA UDP destination port. */
export const VXLAN_PORT = 4789;
/** Offset of the flags byte. */
export const VXLAN_FLAGS = 0;
/** Offset of the 24-bit VNI. */
export const VXLAN_VNI = 4;
/** The I flag: the VNI is valid. */
export const VXLAN_FLAG_I = 0x08;
/** Largest VNI. */
export const VXLAN_VNI_MAX = 0xffffff;
/** Outer bytes VXLAN adds over IPv4: Ethernet 14 + IPv4 20 + UDP 8 + VXLAN 8. */
export const VXLAN_OVERHEAD_IPV4 = 50;
/** Outer bytes VXLAN adds over IPv6: Ethernet 14 + IPv6 40 + UDP 8 + VXLAN 8. */
export const VXLAN_OVERHEAD_IPV6 = 70;
/** Smallest inner frame accepted: an Ethernet header. */
export const VXLAN_MIN_INNER_LEN = 14;

/** vxlanCheck reasons (0 = valid). */
export const VXLAN_OK = 0;
/** Fewer than 8 bytes. */
export const VXLAN_TRUNCATED = 1;
/** I flag clear: no valid VNI. */
export const VXLAN_NO_I_FLAG = 2;
/** The inner frame is shorter than an Ethernet header. */
export const VXLAN_INNER_TRUNCATED = 3;
/** Names of the vxlanCheck reasons, indexed by reason. */
export const VXLAN_REASONS: readonly string[] = ['ok', 'truncated', 'no-i-flag', 'inner-truncated'];

/**
 * Validates the VXLAN header at `off` with `len` bytes of UDP payload (header + inner frame):
 * 0, or a reason. Reserved bits are ignored.
 */
export function vxlanCheck(b: Uint8Array, off: number, len: number): number {
  if (len < VXLAN_HEADER_LEN) return VXLAN_TRUNCATED;
  if ((b[off + VXLAN_FLAGS] & VXLAN_FLAG_I) === 0) return VXLAN_NO_I_FLAG;
  if (len < VXLAN_HEADER_LEN + VXLAN_MIN_INNER_LEN) return VXLAN_INNER_TRUNCATED;
  return VXLAN_OK;
}

/** Flags byte. */
export function flags(b: Uint8Array, off: number): number {
  return b[off + VXLAN_FLAGS];
}
/** VNI (24 bits). */
export function vni(b: Uint8Array, off: number): number {
  return readU24(b, off + VXLAN_VNI);
}
/** Sets the VNI, leaving the other bytes alone. */
export function setVni(b: Uint8Array, off: number, v: number): void {
  writeU24(b, off + VXLAN_VNI, v);
}
/** Writes a whole header: flags = I, reserved fields zero, VNI `v`. */
export function writeVxlan(b: Uint8Array, off: number, v: number): void {
  b[off] = VXLAN_FLAG_I;
  b[off + 1] = 0;
  b[off + 2] = 0;
  b[off + 3] = 0;
  writeU24(b, off + VXLAN_VNI, v);
  b[off + 7] = 0;
}
