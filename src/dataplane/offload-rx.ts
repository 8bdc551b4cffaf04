/**
 * Receive offload from a VXLAN uplink with UDP GRO: one read may return several datagrams of the
 * same size back to back. When they are one TCP run of one flow they are coalesced in place into
 * a single super-frame with a virtio-net header for the port (vfp/offload.ts); otherwise their
 * datagrams are copied out into ForwarderState.split and forwarded one by one after the batch
 * (or as soon as the split batch is full: none is dropped for want of room).
 * From an NVGRE uplink (a raw socket: one packet per slot, no GRO in the kernel) consecutive
 * packets of one TCP run in a batch are coalesced the same way across slots (vfp/gro-batch.ts).
 */
import { HEADROOM } from '../io/types.js';
import { readU16, readU24 } from '../wire/bytes.js';
import { VNET_F_NEEDS_CSUM, VNET_HDR_LEN_MRG, writeVnetHdr } from '../wire/vnethdr.js';
import { vxlanCheck } from '../wire/vxlan.js';
import { NVGRE_HEADER_LEN, nvgreCheck } from '../wire/gre.js';
import { coalesceSlots } from '../vfp/gro-batch.js';
import { Drop } from '../vfp/drops.js';
import { coalesceTcp } from '../vfp/offload.js';
import { C } from './counters.js';
import type { ForwarderState } from './forwarder-state.js';

/**
 * The GRO buffer at `off` (UDP header, then `len` - 8 bytes of datagrams of `groSize` bytes,
 * VXLAN + frame): its VNI, with the coalesced frame at st.co.start / st.co.len and its
 * virtio-net header written; or -1 when it was dropped or split for later.
 */
export function coalesceGro(st: ForwarderState, off: number, len: number, groSize: number, srcPa: number): number {
  const g = st.counters.global;
  const slab = st.cur.slab;
  const D = off + 8;
  const L = len - 8;
  if (vxlanCheck(slab, D, groSize) !== 0) {
    st.counters.drop(Drop.Malformed, -1);
    return -1;
  }
  const co = st.co;
  if (!coalesceTcp(slab, D, L, groSize, 8, st.sum, co, st.chunks)) {
    splitGro(st, D, L, groSize, srcPa);
    return -1;
  }
  const vni = readU24(slab, D + 4);
  g[C.GroFrames]++;
  g[C.GroSegments] += co.n;
  writeVnetHdr(slab, co.start - VNET_HDR_LEN_MRG, VNET_HDR_LEN_MRG, VNET_F_NEEDS_CSUM, co.gsoType, co.hdrLen, co.gsoSize, co.csumStart, co.csumOffset);
  return vni;
}

/** The GRO buffer at `off` (as for coalesceGro) split into its datagrams without trying to
 * coalesce them: for ports that take no virtio-net header (`--no-offload`), which cannot be
 * handed a super-frame. */
export function splitGroBuffer(st: ForwarderState, off: number, len: number, groSize: number, srcPa: number): void {
  splitGro(st, off + 8, len - 8, groSize, srcPa);
}

/** A GRO buffer that is not one TCP run: its datagrams are copied out (with the UDP header
 * put back in front, as the uplink's read does) and forwarded one by one after this batch. Each
 * gets a slot of its own: in place, a datagram's headroom is the tail of the one before it, which
 * an encapsulation or a virtio-net header would overwrite before that one is written out. */
