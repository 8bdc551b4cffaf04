/**
 * The virtio-net header (virtio 1.x, section 5.1.6) that a TAP with IFF_VNET_HDR puts in front of
 * every frame: checksum and segmentation offload state. Little-endian on the hosts switchyard
 * runs on (the tun driver uses the host's order unless TUNSETVNETLE/BE says otherwise).
 *
 *   0 flags (u8)  1 gso_type (u8)  2 hdr_len  4 gso_size  6 csum_start  8 csum_offset  [10 num_buffers]
 */

export const VNET_HDR_LEN = 10;
/** With num_buffers (TUNSETVNETHDRSZ 12), the layout switchyard uses. */
export const VNET_HDR_LEN_MRG = 12;

export const VNET_F_NEEDS_CSUM = 1;
export const VNET_F_DATA_VALID = 2;

export const VNET_GSO_NONE = 0;
export const VNET_GSO_TCPV4 = 1;
export const VNET_GSO_UDP = 3;
export const VNET_GSO_TCPV6 = 4;
export const VNET_GSO_UDP_L4 = 5;
export const VNET_GSO_ECN = 0x80;

/** Zeroes the `n`-byte header that ends at `end` (no offload state). A loop the JIT inlines: a
 * typed array's fill() is a call into the runtime, dearer than the 12 stores on a per-frame path. */
export function clearVnetHdr(slab: Uint8Array, end: number, n: number): void {
  for (let i = end - n; i < end; i++) slab[i] = 0;
}

export function vnetFlags(b: Uint8Array, off: number): number {
  return b[off];
}
export function vnetGsoType(b: Uint8Array, off: number): number {
  return b[off + 1];
}
export function vnetHdrLen(b: Uint8Array, off: number): number {
  return b[off + 2] | (b[off + 3] << 8);
}
export function vnetGsoSize(b: Uint8Array, off: number): number {
  return b[off + 4] | (b[off + 5] << 8);
}
export function vnetCsumStart(b: Uint8Array, off: number): number {
  return b[off + 6] | (b[off + 7] << 8);
}
export function vnetCsumOffset(b: Uint8Array, off: number): number {
  return b[off + 8] | (b[off + 9] << 8);
}

/** Writes a whole header (`size` 10 or 12 bytes; num_buffers 0). */
export function writeVnetHdr(
  b: Uint8Array, off: number, size: number, flags: number, gsoType: number, hdrLen: number, gsoSize: number, csumStart: number, csumOffset: number,
): void {
  b[off] = flags;
  b[off + 1] = gsoType;
  b[off + 2] = hdrLen & 0xff;
  b[off + 3] = hdrLen >>> 8;
  b[off + 4] = gsoSize & 0xff;
  b[off + 5] = gsoSize >>> 8;
  b[off + 6] = csumStart & 0xff;
  b[off + 7] = csumStart >>> 8;
  b[off + 8] = csumOffset & 0xff;
  b[off + 9] = csumOffset >>> 8;
  if (size > 10) b.fill(0, off + 10, off + size);
}

/** An all-zero header: no checksum or segmentation work asked. */
export function zeroVnetHdr(b: Uint8Array, off: number, size: number): void {
  b.fill(0, off, off + size);
}
