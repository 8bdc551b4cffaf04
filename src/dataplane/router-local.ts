/**
 * Frames the virtual router answers itself, rewritten in place and sent back out the port that
 * sent them: an ICMP echo request to the subnet's gateway address becomes the echo reply
 * (anything else addressed to the router is dropped), and a routed frame whose TTL runs out
 * becomes ICMP time exceeded when the slot has room for it.
 */
import { Drop } from '../vfp/drops.js';
import { PROTO_ICMP } from '../vfp/flowkey.js';
import type { PortInfo } from '../vfp/snapshot.js';
import { echoToReply, toTimeExceeded } from '../vfp/transpose.js';
import { C } from './counters.js';
import type { ForwarderState } from './forwarder-state.js';
import { queuePort } from './flush.js';

/** The frame in `slot` (fields in st.f) is addressed to the router's own address on X's subnet. */
export function routerLocal(st: ForwarderState, X: PortInfo, slot: number): void {
  const f = st.f;
  if (f.proto !== PROTO_ICMP || f.frag || f.sport >>> 8 !== 8) return st.counters.drop(Drop.RouterLocal, X.index);
  const b = st.cur;
  echoToReply(b.slab, b.start[slot], f.ihl, st.snap.routerMac, X.gateway);
  st.counters.global[C.IcmpEchoReplies]++;
  queuePort(st, X.index, slot);
}

/** The frame in `slot` from X was to be routed with TTL <= 1: counted as dropped, answered. */
export function timeExceeded(st: ForwarderState, X: PortInfo, slot: number): void {
  const b = st.cur;
  const off = b.start[slot];
  const slotEnd = (Math.floor(off / b.slotSize) + 1) * b.slotSize;
  st.counters.drop(Drop.TtlExceeded, X.index);
  const ihl = st.f.ihl;
  if (off + 14 + 28 + ihl + 8 > slotEnd) return;
  b.len[slot] = toTimeExceeded(b.slab, off, b.len[slot], st.snap.routerMac, X.gateway);
  if (st.vh > 0) b.slab.fill(0, off - st.vh, off);
  st.counters.global[C.IcmpTimeExceeded]++;
  queuePort(st, X.index, slot);
}
