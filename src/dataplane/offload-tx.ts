/**
 * Transmit offloads of frames from a port with a virtio-net header (TAP with IFF_VNET_HDR): the
 * header is read once per frame into ForwarderState (GSO type and size, partial checksum); a
 * partial checksum is finished before the frame leaves for the wire; a TSO/USO super-frame is
 * encapsulated once and cut into segments in place (vfp/offload.ts), sent as UDP_SEGMENT
 * messages with a GSO pool, else one datagram per segment.
 */
import type { Uplink } from '../io/types.js';
import { VNET_F_NEEDS_CSUM, vnetCsumOffset, vnetCsumStart, vnetGsoSize, vnetGsoType } from '../wire/vnethdr.js';
import { ENCAP_VXLAN } from '../vfp/actions.js';
import { Drop } from '../vfp/drops.js';
import { finishPartialChecksum } from '../vfp/offload.js';
import type { PortInfo } from '../vfp/snapshot.js';
import { C } from './counters.js';
import type { ForwarderState } from './forwarder-state.js';
import { flushAll } from './flush.js';

/** Reads the offload state of the frame at `off` (its virtio-net header ends there) into `st`. */
export function readOffloadState(st: ForwarderState, slab: Uint8Array, off: number): void {
  const vh = st.vh;
  if (vh > 0) {
    const t = vnetGsoType(slab, off - vh);
    st.fGso = t & 0x7f;
    st.fGsoSize = vnetGsoSize(slab, off - vh);
    if ((slab[off - vh] & VNET_F_NEEDS_CSUM) !== 0) {
      st.fCsumStart = vnetCsumStart(slab, off - vh);
      st.fCsumOffset = vnetCsumOffset(slab, off - vh);
    } else st.fCsumStart = -1;
  } else {
    st.fGso = 0;
    st.fCsumStart = -1;
  }
}

/** Completes the partial checksum (virtio-net NEEDS_CSUM) of the frame in `slot`: a peer that
 * is not a TAP cannot finish it. */
export function finishCsum(st: ForwarderState, slot: number): void {
  const b = st.cur;
  if (finishPartialChecksum(b.slab, b.start[slot], b.len[slot], st.fCsumStart, st.fCsumOffset, st.sum)) st.counters.global[C.CsumFinished]++;
  st.fCsumStart = -1;
}

/**
 * A TSO/USO super-frame to the wire: encapsulation pushed in front of it, then cut in place into
 * segments that each carry a copy of it (vfp/offload.ts). With a GSO pool the segments go as
 * UDP_SEGMENT messages of up to 64 segments / 65507 bytes (two for a 64 KB frame); otherwise each
 * segment is its own datagram.
 */
export function encapSegments(st: ForwarderState, up: Uplink, slot: number, enc: number, vni: number, flowId: number, hash: number, srcPa: number, dstPa: number, X: PortInfo): void {
  const b = st.cur;
  const F = b.start[slot];
  const len = b.len[slot];
  const limit = (Math.floor(F / b.slotSize) + 1) * b.slotSize;
  const sport = st.pushEncap(up, slot, enc, vni, flowId, hash);
  const pre = F - b.start[slot];
  const gso = enc === ENCAP_VXLAN ? up.gso : undefined;
  const seg = st.seg;
  if (!st.segment(b.slab, F, len, st.fGso, st.fGsoSize, pre, gso === undefined && enc === ENCAP_VXLAN ? 4 : -1, limit, seg)) {
    return st.counters.drop(Drop.Offload, X.index);
  }
  const g = st.counters.global;
  g[C.GsoFrames]++;
  g[C.GsoSegments] += seg.n;
  const out = enc === ENCAP_VXLAN ? st.upVx : st.upNv;
  const n = seg.n;
  const stride = seg.stride;
  const base = F - pre;
  if (gso !== undefined) {
    const per = Math.max(1, Math.min(gso.maxSegments, Math.floor(65507 / stride)));
    if (!out.room(Math.ceil(n / per))) flushAll(st);
    for (let j = 0; j < n; j += per) {
      const m = Math.min(per, n - j);
      const l = (m - 1) * stride + (j + m === n ? seg.lastLen : stride);
      out.add(base + j * stride, l, m > 1 ? stride : 0, sport, srcPa, dstPa);
    }
  } else {
    if (!out.room(n)) flushAll(st);
    for (let j = 0; j < n; j++) out.add(base + j * stride, j === n - 1 ? seg.lastLen : stride, 0, 0, srcPa, dstPa);
  }
}
