/**
 * NVGRE send through an AF_PACKET TX ring (native-bindings/src/txring.cc): the addon writes whole
 * Ethernet frames (outer Ethernet + IPv4 + GRE + inner frame) into the ring and one send() hands
 * a batch to the underlay device, past the IP layer's per-packet work on the raw socket.
 *
 * The outer Ethernet header needs the next hop's MAC, which this module takes from the kernel's
 * own tables over rtnetlink (the addon's nextHop: route, then the next hop's neighbour entry), for
 * every peer every REFRESH_MS. (Not `ip`: forking the agent copies the page tables of its slabs
 * and makes its next writes fault; that cut one stream to a quarter.)
 * A peer the ring does not know yet, or whose neighbour entry is not usable (INCOMPLETE, FAILED,
 * none), is sent through the raw socket, which also makes the kernel resolve it; a miss
 * triggers a lookup at once. A peer whose entry is not freshly confirmed (STALE, DELAY, PROBE)
 * keeps its MAC, as the kernel's own sends do, but its messages of one batch per refresh take
 * the raw socket, so the kernel re-confirms it (frames from the ring do not touch the kernel's
 * neighbour state). So a changed MAC is picked up within one refresh of the kernel learning it.
 * One ring per uplink object, that is per worker thread, bound to the device of the first
 * resolved peer; a peer routed through another device stays on the raw socket.
 */
import type { NativeAddon, NextHop } from './native.js';

/** Neighbour table refresh period. */
export const REFRESH_MS = 1000;
/** Messages per native call (the ring has RING_FRAMES slots; a batch must not wrap over itself). */
const MAX_CALL = 1024;
const RING_FRAMES = 4096;

/** NUD_* bits of a neighbour entry (linux/neighbour.h). */
const NUD_REACHABLE = 0x02;
const NUD_STALE = 0x04;
const NUD_DELAY = 0x08;
const NUD_PROBE = 0x10;
const NUD_NOARP = 0x40;
const NUD_PERMANENT = 0x80;

/**
 * What a neighbour entry allows: 'fresh' (REACHABLE, PERMANENT, NOARP: the kernel itself sends
 * without a probe), 'stale' (STALE, DELAY, PROBE: the kernel sends to the MAC while it
 * re-confirms), 'none' (INCOMPLETE, FAILED, no entry: no MAC to send to).
 */
export function neighbourUse(state: number, mac: Uint8Array | null): 'fresh' | 'stale' | 'none' {
  if (mac === null || mac.length !== 6 || (mac[0]! & 1) !== 0 || mac.every((b) => b === 0)) return 'none';
  if ((state & (NUD_REACHABLE | NUD_PERMANENT | NUD_NOARP)) !== 0) return 'fresh';
  if ((state & (NUD_STALE | NUD_DELAY | NUD_PROBE)) !== 0) return 'stale';
  return 'none';
}

interface PeerState {
  dev: string | undefined;
  use: 'fresh' | 'stale' | 'none';
}

/** 'ring': a PACKET_MMAP TX ring (the frame copied into its slot, one send() per batch); 'mmsg':
 * sendmmsg on the same AF_PACKET socket, each message two iovecs (the outer headers, the GRE
 * packet where it lies), so the kernel's copy from user memory is the only one. */
export type NvgreTxMode = 'ring' | 'mmsg';

/** Sends the messages a ring did not take: positions idx/src/dst[0..count) of the original call. */
export type RawSend = (idx: Int32Array, srcAddr: Uint32Array, dstAddr: Uint32Array, count: number) => number;

export class NvgreTxRing {
  /** [frames sent through the packet socket, messages it did not take (ring or device queue full,
   * refused) sent raw, messages sent raw for another reason (peer, MTU, nudge), of those to
   * peers not known yet]. */
  readonly stats = new Float64Array(4);
  private ring = -1;
  private dev: string | undefined;
  private readonly peers = new Map<number, PeerState>();
  /** Peers seen in a miss and not yet resolved. */
  private readonly pending = new Set<number>();
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private rest = new Int32Array(MAX_CALL);
  private rIdx = new Int32Array(MAX_CALL);
  private rSrc = new Uint32Array(MAX_CALL);
  private rDst = new Uint32Array(MAX_CALL);
  /** The last error of resolution or of opening the ring (for `describe`/tests). */
  lastError: string | undefined;

  readonly mode: NvgreTxMode;

