/**
 * Broadcast and multicast replication within a VSID. Each local copy passes the receiving port's
 * inbound ACL: the first goes out from the frame's own slot, the others are copied into
 * ForwarderState.copies. From a port (after its outbound ACL) the frame is also encapsulated
 * once and sent to every remote host of the subnet (one message per host over the same bytes);
 * in that case every local delivery is a copy, since encapsulation moves the slot's start.
 */
import { HEADROOM } from '../io/types.js';
import { VNET_HDR_LEN_MRG } from '../wire/vnethdr.js';
import { ENCAP_NVGRE, ENCAP_VXLAN } from '../vfp/actions.js';
import { Drop } from '../vfp/drops.js';
import { innerFlowHash } from '../vfp/flowkey.js';
import type { PortInfo } from '../vfp/snapshot.js';
import { C } from './counters.js';
import type { ForwarderState } from './forwarder-state.js';
import { flushAll, queuePort } from './flush.js';
import { finishCsum } from './offload-tx.js';

/** Copies the frame in `slot` of the current batch into the copy batch, queued for port `p`. */
function copyTo(st: ForwarderState, p: number, slot: number): void {
  if (st.copyN === st.copies.capacity) flushAll(st);
  const c = st.copyN++;
  const cp = st.copies;
  const b = st.cur;
  const src = b.start[slot];
  const len = b.len[slot];
  const dst = c * cp.slotSize + HEADROOM;
  const from = b.slab;
  const to = cp.slab;
  if (len > cp.slotSize - HEADROOM) return st.counters.drop(Drop.NoBuffer, p);
  to.set(from.subarray(src, src + len), dst);
  to.fill(0, dst - VNET_HDR_LEN_MRG, dst); // no offload state for a copy
  cp.start[c] = dst;
  cp.len[c] = len;
  st.outs.addCopy(p, c);
}

/** The broadcast/multicast frame in `slot` (fields in st.f) from port X. */
export function replicateEgress(st: ForwarderState, X: PortInfo, slot: number): void {
  const f = st.f;
  const snap = st.snap;
  const slow = st.slow;
  if (f.srcMac !== X.mac) return st.counters.drop(Drop.Spoofed, X.index);
  if (X.aclOut !== null && !slow.aclAllows(X.aclOut, f, 'acl-out', X.name)) return st.counters.drop(Drop.AclDeny, X.index);
  const subnet = snap.subnets[X.subnetIndex];
  const enc = subnet.encapsulation === 'nvgre' ? ENCAP_NVGRE : ENCAP_VXLAN;
  const remote = subnet.remoteHosts.length > 0 && (enc === ENCAP_VXLAN ? st.io.vxlan : st.io.nvgre) !== undefined;
  let used = false;
  let copies = 0;
  const locals = subnet.localPorts;
  for (let k = 0; k < locals.length; k++) {
    const p = locals[k];
    if (p === X.index) continue;
    const Y = snap.ports[p];
    if (Y.aclIn !== null && !slow.aclAllows(Y.aclIn, f, 'acl-in', Y.name)) {
      st.counters.drop(Drop.AclDeny, p);
      continue;
    }
    if (!remote && !used) {
      used = true;
      queuePort(st, p, slot);
    } else copyTo(st, p, slot);
    copies++;
  }
  if (remote) {
    const hash = innerFlowHash(f);
    const b = st.cur;
    if (st.fCsumStart >= 0) finishCsum(st, slot);
    const sport = st.pushEncap((enc === ENCAP_VXLAN ? st.io.vxlan : st.io.nvgre)!, slot, enc, subnet.vsid, subnet.nvgreFlowId, hash);
    const out = enc === ENCAP_VXLAN ? st.upVx : st.upNv;
    const lp = snap.localPas;
    const srcPa = lp.length ? lp[(hash >>> 8) % lp.length] : 0;
    for (let k = 0; k < subnet.remoteHosts.length; k++) {
      const pas = snap.hosts[subnet.remoteHosts[k]].pas;
      if (pas.length === 0) continue;
      if (out.full) flushAll(st);
      out.add(b.start[slot], b.len[slot], 0, sport, srcPa, pas[hash % pas.length]);
      copies++;
    }
  }
  if (copies === 0) return st.counters.drop(Drop.NoPort, X.index);
  st.counters.global[C.Replicated] += copies;
}

/** The broadcast/multicast frame in `slot` (fields in st.f) from the wire, for subnet `si`. */
export function replicateIngress(st: ForwarderState, si: number, slot: number): void {
  const snap = st.snap;
  const f = st.f;
  const locals = snap.subnets[si].localPorts;
  let used = false;
  let copies = 0;
  for (let k = 0; k < locals.length; k++) {
    const p = locals[k];
    const Y = snap.ports[p];
    if (Y.aclIn !== null && !st.slow.aclAllows(Y.aclIn, f, 'acl-in', Y.name)) {
      st.counters.drop(Drop.AclDeny, p);
      continue;
    }
    if (!used) {
      used = true;
      queuePort(st, p, slot);
    } else copyTo(st, p, slot);
    copies++;
  }
  if (copies === 0) return st.counters.drop(Drop.NoPort, -1);
  st.counters.global[C.Replicated] += copies;
}
