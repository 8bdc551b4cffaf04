/**
 * Carrying out the path MTU check (vfp/pmtu.ts) of a frame about to be encapsulated: `room` is
 * the largest tenant IP packet the underlay takes with that encapsulation. The check is one
 * comparison on the encapsulation path; what does not fit is answered with ICMP fragmentation
 * needed (IPv4 with DF), ICMPv6 packet too big (IPv6: hairpin6.ts packetTooBig) or dropped (IPv4
 * without DF), all counted as `too-big` against the port.
 */
import { Drop } from '../vfp/drops.js';
import { K_IPV4, K_IPV6 } from '../vfp/flowkey.js';
import { writeMac } from '../wire/bytes.js';
import { dontFragment, toFragNeeded } from '../vfp/pmtu.js';
import type { PortInfo } from '../vfp/snapshot.js';
import { C } from './counters.js';
import type { ForwarderState } from './forwarder-state.js';
import { queuePort } from './flush.js';
import { packetTooBig } from './hairpin6.js';

/** The frame in `slot` from X is larger than `room` + 14: answer or drop it. */
export function tooBig(st: ForwarderState, X: PortInfo, slot: number, room: number): void {
  const b = st.cur;
  const off = b.start[slot];
  st.counters.drop(Drop.TooBig, X.index);
  const f = st.f;
  if (f.kind === K_IPV6) return packetTooBig(st, X, slot, room);
  if (f.kind !== K_IPV4 || !dontFragment(b.slab, off + 14) || f.fragOff !== 0) return;
  b.len[slot] = toFragNeeded(b.slab, off, b.len[slot], st.snap.routerMac, X.gateway, room);
  // to X's own MAC: a routed frame already carries the router's as its source
  writeMac(b.slab, off, X.mac);
  if (st.vh > 0) b.slab.fill(0, off - st.vh, off); // the answer carries no offload state
  st.counters.global[C.IcmpFragNeeded]++;
  queuePort(st, X.index, slot);
}
