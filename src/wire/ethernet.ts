/**
 * Ethernet II frames and 802.1Q / 802.1ad tags. `off` is the offset of the frame's first byte
 * (the destination MAC). MACs are 48-bit numbers. A frame may carry up to two VLAN tags;
 * `l3Offset` skips them and `l3EtherType` gives the ethertype of what follows.
 */
import { readMac, readU16, writeMac, writeU16 } from './bytes.js';

export { readMac, writeMac } from './bytes.js';

/** Length of an untagged Ethernet header. */
export const ETH_HEADER_LEN = 14;
/** Offset of the destination MAC. */
export const ETH_DST = 0;
/** Offset of the source MAC. */
export const ETH_SRC = 6;
/** Offset of the (outer) ethertype or VLAN TPID. */
export const ETH_TYPE = 12;
/** Length of one 802.1Q tag (TPID + TCI). */
export const VLAN_TAG_LEN = 4;
/** Minimum Ethernet frame length without FCS (short frames are padded to it). */
export const ETH_MIN_FRAME_LEN = 60;

export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_ARP = 0x0806;
export const ETHERTYPE_IPV6 = 0x86dd;
/** 802.1Q VLAN tag. */
export const ETHERTYPE_VLAN = 0x8100;
/** 802.1ad service tag (QinQ outer tag). */
export const ETHERTYPE_QINQ = 0x88a8;
/** Transparent Ethernet Bridging: the GRE protocol of NVGRE. */
export const ETHERTYPE_TEB = 0x6558;

/** ff:ff:ff:ff:ff:ff as a number. */
export const MAC_BROADCAST = 0xffffffffffff;

/** Destination MAC. */
export function dst(b: Uint8Array, off: number): number {
  return readMac(b, off + ETH_DST);
}
/** Source MAC. */
export function src(b: Uint8Array, off: number): number {
  return readMac(b, off + ETH_SRC);
}
/** Outer ethertype (a TPID when the frame is tagged). */
export function etherType(b: Uint8Array, off: number): number {
  return readU16(b, off + ETH_TYPE);
}
/** Sets the destination MAC. */
export function setDst(b: Uint8Array, off: number, mac: number): void {
  writeMac(b, off + ETH_DST, mac);
}
/** Sets the source MAC. */
export function setSrc(b: Uint8Array, off: number, mac: number): void {
  writeMac(b, off + ETH_SRC, mac);
}
/** Sets the outer ethertype. */
export function setEtherType(b: Uint8Array, off: number, type: number): void {
  writeU16(b, off + ETH_TYPE, type);
}
/** Writes a whole untagged header: destination, source, ethertype. */
export function writeEthernet(b: Uint8Array, off: number, dstMac: number, srcMac: number, type: number): void {
  writeMac(b, off + ETH_DST, dstMac);
  writeMac(b, off + ETH_SRC, srcMac);
  writeU16(b, off + ETH_TYPE, type);
}

/** True when the destination is ff:ff:ff:ff:ff:ff. */
export function isBroadcast(b: Uint8Array, off: number): boolean {
  return (b[off] & b[off + 1] & b[off + 2] & b[off + 3] & b[off + 4] & b[off + 5]) === 0xff;
}
/** True when the destination has the group bit set (multicast, including broadcast). */
export function isMulticast(b: Uint8Array, off: number): boolean {
  return (b[off + ETH_DST] & 1) === 1;
}
/** True when the 48-bit MAC number has the group bit set. */
export function macIsMulticast(mac: number): boolean {
  return (Math.floor(mac / 0x10000000000) & 1) === 1;
}

function isVlanTpid(t: number): boolean {
  return t === ETHERTYPE_VLAN || t === ETHERTYPE_QINQ;
}

/**
 * Offset of the L3 payload of the `len`-byte frame at `off`, after 0, 1 or 2 VLAN tags; -1 if the
 * frame is too short for its header and tags. A third tag is not skipped: then the offset points
 * at it and l3EtherType reports a TPID, which callers treat as an unknown protocol.
 */
export function l3Offset(b: Uint8Array, off: number, len: number): number {
  if (len < ETH_HEADER_LEN) return -1;
  let p = off + ETH_TYPE;
  const end = off + len;
  for (let tags = 0; tags < 2 && isVlanTpid(readU16(b, p)); tags++) {
    p += VLAN_TAG_LEN;
    if (p + 2 > end) return -1;
  }
  return p + 2;
}

/** Effective ethertype of the payload at `l3Off` (as returned by l3Offset): the 2 bytes before it. */
export function l3EtherType(b: Uint8Array, l3Off: number): number {
  return readU16(b, l3Off - 2);
}

/** Number of VLAN tags (0..2) between the MACs and the effective ethertype at `l3Off`. */
export function vlanTagCount(off: number, l3Off: number): number {
  return (l3Off - off - ETH_HEADER_LEN) / VLAN_TAG_LEN;
}

/** TCI of tag `index` (0 = outer) of the tagged frame at `off`. */
export function vlanTci(b: Uint8Array, off: number, index = 0): number {
  return readU16(b, off + ETH_HEADER_LEN + index * VLAN_TAG_LEN);
}
/** VLAN id (12 bits) of tag `index` (0 = outer) of the tagged frame at `off`. */
export function vlanId(b: Uint8Array, off: number, index = 0): number {
  return vlanTci(b, off, index) & 0x0fff;
}
/** Priority code point (3 bits) of tag `index` of the tagged frame at `off`. */
export function vlanPcp(b: Uint8Array, off: number, index = 0): number {
  return vlanTci(b, off, index) >>> 13;
}
