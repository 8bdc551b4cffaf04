/**
 * Carrying out DHCP from policy (the dhcp layer, vfp/layers/dhcp.ts, decided that the frame is a
 * Dynamic port's DHCP client message): read the message, let vfp/dhcp.ts choose the answer, and
 * write it in place of the request, back out the port. The slot holds the request (at least the
 * 240 bytes of BOOTP + cookie), and the reply (342 bytes and up) is written over it: the request's
 * fields that the reply needs are read into a record first. A message that is malformed, claims
 * another client MAC than the port's, or needs no answer (RELEASE, DECLINE, a REQUEST to another
 * server) is dropped and counted as `dhcp`.
 */
import { DHCPACK, DHCPNAK, DHCPOFFER, DhcpMessage, dhcpReplyFrameLen, parseDhcpRequest, writeDhcpReply } from '../wire/dhcp.js';
import { readU16 } from '../wire/bytes.js';
import { dhcpAnswer, dhcpReplyBase, DHCP_NO_ANSWER } from '../vfp/dhcp.js';
import { Drop } from '../vfp/drops.js';
import type { PortInfo } from '../vfp/snapshot.js';
import { C } from './counters.js';
import type { ForwarderState } from './forwarder-state.js';
import { queuePort } from './flush.js';

/** One record per worker thread (module state is per isolate): no object per message. */
const msg = new DhcpMessage();

/** Answers the DHCP client message in `slot` from port X (or drops it, counted). */
export function dhcpReply(st: ForwarderState, X: PortInfo, slot: number): void {
  const b = st.cur;
  const off = b.start[slot];
  const len = b.len[slot];
  const f = st.f;
  const l4 = f.l3 + f.ihl;
  const udpLen = readU16(b.slab, l4 + 4);
  const end = off + len;
  if (udpLen < 8 || l4 + udpLen > end || !parseDhcpRequest(b.slab, l4 + 8, udpLen - 8, msg) || msg.chaddr !== X.mac) {
    return st.counters.drop(Drop.Dhcp, X.index);
  }
  const r = dhcpReplyBase(X, st.snap.routerMac);
  const type = dhcpAnswer(msg, X, r);
  if (type === DHCP_NO_ANSWER) return st.counters.drop(Drop.Dhcp, X.index);
  const slotEnd = (Math.floor(off / b.slotSize) + 1) * b.slotSize;
  if (off + dhcpReplyFrameLen(X.dnsServers.length) > slotEnd) return st.counters.drop(Drop.NoBuffer, X.index);
  b.len[slot] = writeDhcpReply(b.slab, off, msg, r);
  if (st.vh > 0) b.slab.fill(0, off - st.vh, off); // the answer carries no offload state
  const g = st.counters.global;
  if (type === DHCPOFFER) g[C.DhcpOffers]++;
  else if (type === DHCPACK) g[C.DhcpAcks]++;
  else if (type === DHCPNAK) g[C.DhcpNaks]++;
  queuePort(st, X.index, slot);
}
