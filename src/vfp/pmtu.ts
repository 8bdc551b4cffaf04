/**
 * Path MTU (issue 15): a tenant IPv4 packet that does not fit the underlay once encapsulated.
 * The agent gives every tenant interface the MTU that fits (underlay MTU - overhead, mtu.ts), so
 * only a tenant that raised its own MTU (or a VM configured by hand) sends one. With DF set it is
 * answered as a router on the path would (RFC 1191): ICMP destination unreachable, fragmentation
 * needed (type 3 code 4), carrying the next-hop MTU that fits, from the subnet's gateway address;
 * the sender's stack lowers its path MTU and sends again. Without DF it is dropped and counted
 * (`too-big`): fragmenting it here would need a slot per fragment on the fast path and hide a
 * misconfigured tenant; its stack can only learn by a DF probe (Linux sets DF on TCP and on
 * `ping -M do`). TSO/USO super-frames are cut to the tenant's own segment size, not checked here.
 * IPv6 has no DF bit (routers never fragment it): every IPv6 packet too large is answered with
 * ICMPv6 packet too big (dataplane/hairpin6.ts packetTooBig).
 */
import { readU16, writeU16 } from '../wire/bytes.js';
import { checksum } from '../wire/checksum.js';
import { toTimeExceeded } from './transpose.js';

export const ICMP_UNREACH = 3;
export const ICMP_FRAG_NEEDED = 4;

/** True when the IPv4 header at `l3` has DF set. */
export function dontFragment(b: Uint8Array, l3: number): boolean {
  return (b[l3 + 6] & 0x40) !== 0;
}

/**
 * Replaces the Ethernet+IPv4 frame at `off` with ICMP fragmentation needed (next-hop MTU `mtu`)
 * from `routerMac`/`routerIp` back to its sender, quoting the IP header and 8 bytes of payload
 * (the slot must have 28 bytes of room past them, as toTimeExceeded). Returns the new length.
 */
export function toFragNeeded(b: Uint8Array, off: number, len: number, routerMac: number, routerIp: number, mtu: number): number {
  const n = toTimeExceeded(b, off, len, routerMac, routerIp);
  const l4 = off + 14 + 20;
  b[l4] = ICMP_UNREACH;
  b[l4 + 1] = ICMP_FRAG_NEEDED;
  writeU16(b, l4 + 2, 0);
  writeU16(b, l4 + 6, mtu);
  writeU16(b, l4 + 2, checksum(b, l4, n - 14 - 20));
  return n;
}

/** The next-hop MTU field of an ICMP fragmentation-needed message at `l4`. */
export function nextHopMtu(b: Uint8Array, l4: number): number {
  return readU16(b, l4 + 6);
}
