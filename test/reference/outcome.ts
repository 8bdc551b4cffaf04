/**
 * What one event (a frame from a port, or a datagram from the underlay) did, in words both the
 * reference model and the engine driver produce, so the property test compares plain sorted
 * string lists:
 *   port <host>/<port>                   the frame (or a copy) was written into that port
 *   hairpin <host>/<port>                an answer went back out the sending port (ARP reply,
 *                                        ICMP echo reply, ICMP time exceeded)
 *   encap <from>-><to> <vxlan|nvgre> <vsid>  an encapsulated copy crossed the underlay
 * and `drops`, one drop-reason name (the counter name without "drop-") per dropped frame or copy,
 * on every host the event touched. Neither side imports the other: this file is the only thing
 * they share.
 */

import type { Policy } from '../../src/policy/types.js';

export interface Outcome {
  deliveries: string[];
  drops: string[];
}

export const portDelivery = (host: string, port: string): string => `port ${host}/${port}`;
export const hairpinDelivery = (host: string, port: string): string => `hairpin ${host}/${port}`;
export const encapDelivery = (from: string, to: string, kind: 'vxlan' | 'nvgre', vsid: number): string => `encap ${from}->${to} ${kind} ${vsid}`;

/** The outcome with both lists sorted (multisets compare with toEqual). */
export function canonical(o: Outcome): Outcome {
  return { deliveries: [...o.deliveries].sort(), drops: [...o.drops].sort() };
}

/** A frame arriving at a host (from one of its ports, or from the underlay), or a policy reload
 * on every host (same ports, virtual networks in another order: identities must not move). */
export type Event =
  | { kind: 'reload'; policy: Policy; note: string }
  | { kind: 'port'; host: string; port: string; frame: Uint8Array; note: string }
  | {
      kind: 'wire';
      host: string;
      /** Outer IPv4 source (uint32). */
      srcPa: number;
      encap: 'vxlan' | 'nvgre';
      /** The outer IPv4 payload: UDP + VXLAN + inner frame, or GRE (NVGRE) + inner frame. */
      payload: Uint8Array;
      note: string;
    };
