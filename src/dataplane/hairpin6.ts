/**
 * Carrying out the nd layer's IPv6 answers back out the sending port (vfp/layers/nd.ts decides
 * them): a neighbour solicitation rewritten in place into the advertisement, a router
 * solicitation into the router's advertisement, an echo request to the router into its reply
 * (wire/icmpv6.ts builds them); and a routed IPv6 frame whose hop limit ran out into ICMPv6 time
 * exceeded from the subnet's gateway address. An answer that would not fit its slot is not sent
 * (counted as nd-ignored: it cannot happen with the slot sizes the dataplane uses).
 */
import { readMac } from '../wire/bytes.js';
import { ICMPV6_TIME_EXCEEDED } from '../wire/icmp.js';
import { echo6ToReply, ICMPV6_BODY, neighborSolicitToAdvert, raLength, routerSolicitToAdvert, writeIcmpv6Frame, type RaInfo } from '../wire/icmpv6.js';
import { H_NA, H_RA, type Decision } from '../vfp/decision.js';
import { Drop } from '../vfp/drops.js';
import type { PortInfo } from '../vfp/snapshot.js';
import { C } from './counters.js';
import type { ForwarderState } from './forwarder-state.js';
import { queuePort } from './flush.js';

/** Router lifetime advertised (seconds): the router is always there. */
const RA_LIFETIME = 1800;
/** An ICMPv6 error carries as much of the invoking packet as keeps it within the minimum MTU. */
const IPV6_MIN_MTU = 1280;

function slotEnd(st: ForwarderState, off: number): number {
  const b = st.cur;
  return (Math.floor(off / b.slotSize) + 1) * b.slotSize;
}

/** The IPv6 hairpin answer of decision `d` for the frame in `slot`, sent back out X. */
export function hairpin6(st: ForwarderState, d: Decision, X: PortInfo, slot: number): void {
  const b = st.cur;
  const off = b.start[slot];
  const snap = st.snap;
  const g = st.counters.global;
  if (d.hairpin === H_NA) {
    if (off + 86 > slotEnd(st, off)) return st.counters.drop(Drop.NdIgnored, X.index);
    b.len[slot] = neighborSolicitToAdvert(b.slab, off, d.hairpinMac, d.hairpinMac === snap.routerMac);
    g[C.NdAdverts]++;
  } else if (d.hairpin === H_RA) {
    const s6 = snap.subnets[X.subnetIndex].v6!;
    if (off + 54 + 8 + raLength(0) > slotEnd(st, off)) return st.counters.drop(Drop.NdIgnored, X.index);
    const ra: RaInfo = { routerMac: snap.routerMac, routerLl: snap.v6.routerLl, prefix: s6.prefix, prefixLen: s6.prefixLen, autonomous: false, mtu: 0, lifetime: RA_LIFETIME };
    b.len[slot] = routerSolicitToAdvert(b.slab, off, ra);
    g[C.RouterAdverts]++;
  } else {
    echo6ToReply(b.slab, off, d.hairpinMac);
    g[C.IcmpEchoReplies]++;
  }
  if (st.vh > 0) b.slab.fill(0, off - st.vh, off); // the answer carries no offload state
  queuePort(st, X.index, slot);
}

/** The routed IPv6 frame in `slot` from X with hop limit <= 1: counted as dropped, answered
 * with ICMPv6 time exceeded (RFC 4443 3.3) from the subnet's gateway address. */
export function hopLimitExceeded(st: ForwarderState, X: PortInfo, slot: number): void {
  const b = st.cur;
  const off = b.start[slot];
  st.counters.drop(Drop.TtlExceeded, X.index);
  const s6 = st.snap.subnets[X.subnetIndex].v6;
  if (s6 === null) return;
  const quote = Math.min(b.len[slot] - 14, IPV6_MIN_MTU - 48);
  if (off + ICMPV6_BODY + quote > slotEnd(st, off)) return;
  const slab = b.slab;
  // the invoking packet moves back 48 bytes (new IPv6 + ICMPv6 headers); its source is the answer's destination
  slab.copyWithin(off + ICMPV6_BODY, off + 14, off + 14 + quote);
  const asker = readMac(slab, off + 6);
  b.len[slot] = writeIcmpv6Frame(slab, off, asker, st.snap.routerMac, s6.gateway, 0, slab, off + ICMPV6_BODY + 8, 64, ICMPV6_TIME_EXCEEDED, 0, 0, quote);
  if (st.vh > 0) slab.fill(0, off - st.vh, off);
  st.counters.global[C.IcmpTimeExceeded]++;
  queuePort(st, X.index, slot);
}
