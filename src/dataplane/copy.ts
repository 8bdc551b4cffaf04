/**
 * One copy of a frame for another port (replication, mirroring): the frame in `slot` of the
 * current batch copied into ForwarderState.copies and queued for the port, with the sender's offload state.
 * When the copy batch is full the queued outputs are written first (ForwarderState.flushNow, the
 * forwarder's flushAll: a callback, so this file does not import flush.ts, which mirrors through it).
 */
import { HEADROOM } from '../io/types.js';
import { VNET_HDR_LEN_MRG } from '../wire/vnethdr.js';
import { Drop } from '../vfp/drops.js';
import type { ForwarderState } from './forwarder-state.js';

/** Copies the frame in `slot` of the current batch into the copy batch, queued for port `p`. */
export function copyTo(st: ForwarderState, p: number, slot: number): void {
  if (st.copyN === st.copies.capacity) st.flushNow();
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
  // unicast, partial checksums included: zeroing the header made the receiving stack drop them);
  // anything else carries none
  if (st.vh === VNET_HDR_LEN_MRG && src >= VNET_HDR_LEN_MRG) to.set(from.subarray(src - VNET_HDR_LEN_MRG, src), dst - VNET_HDR_LEN_MRG);
  else to.fill(0, dst - VNET_HDR_LEN_MRG, dst);
  cp.start[c] = dst;
  cp.len[c] = len;
  st.outs.addCopy(p, c);
}

