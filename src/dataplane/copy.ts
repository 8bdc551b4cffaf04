/**
 * One copy of a frame for another port (replication, mirroring): the frame in `slot` of the
 * current batch copied into ForwarderState.copies and queued for the port, with the sender's offload state.
 * When the copy batch is full the queued outputs are written first (ForwarderState.flushNow, the
 * forwarder's flushAll: a callback, so this file does not import flush.ts, which mirrors through it).
 *
 * A TSO super-frame or a GRO-merged frame (up to 64 KB, larger than a copy slot) is copied into
 * one of BIG_COPIES large slots at the end of the copy batch's slab, with the virtio-net header in
 * front of it (its segmentation state: the receiving port's kernel segments it, or takes it as
 * one GRO packet), so a mirror Destination sees the same traffic as the Source whatever the
 * offloads. Only such frames use them; a small frame's copy is unchanged.
 */
import { HEADROOM } from '../io/types.js';
import { BIG_COPIES, BIG_COPY_SLOT } from './copy-batch.js';
import { clearVnetHdr, VNET_HDR_LEN_MRG } from '../wire/vnethdr.js';
import { Drop } from '../vfp/drops.js';
import type { ForwarderState } from './forwarder-state.js';

/** Copies the frame in `slot` of the current batch into the copy batch, queued for port `p`. */
export function copyTo(st: ForwarderState, p: number, slot: number): void {
  const cp = st.copies;
  const b = st.cur;
  const src = b.start[slot];
  const len = b.len[slot];
  const big = len > cp.slotSize - HEADROOM;
  if (big && len > BIG_COPY_SLOT - HEADROOM) return st.counters.drop(Drop.NoBuffer, p);
  if (st.copyN === cp.capacity || (big && st.bigCopyN === BIG_COPIES)) st.flushNow();
  const c = st.copyN++;
  const dst = big ? cp.capacity * cp.slotSize + st.bigCopyN++ * BIG_COPY_SLOT + HEADROOM : c * cp.slotSize + HEADROOM;
  const from = b.slab;
  const to = cp.slab;
  to.set(from.subarray(src, src + len), dst);
  // a frame from a port with a virtio-net header keeps its offload state (a switch floods unknown
  // unicast, partial checksums included: zeroing the header made the receiving stack drop them),
  // and so does a super-frame from anywhere (a GRO-merged frame from the wire has its header
  // written in front: without it the receiving kernel drops a frame past its MTU); anything else
  // carries none
  if ((big || st.vh === VNET_HDR_LEN_MRG) && src >= VNET_HDR_LEN_MRG) to.set(from.subarray(src - VNET_HDR_LEN_MRG, src), dst - VNET_HDR_LEN_MRG);
  else clearVnetHdr(to, dst, VNET_HDR_LEN_MRG);
  cp.start[c] = dst;
  cp.len[c] = len;
  st.outs.addCopy(p, c);
}

