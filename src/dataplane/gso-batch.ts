/**
 * UDP GSO for frames that were not TSO super-frames: consecutive VXLAN messages of one flow (same
 * outer source port, source and destination PA) and one size - a tenant without TSO sending a TCP
 * stream, or any UDP flow of equal-sized datagrams - are sent as one UDP_SEGMENT message, so the
 * kernel pushes one large skb through its UDP, IP, routing and the NIC (or veth) instead of one per
 * datagram, and a receiver with UDP GRO reads them in one buffer. The messages of a flush are
 * copied back to back into a staging slab (UDP GSO needs one contiguous payload per message), in
 * order; a flush where nothing would group, or that holds a TSO run already segmented for GSO,
 * is sent as it is.
 *
 * The kernel's rules for one UDP_SEGMENT message: every segment gso_size bytes except the last,
 * which may be shorter; at most 64 segments and 65507 bytes (io/uplink.ts GSO_MAX_SEGMENTS).
 */
import { UplinkOutput } from './outputs.js';

/** Bytes a staged flush may hold before it is sent in parts (16 full-size GSO messages). */
export const STAGE_BYTES = 16 * 65536;
const MAX_GSO_BYTES = 65507;

export class GsoStage {
  readonly slab = new Uint8Array(STAGE_BYTES);
  readonly out: UplinkOutput;
  /** Datagrams of the last stageGroups call that went in a group of two or more. */
  grouped = 0;
  /** Bytes of slab in use. */
  used = 0;

  constructor(capacity: number) {
    this.out = new UplinkOutput(capacity);
  }
}

/**
 * True when `out` holds only plain messages (no TSO runs: those are large, and copying them to
 * group a few small ones would cost more than it saves) and at least two consecutive ones that
 * one UDP_SEGMENT message could carry.
 */
export function worthGrouping(out: UplinkOutput): boolean {
  const n = out.n;
  let pair = false;
  for (let i = 0; i < n; i++) {
    if (out.gso[i] !== 0) return false;
    if (!pair && i > 0 && out.len[i] <= out.len[i - 1] && out.sport[i] === out.sport[i - 1] && out.dst[i] === out.dst[i - 1] && out.src[i] === out.src[i - 1]) pair = true;
  }
  return pair;
}

/**
 * Stages messages of `out` (ranges of `slab`) from `from` on into `st`, grouping runs; returns the
 * index of the first message not staged (n when all were; less when the stage filled: send it and
 * call again from there).
 */
export function stageGroups(out: UplinkOutput, slab: Uint8Array, from: number, st: GsoStage, maxSegments: number): number {
  const s = st.out;
  const dst = st.slab;
  s.n = 0;
  st.used = 0;
  st.grouped = 0;
  const n = out.n;
  let i = from;
  while (i < n) {
    const L = out.len[i];
    const gso = out.gso[i];
    // a message already segmented (a TSO frame's run), or one too large to group: as it is
    let m = 1;
    let bytes = L;
    if (gso === 0) {
      const per = Math.min(maxSegments, Math.floor(MAX_GSO_BYTES / L));
      while (i + m < n && m < per) {
        const k = i + m;
        if (out.gso[k] !== 0 || out.sport[k] !== out.sport[i] || out.dst[k] !== out.dst[i] || out.src[k] !== out.src[i]) break;
        const l = out.len[k];
        if (l > L) break;
        m++;
        bytes += l;
        if (l < L) break; // a shorter datagram ends the run (only the last segment may be short)
      }
    }
    // full: the caller sends what is staged and comes back (an empty stage always has room: a
    // message is at most 65507 bytes)
    if (s.n > 0 && (st.used + bytes > dst.length || s.n === s.capacity)) return i;
    const at = st.used;
    for (let k = i; k < i + m; k++) {
      dst.set(slab.subarray(out.start[k], out.start[k] + out.len[k]), st.used);
      st.used += out.len[k];
    }
    s.add(at, bytes, m > 1 ? L : gso, out.sport[i], out.src[i], out.dst[i]);
    if (m > 1) st.grouped += m;
    i += m;
  }
  return n;
}
