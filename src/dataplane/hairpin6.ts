/**
 * Carrying out the nd layer's IPv6 answers back out the sending port (vfp/layers/nd.ts decides
 * them): a neighbour solicitation rewritten in place into the advertisement, a router
 * solicitation into the router's advertisement, an echo request to the router into its reply
 * (wire/icmpv6.ts builds them); and a routed IPv6 frame whose hop limit ran out into ICMPv6 time
 * exceeded, and one too large for the underlay into packet too big (dataplane/pmtu.ts), from the
 * subnet's gateway address. An answer that would not fit its slot is not sent
 * (counted as nd-ignored: it cannot happen with the slot sizes the dataplane uses).
 */
import { ICMPV6_PACKET_TOO_BIG, ICMPV6_TIME_EXCEEDED } from '../wire/icmp.js';
import { clearVnetHdr } from '../wire/vnethdr.js';
import { echo6ToReply, ICMPV6_BODY, neighborSolicitToAdvert, raLength, routerSolicitToAdvert, writeIcmpv6Frame, type RaInfo } from '../wire/icmpv6.js';
import { H_NA, H_RA, type Decision } from '../vfp/decision.js';
import { Drop } from '../vfp/drops.js';
import { PROTO_ICMPV6 } from '../vfp/flowkey.js';
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
  if (st.vh > 0) clearVnetHdr(b.slab, off, st.vh); // the answer carries no offload state
  queuePort(st, X.index, slot);
}

/** The routed IPv6 frame in `slot` from X with hop limit <= 1: counted as dropped, answered
 * with ICMPv6 time exceeded (RFC 4443 3.3) from the subnet's gateway address. */
export function hopLimitExceeded(st: ForwarderState, X: PortInfo, slot: number): void {
  st.counters.drop(Drop.TtlExceeded, X.index);
  if (icmp6Error(st, X, slot, ICMPV6_TIME_EXCEEDED, 0)) st.counters.global[C.IcmpTimeExceeded]++;
}

/**
 * The IPv6 frame in `slot` from X does not fit the underlay once encapsulated (`mtu`: the largest
 * tenant IPv6 packet that does; already counted as too-big): answered with ICMPv6 packet too big
 * (RFC 4443 3.2) carrying that MTU, as a router on the path would. IPv6 routers never fragment,
 * so unlike IPv4 there is no "DF clear" case: every such packet is answered, except an ICMPv6
 * error itself (RFC 4443 2.4 e: no error about an error).
 *
 * Its source address: the subnet's gateway (prefix::1), the address the tenant already knows as
 * its router, as time exceeded and IPv4's fragmentation needed use; for an invoking packet sent
 * from a link-local address (fe80::, one port to another within the subnet), the router's
 * link-local address instead, so the answer's source has the scope of its destination (RFC 4443
 * 2.2, RFC 6724). Linux takes a packet too big from any source - it checks the checksum and
 * matches the quoted packet, then caches the MTU for the quoted destination (`ip -6 route get`
 * shows it) - and HNV's distributed router answers from the gateway address a VM has configured.
 * An MTU below 1280 (an underlay under 1330 bytes) is sent as it is; a receiver then uses 1280
 * (RFC 8201), which a policy with such an underlay cannot carry anyway.
 */
export function packetTooBig(st: ForwarderState, X: PortInfo, slot: number, mtu: number): void {
  const f = st.f;
  if (f.proto === PROTO_ICMPV6 && f.sport >>> 8 < 128) return;
  if (icmp6Error(st, X, slot, ICMPV6_PACKET_TOO_BIG, mtu)) st.counters.global[C.Icmp6TooBig]++;
}

/** Rewrites the IPv6 frame in `slot` from X into the ICMPv6 error (`type`, code 0, `rest`) that
 * quotes it, back out X; false (nothing sent) when X's subnet has no IPv6 prefix or no room. */
function icmp6Error(st: ForwarderState, X: PortInfo, slot: number, type: number, rest: number): boolean {
  const b = st.cur;
  const off = b.start[slot];
  const s6 = st.snap.subnets[X.subnetIndex].v6;
  if (s6 === null) return false;
  const quote = Math.min(b.len[slot] - 14, IPV6_MIN_MTU - 48);
  if (off + ICMPV6_BODY + quote > slotEnd(st, off)) return false;
  const slab = b.slab;
  // the invoking packet moves back 48 bytes (new IPv6 + ICMPv6 headers); its source is the answer's destination
  slab.copyWithin(off + ICMPV6_BODY, off + 14, off + 14 + quote);
  const q = off + ICMPV6_BODY;
  const linkLocal = slab[q + 8] === 0xfe && (slab[q + 9] & 0xc0) === 0x80;
  const src = linkLocal ? st.snap.v6.routerLl : s6.gateway;
  // to X's own MAC: a routed frame already carries the router's as its source (port security
  // checked that the frame's own source MAC was X's)
  b.len[slot] = writeIcmpv6Frame(slab, off, X.mac, st.snap.routerMac, src, 0, slab, q + 8, 64, type, 0, rest, quote);
  if (st.vh > 0) clearVnetHdr(slab, off, st.vh);
  queuePort(st, X.index, slot);
  return true;
}
