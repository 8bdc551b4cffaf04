/**
 * What encapsulation costs a tenant frame on an IPv4 underlay, and so the largest tenant IPv4
 * packet that fits: underlay MTU - overhead. Outer IPv4 20 + UDP 8 + VXLAN 8 + inner Ethernet 14;
 * outer IPv4 20 + GRE with key 8 + inner Ethernet 14.
 */
import type { Encapsulation } from '../policy/types.js';

export const ENCAP_OVERHEAD: Readonly<Record<Encapsulation, number>> = { vxlan: 50, nvgre: 42 };

/** The underlay MTU assumed until the agent has looked at its devices. */
export const DEFAULT_UNDERLAY_MTU = 1500;

/** The largest tenant IPv4 packet (the tenant MTU) that fits `underlayMtu` after encapsulation. */
export function tenantMtu(underlayMtu: number, enc: Encapsulation): number {
  return underlayMtu - ENCAP_OVERHEAD[enc];
}