  constructor(
    private readonly n: NativeAddon,
    private readonly opts: { mode?: NvgreTxMode; qdiscBypass?: boolean } = {},
  ) {
    this.mode = opts.mode ?? 'ring';
  }

  /** Whether the ring is open (some peer resolved). */
  get open(): boolean {
    return this.ring >= 0;
  }

  /**
   * Sends messages idx[0..count) (GRE packets in b's slots) to dstAddr[k]: the ring takes what it
   * can, `raw` sends the rest in their order after it. Returns how many went (ring + raw).
   */
  send(slab: Uint8Array, start: Int32Array, len: Int32Array, idx: Int32Array, srcAddr: Uint32Array, dstAddr: Uint32Array, count: number, raw: RawSend): number {
    if (this.ring < 0) {
      if (this.dev === undefined) this.noteMisses(dstAddr, null, count); // else the ring could not open
      return raw(idx, srcAddr, dstAddr, count);
    }
    let sent = 0;
    for (let done = 0; done < count; done += MAX_CALL) {
      const c = Math.min(MAX_CALL, count - done);
      const i = done === 0 ? idx : idx.subarray(done, done + c);
      const s = done === 0 ? srcAddr : srcAddr.subarray(done, done + c);
      const d = done === 0 ? dstAddr : dstAddr.subarray(done, done + c);
      const unknownBefore = this.stats[3]!;
      const r = this.n.txRingSend(this.ring, slab, start, len, i, s, d, c, this.rest, this.stats);
      sent += c - r;
      if (r === 0) continue;
      if (this.stats[3]! !== unknownBefore) this.noteMisses(d, this.rest, r);
      for (let j = 0; j < r; j++) {
        const k = this.rest[j]!;
        this.rIdx[j] = i[k]!;
        this.rSrc[j] = s[k]!;
        this.rDst[j] = d[k]!;
      }
      sent += raw(this.rIdx, this.rSrc, this.rDst, r);
    }
    return sent;
  }

  /** Queues resolution of the destinations (positions `at[0..count)`, or 0..count) not known yet. */
  private noteMisses(dst: Uint32Array, at: Int32Array | null, count: number): void {
    let prev = -1;
    for (let j = 0; j < count; j++) {
      const a = dst[at ? at[j]! : j]!;
      if (a === prev) continue;
      prev = a;
      if (!this.peers.has(a) && !this.pending.has(a)) this.pending.add(a);
    }
    if (this.pending.size > 0) this.schedule(0);
  }

  private schedule(ms: number): void {
    if (this.closed || this.timer !== undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.refresh();
    }, ms);
    this.timer.unref();
  }

  /** One round: the route and neighbour entry of every peer (new ones first), from netlink. */
  private refresh(): void {
    if (this.closed) return;
    for (const a of this.pending) if (!this.peers.has(a)) this.peers.set(a, { dev: undefined, use: 'none' });
    this.pending.clear();
    for (const [a, p] of this.peers) {
      let h: NextHop | undefined;
      try {
        h = this.n.nextHop(a);
      } catch (err) {
        this.lastError = (err as Error).message; // netlink itself failed: keep the raw socket
      }
      if (h?.error !== undefined) this.lastError = h.error;
      const dev = h?.error === undefined ? h?.dev : undefined;
      if (dev !== undefined && this.dev === undefined) this.openRing(dev);
      if (this.ring < 0) continue;
      p.dev = dev;
      p.use = dev !== undefined && dev === this.dev ? neighbourUse(h!.state!, h!.mac ?? null) : 'none';
      const mac = p.use === 'none' ? null : h!.mac!;
      // 'stale': one batch the raw way, so the kernel sends to it and re-confirms the entry
      this.n.txRingSetPeer(this.ring, a, h?.prefsrc ?? 0, mac, p.use === 'stale');
    }
    const failed = this.dev !== undefined && this.ring < 0;
    if (!failed && this.peers.size > 0) this.schedule(REFRESH_MS);
  }

  private openRing(dev: string): void {
    this.dev = dev;
    try {
      this.ring = this.n.txRingOpen(dev, { frames: RING_FRAMES, qdiscBypass: this.opts.qdiscBypass ?? true, mmsg: this.mode === 'mmsg' });
    } catch (err) {
      // not an Ethernet device, no CAP_NET_RAW...: everything stays on the raw socket
      this.lastError = (err as Error).message;
      this.ring = -1;
    }
  }

  close(): void {
    this.closed = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.ring >= 0) this.n.txRingClose(this.ring);
    this.ring = -1;
  }
}
