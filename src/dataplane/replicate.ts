/**
 * Carrying out a replication decision (the engine chose the copies, vfp/engine.ts): a copy of the
 * frame to each local port in Decision.repPorts, a counted acl-deny for each in repDenied, and
 * from a port one encapsulated copy to each remote host in repHosts (the frame is encapsulated
 * once and the same bytes sent to every host). The first local copy goes out from the frame's own
 * slot unless the frame is also encapsulated (that moves the slot's start); the others are copied
 * into ForwarderState.copies.
 */
import { HEADROOM } from '../io/types.js';
import { VNET_HDR_LEN_MRG } from '../wire/vnethdr.js';
import { ENCAP_NVGRE, ENCAP_VXLAN } from '../vfp/actions.js';
import type { Decision } from '../vfp/decision.js';
import { Drop } from '../vfp/drops.js';
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
  // a frame from a port with a virtio-net header keeps its offload state (a switch floods unknown
  // unicast, partial checksums included); anything else carries none
  if (st.vh === VNET_HDR_LEN_MRG && src >= VNET_HDR_LEN_MRG) to.set(from.subarray(src - VNET_HDR_LEN_MRG, src), dst - VNET_HDR_LEN_MRG);
  else to.fill(0, dst - VNET_HDR_LEN_MRG, dst);
  cp.start[c] = dst;
  cp.len[c] = len;
  st.outs.addCopy(p, c);
}

/** The group frame in `slot` as decision `d` says; X is the sending port (null: from the wire). */
export function replicate(st: ForwarderState, d: Decision, X: PortInfo | null, slot: number): void {
  const snap = st.snap;
  for (let k = 0; k < d.repDeniedN; k++) st.counters.drop(Drop.AclDeny, d.repDenied[k]);
  let remoteUp = false;
  let enc = ENCAP_VXLAN;
  let si = -1;
  if (X !== null && d.repHostN > 0) {
    si = X.subnetIndex;
    enc = snap.subnets[si].encapsulation === 'nvgre' ? ENCAP_NVGRE : ENCAP_VXLAN;
    remoteUp = (enc === ENCAP_VXLAN ? st.io.vxlan : st.io.nvgre) !== undefined;
  }
  let copies = 0;
  for (let k = 0; k < d.repN; k++) {
    const p = d.repPorts[k];
    if (!remoteUp && copies === 0) queuePort(st, p, slot);
    else copyTo(st, p, slot);
    copies++;
  }
  if (remoteUp) {
    const subnet = snap.subnets[si];
    const hash = d.entropy;
    const b = st.cur;
    if (st.fCsumStart >= 0) finishCsum(st, slot);
    const sport = st.pushEncap((enc === ENCAP_VXLAN ? st.io.vxlan : st.io.nvgre)!, slot, enc, subnet.vsid, subnet.nvgreFlowId, hash);
    const out = enc === ENCAP_VXLAN ? st.upVx : st.upNv;
    const lp = snap.localPas;
    const srcPa = lp.length ? lp[(hash >>> 8) % lp.length] : 0;
    for (let k = 0; k < d.repHostN; k++) {
      const pas = snap.hosts[d.repHosts[k]].pas;
      if (pas.length === 0) continue;
      if (out.full) flushAll(st);
      out.add(b.start[slot], b.len[slot], 0, sport, srcPa, pas[hash % pas.length]);
      copies++;
    }
  }
  if (copies === 0) return st.counters.drop(Drop.NoPort, X ? X.index : -1);
  st.counters.global[C.Replicated] += copies;
}
