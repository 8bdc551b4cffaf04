/**
 * ARP from a port. Requests are answered in place from policy (true CAs only: the gateway is the
 * router's MAC, an endpoint of the same subnet its own; unknown: no answer) and sent back out the
 * same port. A unicast reply is the port answering a peer that asked over the wire (a host that
 * is not switchyard, e.g. a kernel vxlan peer, floods its requests): it is checked against the
 * port's own MAC and address and then forwarded like any unicast frame.
 */
import { arpCheck, arpRequestToReply } from '../wire/arp.js';
import { readMac, readU16, readU32 } from '../wire/bytes.js';
import { Drop } from '../vfp/drops.js';
import type { PortInfo } from '../vfp/snapshot.js';
import { C } from './counters.js';
import type { ForwarderState } from './forwarder-state.js';
import { queuePort } from './flush.js';

/** Handles the ARP frame in `slot` from port X; true when it is to be forwarded as unicast. */
export function arpFromPort(st: ForwarderState, X: PortInfo, slot: number): boolean {
  const b = st.cur;
  const slab = b.slab;
  const off = b.start[slot];
  const arpOff = off + 14;
  if (arpCheck(slab, arpOff, b.len[slot] - 14) !== 0) return dropped(st, Drop.Malformed, X.index);
  const op = readU16(slab, arpOff + 6);
  const tpa = readU32(slab, arpOff + 24);
  const spa = readU32(slab, arpOff + 14);
  if (op === 2) {
    if ((slab[off] & 1) !== 0) return dropped(st, Drop.ArpIgnored, X.index);
    if (spa !== X.ip || readMac(slab, arpOff + 8) !== X.mac) return dropped(st, Drop.Spoofed, X.index);
    return true;
  }
  if (op !== 1) return dropped(st, Drop.ArpIgnored, X.index);
  if (spa === tpa || tpa === X.ip) return dropped(st, Drop.ArpIgnored, X.index);
  const snap = st.snap;
  let mac = -1;
  if (tpa === X.gateway) mac = snap.routerMac;
  else {
    const ep = snap.endpointByIp[X.rdid].get(tpa);
    if (ep !== undefined && snap.endpoints[ep].subnetIndex === X.subnetIndex) mac = snap.endpoints[ep].mac;
  }
  if (mac < 0) return dropped(st, Drop.ArpUnknown, X.index);
  arpRequestToReply(slab, off, arpOff, mac);
  st.counters.global[C.ArpReplies]++;
  queuePort(st, X.index, slot);
  return false;
}

/** A counted drop, for the "not forwarded" result. */
function dropped(st: ForwarderState, reason: number, port: number): false {
  st.counters.drop(reason, port);
  return false;
}
