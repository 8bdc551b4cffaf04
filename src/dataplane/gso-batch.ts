/**
 * UDP GSO for frames that were not TSO super-frames: consecutive VXLAN messages of one flow (same
 * outer source port, source and destination PA) and one size - a tenant without TSO sending a TCP
 * stream, or any UDP flow of equal-sized datagrams - are sent as one UDP_SEGMENT message, so the
 * kernel pushes one large skb through its UDP, IP, routing and the NIC (or veth) instead of one per
 * datagram, and a receiver with UDP GRO reads them in one buffer. The datagrams stay where they
 * are in the batch: a group is a count of consecutive messages of the flush, which the send
 * gathers with one iovec each (Uplink.gso.writeMsgs with `parts`), in order. A flush where nothing
 * would group, or that holds a TSO run already segmented for GSO, is sent as it is.
 *
 * The kernel's rules for one UDP_SEGMENT message: every segment gso_size bytes except the last,
 * which may be shorter; at most 64 segments and 65507 bytes (io/uplink.ts GSO_MAX_SEGMENTS).
 */
import type { UplinkOutput } from './outputs.js';

const MAX_GSO_BYTES = 65507;

/** The messages of one flush as groups: group k is parts[k] consecutive messages of the flush
 * (gso[k] > 0: sent as one UDP_SEGMENT message of gso[k]-byte datagrams), with the outer source
 * port and addresses they share. */
export class GsoGroups {
  readonly parts: Uint16Array;
  readonly gso: Uint16Array;
  readonly sport: Uint16Array;
  readonly src: Uint32Array;
  readonly dst: Uint32Array;
  /** Bytes of each group. */
  readonly bytes: Int32Array;
  n = 0;
  /** Datagrams that went in a group of two or more. */
  grouped = 0;

  constructor(readonly capacity: number) {
    this.parts = new Uint16Array(capacity);
    this.gso = new Uint16Array(capacity);
    this.sport = new Uint16Array(capacity);
    this.src = new Uint32Array(capacity);
    this.dst = new Uint32Array(capacity);
    this.bytes = new Int32Array(capacity);
  }
}

/**
 * True when `out` holds only plain messages (no TSO runs: those are already one message per run)
 * and at least two consecutive ones that one UDP_SEGMENT message could carry.
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

/** Groups the messages of `out` (all of them, in order) into `g`; `g.capacity` >= out.n. */
export function groupRuns(out: UplinkOutput, g: GsoGroups, maxSegments: number): void {
  g.n = 0;
  g.grouped = 0;
  const n = out.n;
  let i = 0;
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
    const k = g.n++;
    g.parts[k] = m;
    g.gso[k] = m > 1 ? L : gso;
    g.sport[k] = out.sport[i];
    g.src[k] = out.src[i];
    g.dst[k] = out.dst[i];
    g.bytes[k] = bytes;
    if (m > 1) g.grouped += m;
    i += m;
  }
}
