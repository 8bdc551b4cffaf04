/**
 * Carrying out the engine's answers back out the sending port (the gateway layer decides them,
 * vfp/layers/gateway.ts): an ARP request rewritten in place into the reply "target is at
 * Decision.hairpinMac", an ICMP echo request to the gateway into the router's echo reply, a DHCP
 * client's message into the answer from policy (dhcp-reply.ts); and a
 * routed frame whose TTL ran out into ICMP time exceeded when the slot has room for it.
 */
import { arpRequestToReply } from '../wire/arp.js';
import { clearVnetHdr } from '../wire/vnethdr.js';
import { H_ARP_REPLY, H_DHCP, H_ECHO6_REPLY, H_NA, H_RA, type Decision } from '../vfp/decision.js';
import { hairpin6 } from './hairpin6.js';
import { Drop } from '../vfp/drops.js';
import type { PortInfo } from '../vfp/snapshot.js';
import { echoToReply, toTimeExceeded } from '../vfp/transpose.js';
import { C } from './counters.js';
import type { ForwarderState } from './forwarder-state.js';
import { queuePort } from './flush.js';
import { dhcpReply } from './dhcp-reply.js';

/** The hairpin answer of decision `d` for the frame in `slot`, sent back out X. */
export function hairpin(st: ForwarderState, d: Decision, X: PortInfo, slot: number): void {
  const b = st.cur;
  const off = b.start[slot];
  if (d.hairpin === H_DHCP) return dhcpReply(st, X, slot);
  const h = d.hairpin;
  if (h === H_NA || h === H_RA || h === H_ECHO6_REPLY) return hairpin6(st, d, X, slot);
  if (d.hairpin === H_ARP_REPLY) {
    arpRequestToReply(b.slab, off, off + 14, d.hairpinMac);
    st.counters.global[C.ArpReplies]++;
  } else {
    echoToReply(b.slab, off, st.f.ihl, d.hairpinMac, X.gateway);
    st.counters.global[C.IcmpEchoReplies]++;
  }
  if (st.vh > 0) clearVnetHdr(b.slab, off, st.vh); // the answer carries no offload state
  queuePort(st, X.index, slot);
}

/** The frame in `slot` from X was to be routed with TTL <= 1: counted as dropped, answered. */
export function timeExceeded(st: ForwarderState, X: PortInfo, slot: number): void {
  const b = st.cur;
  const off = b.start[slot];
  const slotEnd = (Math.floor(off / b.slotSize) + 1) * b.slotSize;
  st.counters.drop(Drop.TtlExceeded, X.index);
  if (st.f.fragOff !== 0) return; // RFC 792: only fragment zero is answered
  const ihl = st.f.ihl;
  if (off + 14 + 28 + ihl + 8 > slotEnd) return;
  b.len[slot] = toTimeExceeded(b.slab, off, b.len[slot], st.snap.routerMac, X.gateway);
  if (st.vh > 0) clearVnetHdr(b.slab, off, st.vh);
  st.counters.global[C.IcmpTimeExceeded]++;
  queuePort(st, X.index, slot);
}