function splitGro(st: ForwarderState, D: number, L: number, size: number, srcPa: number): void {
  const sp = st.split;
  // GRO buffers come from the uplink read batch, whose slab the split slots share (so the copy
  // below needs no view); anything else would be copied from the wrong bytes
  if (st.cur.slab !== sp.slab) return st.counters.drop(Drop.Offload, -1);
  const slab = sp.slab;
  st.counters.global[C.GroSplit]++;
  for (let o = 0; o < L; o += size) {
    const l = Math.min(size, L - o);
    if (l + 8 > sp.slotSize - HEADROOM) {
      st.counters.drop(Drop.Offload, -1);
      continue;
    }
    if (st.splitN === sp.capacity) st.splitFull();
    const i = st.splitN++;
    const dst = st.splitBase + i * sp.slotSize + HEADROOM;
    slab.copyWithin(dst + 8, D + o, D + o + l);
    const v = sp.view;
    v.setUint16(dst, 0);
    v.setUint16(dst + 2, 4789);
    v.setUint16(dst + 4, l + 8);
    v.setUint16(dst + 6, 0);
    sp.start[i] = dst;
    sp.len[i] = l + 8;
    st.splitSrc[i] = srcPa;
  }
}

/**
 * Software GRO for an NVGRE batch: merges the run of TCP segments that starts at `slot` (slots
 * up to `end` - 1) into that slot (vfp/gro-batch.ts); returns how many packets it took (>= 2:
 * the caller forwards slot `slot` as a super-frame, with its virtio-net header to be written
 * from st.co, and skips the others), or 0. A packet from an unknown PA or with a GRE header the
 * ingress checks refuse is never merged: it is dropped and counted on its own.
 */
export function coalesceNvgre(st: ForwarderState, slot: number, end: number, src: Uint32Array): number {
  const b = st.cur;
  const off = b.start[slot];
  if (nvgreCheck(b.slab, off, b.len[slot]) !== 0 || st.snap.paHost.get(src[slot]) < 0) return 0;
  const co = st.co;
  const m = coalesceSlots(b, src, slot, end, NVGRE_HEADER_LEN, st.sum, st.chunks, co);
  if (m === 0) return 0;
  const g = st.counters.global;
  g[C.NvgreGroFrames]++;
  g[C.NvgreGroSegments] += m;
  // the packets merged in still count as received (their headers' bytes too)
  g[C.UplinkRxFrames] += m - 1;
  g[C.UplinkRxBytes] += (m - 1) * (NVGRE_HEADER_LEN + co.hdrLen);
  return m;
}

/**
 * The same software GRO for VXLAN datagrams that arrived one per slot (no UDP GRO buffer: a peer
 * that sends MTU-sized datagrams, e.g. the kernel's vxlan with a tenant without TSO, over an
 * underlay that does not coalesce them). A slot holds the UDP header the uplink's read put back,
 * the VXLAN header and the frame: the 16 bytes a run's packets must share (same outer source
 * port, size and VNI). Returns as coalesceNvgre does.
 */
export function coalesceVxlanSlots(st: ForwarderState, slot: number, end: number, src: Uint32Array, gro: Uint16Array | undefined): number {
  const b = st.cur;
  const off = b.start[slot];
  const len = b.len[slot];
  if (gro !== undefined && gro[slot] !== 0) return 0; // a UDP GRO buffer: coalesceGro's
  if (len < 16 || readU16(b.slab, off + 4) !== len || vxlanCheck(b.slab, off + 8, len - 8) !== 0 || st.snap.paHost.get(src[slot]) < 0) return 0;
  const co = st.co;
  const m = coalesceSlots(b, src, slot, end, 16, st.sum, st.chunks, co);
  if (m === 0) return 0;
  const g = st.counters.global;
  g[C.VxlanSoftGroFrames]++;
  g[C.VxlanSoftGroSegments] += m;
  g[C.UplinkRxFrames] += m - 1;
  g[C.UplinkRxBytes] += (m - 1) * (16 + co.hdrLen);
  return m;
}

/** Writes the virtio-net header of the super-frame st.co describes in front of it. */
export function writeCoalescedHdr(st: ForwarderState): void {
  const co = st.co;
  writeVnetHdr(st.cur.slab, co.start - VNET_HDR_LEN_MRG, VNET_HDR_LEN_MRG, VNET_F_NEEDS_CSUM, co.gsoType, co.hdrLen, co.gsoSize, co.csumStart, co.csumOffset);
}
