/**
 * ARP for IPv4 over Ethernet (RFC 826): the only ARP the dataplane speaks. `off` is the offset of
 * the ARP payload (after the Ethernet header and any VLAN tags). arpCheck validates it once at the
 * edge; the accessors behind it do not re-check. The dataplane answers requests from policy by
 * rewriting the request frame in place (arpRequestToReply).
 */
import { readMac, readU16, readU32, writeMac, writeU16, writeU32 } from './bytes.js';
import { ETH_DST, ETH_SRC } from './ethernet.js';

/** Length of an Ethernet/IPv4 ARP payload. */
export const ARP_LEN = 28;
/** Offset of the hardware type. */
export const ARP_HTYPE = 0;
/** Offset of the protocol type. */
export const ARP_PTYPE = 2;
/** Offset of the hardware address length. */
export const ARP_HLEN = 4;
/** Offset of the protocol address length. */
export const ARP_PLEN = 5;
/** Offset of the operation. */
export const ARP_OP = 6;
/** Offset of the sender hardware address. */
export const ARP_SHA = 8;
/** Offset of the sender protocol address. */
export const ARP_SPA = 14;
/** Offset of the target hardware address. */
export const ARP_THA = 18;
/** Offset of the target protocol address. */
export const ARP_TPA = 24;

export const ARP_HTYPE_ETHERNET = 1;
export const ARP_PTYPE_IPV4 = 0x0800;
export const ARP_OP_REQUEST = 1;
export const ARP_OP_REPLY = 2;

/** arpCheck reasons (0 = valid). */
export const ARP_OK = 0;
export const ARP_TRUNCATED = 1;
export const ARP_BAD_HTYPE = 2;
export const ARP_BAD_PTYPE = 3;
export const ARP_BAD_HLEN = 4;
export const ARP_BAD_PLEN = 5;
export const ARP_BAD_OP = 6;
/** Names of the arpCheck reasons, indexed by reason. */
export const ARP_REASONS: readonly string[] = ['ok', 'truncated', 'bad-htype', 'bad-ptype', 'bad-hlen', 'bad-plen', 'bad-op'];

/**
 * Validates the `len` bytes at `off` as an Ethernet/IPv4 ARP request or reply: 0, or a reason.
 * Trailing bytes (Ethernet padding) are allowed.
 */
export function arpCheck(b: Uint8Array, off: number, len: number): number {
  if (len < ARP_LEN) return ARP_TRUNCATED;
  if (readU16(b, off + ARP_HTYPE) !== ARP_HTYPE_ETHERNET) return ARP_BAD_HTYPE;
  if (readU16(b, off + ARP_PTYPE) !== ARP_PTYPE_IPV4) return ARP_BAD_PTYPE;
  if (b[off + ARP_HLEN] !== 6) return ARP_BAD_HLEN;
  if (b[off + ARP_PLEN] !== 4) return ARP_BAD_PLEN;
  const op = readU16(b, off + ARP_OP);
  if (op !== ARP_OP_REQUEST && op !== ARP_OP_REPLY) return ARP_BAD_OP;
  return ARP_OK;
}

/** Operation (1 request, 2 reply). */
export function op(b: Uint8Array, off: number): number {
  return readU16(b, off + ARP_OP);
}
/** Sender hardware address. */
export function senderMac(b: Uint8Array, off: number): number {
  return readMac(b, off + ARP_SHA);
}
/** Sender protocol (IPv4) address. */
export function senderIp(b: Uint8Array, off: number): number {
  return readU32(b, off + ARP_SPA);
}
/** Target hardware address (zero in a request). */
export function targetMac(b: Uint8Array, off: number): number {
  return readMac(b, off + ARP_THA);
}
/** Target protocol (IPv4) address. */
export function targetIp(b: Uint8Array, off: number): number {
  return readU32(b, off + ARP_TPA);
}
/** True for a gratuitous ARP (sender IP equals target IP). */
export function isGratuitous(b: Uint8Array, off: number): boolean {
  return readU32(b, off + ARP_SPA) === readU32(b, off + ARP_TPA);
}
/** Sets the operation. */
export function setOp(b: Uint8Array, off: number, v: number): void {
  writeU16(b, off + ARP_OP, v);
}
/** Sets the sender hardware address. */
export function setSenderMac(b: Uint8Array, off: number, mac: number): void {
  writeMac(b, off + ARP_SHA, mac);
}
/** Sets the sender protocol address. */
export function setSenderIp(b: Uint8Array, off: number, ip: number): void {
  writeU32(b, off + ARP_SPA, ip);
}
/** Sets the target hardware address. */
export function setTargetMac(b: Uint8Array, off: number, mac: number): void {
  writeMac(b, off + ARP_THA, mac);
}
/** Sets the target protocol address. */
export function setTargetIp(b: Uint8Array, off: number, ip: number): void {
  writeU32(b, off + ARP_TPA, ip);
}

/** Writes a whole 28-byte Ethernet/IPv4 ARP payload at `off` with operation `operation`. */
export function writeArp(
  b: Uint8Array,
  off: number,
  operation: number,
  sha: number,
  spa: number,
  tha: number,
  tpa: number,
): void {
  writeU16(b, off + ARP_HTYPE, ARP_HTYPE_ETHERNET);
  writeU16(b, off + ARP_PTYPE, ARP_PTYPE_IPV4);
  b[off + ARP_HLEN] = 6;
  b[off + ARP_PLEN] = 4;
  writeU16(b, off + ARP_OP, operation);
  writeMac(b, off + ARP_SHA, sha);
  writeU32(b, off + ARP_SPA, spa);
  writeMac(b, off + ARP_THA, tha);
  writeU32(b, off + ARP_TPA, tpa);
}

/**
 * Writes an ARP reply payload at `off`: "`senderIp` is at `senderMac`", addressed to
 * `targetMac`/`targetIp` (the requester).
 */
export function writeArpReply(
  b: Uint8Array,
  off: number,
  senderMacAddr: number,
  senderIpAddr: number,
  targetMacAddr: number,
  targetIpAddr: number,
): void {
  writeArp(b, off, ARP_OP_REPLY, senderMacAddr, senderIpAddr, targetMacAddr, targetIpAddr);
}

/**
 * Turns the validated ARP request frame at `ethOff` (ARP payload at `arpOff`, after any VLAN tags)
 * into the reply "target IP is at `mac`", in place. Ethernet destination = the request's Ethernet
 * source (the station the frame came from, even when its sender MAC field is zero, as in some
 * crafted requests), source = `mac`; target MAC/IP = the request's sender MAC/IP (RFC 826 swap).
 * VLAN tags and the frame length are kept. The caller decides from policy that `mac` owns the
 * request's target IP.
 */
export function arpRequestToReply(b: Uint8Array, ethOff: number, arpOff: number, mac: number): void {
  const requesterMac = readMac(b, arpOff + ARP_SHA);
  const requesterIp = readU32(b, arpOff + ARP_SPA);
  const answeredIp = readU32(b, arpOff + ARP_TPA);
  b.copyWithin(ethOff + ETH_DST, ethOff + ETH_SRC, ethOff + ETH_SRC + 6);
  writeMac(b, ethOff + ETH_SRC, mac);
  writeArpReply(b, arpOff, mac, answeredIp, requesterMac, requesterIp);
}
