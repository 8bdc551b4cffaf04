/**
 * The forwarding loop one worker runs (DESIGN.md "Data flow"): read a batch from a port or an
 * uplink, classify every frame, then write the frames grouped by output - one write per output
 * per batch (STYLE.md 7).
 *
 * Per frame, egress (port -> wire): edge validation (flowkey.parseFrame); ARP requests answered
 * in place from policy and sent back out the same port; the router's own address (echo reply);
 * broadcast/multicast replicated to every other port of the VSID (each copy through the ACLs;
 * local copies into the copy batch, remote ones: the frame encapsulated once and sent to each
 * remote host); everything else: flow key -> UFT lookup -> on a miss or a stale generation the
 * layers (vfp/pipeline.ts) -> the entry's action applied (deliver, route, encapsulate in the
 * headroom, or drop by reason). Ingress (wire -> port): outer header checks, known source PA,
 * known VSID with local ports, decapsulation by moving the start forward, then the same.
 *
 * No per-frame allocation on these paths: the frame fields, the key and the output lists are
 * reused; drops are counted, never thrown. A new snapshot takes effect between batches.
 */
import { allocBatch, HEADROOM, type FrameBatch, type FramePort, type Uplink } from '../io/types.js';
import { loadNative } from '../io/native.js';
import { onesSum } from '../wire/checksum.js';
import { writeU32 } from '../wire/bytes.js';
import { VNET_F_NEEDS_CSUM, VNET_HDR_LEN_MRG, vnetCsumOffset, vnetCsumStart, vnetGsoSize, vnetGsoType, writeVnetHdr } from '../wire/vnethdr.js';
import { CoalesceResult, SegResult, chunkSumOf, coalesceTcp, finishPartialChecksum, segmentFrame, type ChunkSumFn, type SumFn } from '../vfp/offload.js';
import { arpCheck, arpRequestToReply } from '../wire/arp.js';
import { readMac, readU16, readU24, readU32 } from '../wire/bytes.js';
import { nvgreCheck } from '../wire/gre.js';
import { vxlanCheck } from '../wire/vxlan.js';
import { A_DROP, A_PORT, ActionTable, ENCAP_NVGRE, ENCAP_VXLAN } from '../vfp/actions.js';
import { CT_REPLY, ConnTrack, DEFAULT_CT_TIMEOUTS, type CtTimeouts } from '../vfp/conntrack.js';
import { Drop } from '../vfp/drops.js';
import { DIR_IN, DIR_OUT, ETH_ARP, FlowFields, KEY_WORDS, PROTO_ICMP, UPLINK_PORT, fillKey, hashKey, innerFlowHash, parseFrame } from '../vfp/flowkey.js';
import { SlowPath } from '../vfp/pipeline.js';
import type { PortInfo, Snapshot } from '../vfp/snapshot.js';
import { echoToReply, pushNvgre, pushVxlan, routeRewrite, toTimeExceeded, vxlanSourcePort } from '../vfp/transpose.js';
import type { TraceResult } from '../vfp/trace-types.js';
import { FlowTable, UF_CT_REPLY, UF_DENY_CT_CHECK } from '../vfp/uft.js';
import { C, Counters, P, PORT_STRIDE } from './counters.js';
import { dumpFlows, type FlowDumpEntry } from './flows.js';
import { PortOutputs, UplinkOutput } from './outputs.js';
import { traceFrame } from './trace.js';

export type { FlowDumpEntry } from './flows.js';

export interface DataplaneIo {
  /** By PortInfo.index. */
  ports: (FramePort | undefined)[];
  vxlan?: Uplink;
  nvgre?: Uplink;
}

export interface ForwarderOptions {
  /** Frames per read (default 64). */
  batchSize?: number;
  /** Bytes per slot including HEADROOM (default 2048). */
  slotSize?: number;
  /** Milliseconds clock (default Date.now). */
  now?: () => number;
  /** Batches one poll call may process (default 8). */
  maxBatchesPerPoll?: number;
  uftCapacity?: number;
  uftIdleMs?: number;
  ctCapacity?: number;
  ctTimeouts?: Partial<CtTimeouts>;
  /** Check every ACL lookup against the linear reference (tests only: slow). */
  checkAclLinear?: boolean;
  /** Bytes per slot of the port and uplink read batches (default slotSize); 64 KB + room once
   * TSO/GRO are on (TSO_SLOT). */
  bigSlotSize?: number;
  /** Ones-complement sum for checksums (default: the native addon's when it loads, else JS). */
  sum?: SumFn;
  /** Counter arrays to continue on (a restarted worker's); default: new ones. */
  counters?: { global: Float64Array; port: Float64Array };
}

/** Slot size with TSO/GRO: a 64 KB super-frame + headroom + the headers of up to ~120 segments
 * (segmentation in place grows the frame by one header per segment). */
export const TSO_SLOT = 65536 + 16384;
/** Slot size of the batch that GRO buffers are split into when they cannot be coalesced. */
const SPLIT_SLOT = 4096;

/** The native per-segment sums (one call per super-frame / GRO buffer), else built from `sum`. */
function chunkSums(sum: SumFn | undefined): ChunkSumFn {
  if (sum === undefined) {
    try {
      const n = loadNative();
      if (typeof n.sumChunks === 'function') return (b, first, stride, chunkLen, count, lastLen, out) => void n.sumChunks(b, first, stride, chunkLen, count, lastLen, out);
    } catch {
      /* no addon: per-chunk JS sums */
    }
  }
  return chunkSumOf(sum ?? defaultSum());
}

function defaultSum(): SumFn {
  try {
    const n = loadNative();
    return (b, off, len, init) => n.checksum(b, off, len, init);
  } catch {
    return (b, off, len, init) => onesSum(b, off, len, init);
  }
}

/** Action records beyond this many are dropped with the flow table at the next snapshot. */
const ACTION_LIMIT = 1 << 16;
const SWEEP_PER_BATCH = 64;

export class Forwarder {
  readonly counters: Counters;
  readonly uft: FlowTable;
  readonly ct: ConnTrack;
  readonly actions: ActionTable;
  private snap: Snapshot;
  private pending: Snapshot | null = null;
  private inBatch = false;
  private readonly slow: SlowPath;
  private readonly io: DataplaneIo;
  private readonly batchSize: number;
  private readonly slotSize: number;
  private readonly clock: () => number;
  private readonly maxBatches: number;
  private readonly rx: FrameBatch;
  private readonly urx: FrameBatch;
  private readonly urxSrc: Uint32Array;
  private readonly urxDst: Uint32Array;
  private readonly copies: FrameBatch;
  private copyN = 0;
  private outs: PortOutputs;
  private readonly upVx: UplinkOutput;
  private readonly upNv: UplinkOutput;
  private cur: FrameBatch;
  private readonly f = new FlowFields();
  private readonly key = new Uint32Array(KEY_WORDS);
  private nowMs = 0;
  private readonly sum: SumFn;
  private readonly chunks: ChunkSumFn;
  /** Per batch: views over its slab whose start/len are the VXLAN / NVGRE output's message arrays
   * (Uplink.write without GSO takes those as its batch). */
  private readonly msgViews = new Map<FrameBatch, [FrameBatch, FrameBatch]>();
  /** The virtio-net header size of the port being polled (0: none), and the current frame's offload state. */
  private vh = 0;
  private fGso = 0;
  private fGsoSize = 0;
  private fCsumStart = -1;
  private fCsumOffset = 0;
  private readonly seg = new SegResult();
  private readonly co = new CoalesceResult();
  private readonly split: FrameBatch;
  private readonly splitSrc: Uint32Array;
  private splitN = 0;

  constructor(io: DataplaneIo, snapshot: Snapshot, opts: ForwarderOptions = {}) {
    this.io = io;
    this.snap = snapshot;
    this.batchSize = opts.batchSize ?? 64;
    this.slotSize = opts.slotSize ?? 2048;
    this.clock = opts.now ?? Date.now;
    this.maxBatches = opts.maxBatchesPerPoll ?? 8;
    this.counters = new Counters(Math.max(snapshot.ports.length, 16), opts.counters);
    this.uft = new FlowTable(opts.uftCapacity ?? 65536, opts.uftIdleMs ?? 60_000);
    this.ct = new ConnTrack(opts.ctCapacity ?? 65536, { ...DEFAULT_CT_TIMEOUTS, ...opts.ctTimeouts });
    this.actions = new ActionTable();
    this.slow = new SlowPath(snapshot, this.actions, this.ct);
    this.slow.checkLinear = opts.checkAclLinear ?? false;
    const big = opts.bigSlotSize ?? this.slotSize;
    this.sum = opts.sum ?? defaultSum();
    this.chunks = chunkSums(opts.sum);
    this.rx = allocBatch(this.batchSize, big);
    this.urx = allocBatch(this.batchSize, big);
    this.split = allocBatch(64, SPLIT_SLOT);
    this.splitSrc = new Uint32Array(64);
    this.urxSrc = new Uint32Array(this.batchSize);
    this.urxDst = new Uint32Array(this.batchSize);
    this.copies = allocBatch(this.batchSize, this.slotSize);
    this.outs = new PortOutputs(Math.max(snapshot.ports.length, 16), this.batchSize);
    // one TSO frame may become ~50 segments (one message each without UDP GSO)
    this.upVx = new UplinkOutput(this.batchSize * 64);
    this.upNv = new UplinkOutput(this.batchSize * 64);
    for (const b of [this.rx, this.urx, this.split]) this.msgView(b, this.upVx);
    this.cur = this.rx;
  }

  get snapshot(): Snapshot {
    return this.snap;
  }

  /** Takes effect between batches. Flow entries of older generations are re-evaluated on their next frame. */
  setSnapshot(s: Snapshot): void {
    if (this.inBatch) this.pending = s;
    else this.applySnapshot(s);
  }

  private applySnapshot(s: Snapshot): void {
    this.pending = null;
    this.snap = s;
    this.slow.snap = s;
    this.counters.ensurePorts(s.ports.length);
    if (this.outs.ports < s.ports.length) this.outs = new PortOutputs(s.ports.length, this.batchSize);
    if (this.actions.count > ACTION_LIMIT) {
      this.actions.reset();
      this.uft.clear();
    }
    this.counters.global[C.SnapshotSwaps]++;
  }

  setPort(index: number, port: FramePort | undefined): void {
    while (this.io.ports.length <= index) this.io.ports.push(undefined);
    this.io.ports[index] = port;
  }

  /** Replaces the uplinks (e.g. the underlay changed); an absent kind becomes a counted no-uplink drop. */
  setUplinks(uplinks: { vxlan?: Uplink; nvgre?: Uplink }): void {
    this.io.vxlan = uplinks.vxlan;
    this.io.nvgre = uplinks.nvgre;
  }

  /** Reads and forwards what port `index` has (at most maxBatchesPerPoll batches). */
  pollPort(index: number): void {
    const port = this.io.ports[index];
    if (!port) return;
    this.vh = port.vnetHdrSize ?? 0;
    for (let k = 0; k < this.maxBatches; k++) {
      if (this.pending) this.applySnapshot(this.pending);
      const n = port.read(this.rx);
      if (n <= 0) break;
      this.begin(this.rx);
      const X = this.snap.ports[index];
      if (X === undefined) {
        for (let i = 0; i < n; i++) this.drop(Drop.PortDown, -1);
      } else {
        for (let i = 0; i < n; i++) this.egress(X, i);
      }
      this.end();
      if (n < this.rx.capacity) break;
    }
  }

  /** Reads and forwards what the uplink of `kind` has. */
  pollUplink(kind: 'vxlan' | 'nvgre'): void {
    const up = kind === 'vxlan' ? this.io.vxlan : this.io.nvgre;
    if (!up) return;
    const enc = kind === 'vxlan' ? ENCAP_VXLAN : ENCAP_NVGRE;
    this.vh = 0;
    for (let k = 0; k < this.maxBatches; k++) {
      if (this.pending) this.applySnapshot(this.pending);
      const n = up.read(this.urx, this.urxSrc, this.urxDst);
      if (n <= 0) break;
      const gro = up.groSize;
      this.begin(this.urx);
      for (let i = 0; i < n; i++) this.ingress(enc, i, this.urxSrc[i], gro === undefined ? 0 : gro[i]);
      this.end();
      if (this.splitN > 0) {
        // GRO buffers that could not be coalesced: their datagrams one by one, after the batch
        const m = this.splitN;
        this.begin(this.split);
        for (let i = 0; i < m; i++) this.ingress(enc, i, this.splitSrc[i], 0);
        this.end();
        this.splitN = 0;
      }
      if (n < this.urx.capacity) break;
    }
  }

  private begin(b: FrameBatch): void {
    this.inBatch = true;
    this.cur = b;
    this.nowMs = this.clock();
  }

  private end(): void {
    this.flushAll();
    this.uft.sweep(this.nowMs, SWEEP_PER_BATCH);
    const g = this.counters.global;
    g[C.UftInstalls] = this.uft.stats.installs;
    g[C.UftEvictions] = this.uft.stats.evictions;
    g[C.UftExpired] = this.uft.stats.expired;
    g[C.CtCreated] = this.ct.created;
    g[C.CtEvictions] = this.ct.evictions;
    this.inBatch = false;
  }

  private drop(reason: number, port: number): void {
    this.counters.global[C.DropBase + reason]++;
    if (port >= 0) {
      const pc = this.counters.port;
      pc[port * PORT_STRIDE + P.Drops]++;
      if (reason === Drop.AclDeny) pc[port * PORT_STRIDE + P.AclDeny]++;
    }
  }

  // ---- egress -------------------------------------------------------------------------------

  private egress(X: PortInfo, slot: number): void {
    const g = this.counters.global;
    const pc = this.counters.port;
    const b = this.cur;
    const slab = b.slab;
    const off = b.start[slot];
    const len = b.len[slot];
    const pb = X.index * PORT_STRIDE;
    g[C.PortRxFrames]++;
    g[C.PortRxBytes] += len;
    pc[pb + P.RxFrames]++;
    pc[pb + P.RxBytes] += len;
    const f = this.f;
    const vh = this.vh;
    if (vh > 0) {
      const t = vnetGsoType(slab, off - vh);
      this.fGso = t & 0x7f;
      this.fGsoSize = vnetGsoSize(slab, off - vh);
      if ((slab[off - vh] & VNET_F_NEEDS_CSUM) !== 0) {
        this.fCsumStart = vnetCsumStart(slab, off - vh);
        this.fCsumOffset = vnetCsumOffset(slab, off - vh);
      } else this.fCsumStart = -1;
    } else {
      this.fGso = 0;
      this.fCsumStart = -1;
    }
    if (parseFrame(slab, off, len, f) !== Drop.None) return this.drop(Drop.Malformed, X.index);
    if (f.ethertype === ETH_ARP && !this.arp(X, slot)) return;
    f.inPort = X.index;
    f.dir = DIR_OUT;
    f.vsid = X.vsid;
    if ((slab[off] & 1) !== 0) return this.replicateEgress(X, slot);
    if (f.isIp && f.dst === X.gateway && f.dstMac === this.snap.routerMac) return this.routerLocal(X, slot);
    const key = this.key;
    fillKey(f, key);
    const h = hashKey(key);
    const s = this.resolve(h, X.rdid, X, -1);
    this.apply(s, slot, X);
  }

  /** The flow entry to apply for the frame in `this.f` (key in `this.key`): a current hit, or
   * the slow path's result installed (over a stale or dead entry of the same key). */
  private resolve(h: number, rdid: number, X: PortInfo | null, subnet: number): number {
    const uft = this.uft;
    const ct = this.ct;
    const g = this.counters.global;
    const now = this.nowMs;
    const f = this.f;
    let s = uft.lookup(this.key, h, now);
    if (s >= 0) {
      if (uft.gen[s] === this.snap.generation) {
        const c = uft.ct[s];
        const fl = uft.flags[s];
        let ok: boolean;
        if (c >= 0) ok = ct.alive(c, uft.ctId[s], now) && ((fl & UF_CT_REPLY) === 0 || ct.admitsReply(c));
        else if ((fl & UF_DENY_CT_CHECK) === 0) ok = true;
        else {
          const c2 = ct.find(rdid, f, now);
          ok = c2 < 0 || ct.direction(c2, f) !== CT_REPLY || !ct.admitsReply(c2);
        }
        if (ok) {
          g[C.UftHits]++;
          return s;
        }
      }
      g[C.UftRevalidated]++;
    } else {
      g[C.UftMisses]++;
    }
    const slow = this.slow;
    const entropy = innerFlowHash(f);
    if (X !== null) slow.egress(f, X, entropy, now);
    else slow.ingress(f, subnet, now);
    if (s < 0) s = uft.insert(this.key, h, now);
    uft.action[s] = slow.resAction;
    uft.flowHash[s] = entropy;
    uft.gen[s] = this.snap.generation;
    uft.ct[s] = slow.resCt;
    uft.ctId[s] = slow.resCtId;
    uft.flags[s] = slow.resFlags;
    return s;
  }

  /** Applies flow entry `s` to the frame in `slot`; `X` is the sending port (null from the wire). */
  private apply(s: number, slot: number, X: PortInfo | null): void {
    const uft = this.uft;
    const A = this.actions;
    const b = this.cur;
    const len = b.len[slot];
    const now = this.nowMs;
    uft.frames[s]++;
    uft.bytes[s] += len;
    uft.lastHit[s] = now;
    const c = uft.ct[s];
    if (c >= 0) this.ct.track(c, this.ct.direction(c, this.f), this.f, now);
    const a = uft.action[s];
    const kind = A.kind[a];
    if (kind === A_DROP) return this.drop(A.drop[a], X ? X.index : -1);
    if (A.route[a] !== 0 && X !== null) {
      if (this.f.ttl <= 1) return this.timeExceeded(X, slot);
      routeRewrite(b.slab, b.start[slot], A.dstMac[a], A.srcMac[a]);
      this.counters.global[C.Routed]++;
    }
    if (kind === A_PORT) this.queuePort(A.port[a], slot);
    else this.encap(slot, A.encap[a], A.vni[a], A.flowId[a], uft.flowHash[s], A.srcPa[a], A.dstPa[a], X);
  }

  private queuePort(p: number, slot: number): void {
    if (!this.outs.addMain(p, slot)) {
      this.flushAll();
      this.outs.addMain(p, slot);
    }
  }

  private encap(slot: number, enc: number, vni: number, flowId: number, hash: number, srcPa: number, dstPa: number, X: PortInfo | null): void {
    const up = enc === ENCAP_VXLAN ? this.io.vxlan : this.io.nvgre;
    if (!up) return this.drop(Drop.NoUplink, X ? X.index : -1);
    if (X !== null && this.fGso !== 0) return this.encapSegments(up, slot, enc, vni, flowId, hash, srcPa, dstPa, X);
    if (X !== null && this.fCsumStart >= 0) this.finishCsum(slot);
    const sport = this.pushEncap(up, slot, enc, vni, flowId, hash);
    const out = enc === ENCAP_VXLAN ? this.upVx : this.upNv;
    if (out.full) this.flushAll();
    const b = this.cur;
    out.add(b.start[slot], b.len[slot], 0, sport, srcPa, dstPa);
  }

  /** Pushes the encapsulation in front of the frame in `slot` (start/len move to the message);
   * returns the outer source port for a GSO pool (0 otherwise). */
  private pushEncap(up: Uplink, slot: number, enc: number, vni: number, flowId: number, hash: number): number {
    const b = this.cur;
    const start = b.start[slot];
    const len = b.len[slot];
    if (enc === ENCAP_VXLAN) {
      const gso = up.gso;
      if (gso !== undefined) {
        // pool socket: the kernel writes the UDP header; the message starts at VXLAN
        const sport = gso.sourcePort(hash);
        writeU32(b.slab, start - 8, 0x08000000);
        writeU32(b.slab, start - 4, (vni << 8) >>> 0);
        b.start[slot] = start - 8;
        b.len[slot] = len + 8;
        return sport;
      }
      b.start[slot] = pushVxlan(b.slab, start, len, vni, vxlanSourcePort(hash));
      b.len[slot] = len + 16;
    } else {
      b.start[slot] = pushNvgre(b.slab, start, vni, flowId < 0 ? hash & 0xff : flowId);
      b.len[slot] = len + 8;
    }
    return 0;
  }

  /** Completes the partial checksum (virtio-net NEEDS_CSUM) of the frame in `slot`: a peer that
   * is not a TAP cannot finish it. */
  private finishCsum(slot: number): void {
    const b = this.cur;
    if (finishPartialChecksum(b.slab, b.start[slot], b.len[slot], this.fCsumStart, this.fCsumOffset, this.sum)) this.counters.global[C.CsumFinished]++;
    this.fCsumStart = -1;
  }

  /**
   * A TSO/USO super-frame to the wire: encapsulation pushed in front of it, then cut in place into
   * segments that each carry a copy of it (vfp/offload.ts). With a GSO pool the segments go as
   * UDP_SEGMENT messages of up to 64 segments / 65507 bytes (two for a 64 KB frame); otherwise each
   * segment is its own datagram.
   */
  private encapSegments(up: Uplink, slot: number, enc: number, vni: number, flowId: number, hash: number, srcPa: number, dstPa: number, X: PortInfo): void {
    const b = this.cur;
    const F = b.start[slot];
    const len = b.len[slot];
    const limit = (Math.floor(F / b.slotSize) + 1) * b.slotSize;
    const sport = this.pushEncap(up, slot, enc, vni, flowId, hash);
    const pre = F - b.start[slot];
    const gso = enc === ENCAP_VXLAN ? up.gso : undefined;
    const seg = this.seg;
    if (!segmentFrame(b.slab, F, len, this.fGso, this.fGsoSize, pre, gso === undefined && enc === ENCAP_VXLAN ? 4 : -1, limit, this.sum, seg, this.chunks)) {
      return this.drop(Drop.Offload, X.index);
    }
    const g = this.counters.global;
    g[C.GsoFrames]++;
    g[C.GsoSegments] += seg.n;
    const out = enc === ENCAP_VXLAN ? this.upVx : this.upNv;
    const n = seg.n;
    const stride = seg.stride;
    const base = F - pre;
    if (gso !== undefined) {
      const per = Math.max(1, Math.min(gso.maxSegments, Math.floor(65507 / stride)));
      if (!out.room(Math.ceil(n / per))) this.flushAll();
      for (let j = 0; j < n; j += per) {
        const m = Math.min(per, n - j);
        const l = (m - 1) * stride + (j + m === n ? seg.lastLen : stride);
        out.add(base + j * stride, l, m > 1 ? stride : 0, sport, srcPa, dstPa);
      }
    } else {
      if (!out.room(n)) this.flushAll();
      for (let j = 0; j < n; j++) out.add(base + j * stride, j === n - 1 ? seg.lastLen : stride, 0, 0, srcPa, dstPa);
    }
  }

  /**
   * ARP from a port. Requests are answered in place from policy (true CAs only; unknown: no
   * answer). A unicast reply is the port answering a peer that asked over the wire (a host that
   * is not switchyard, e.g. a kernel vxlan peer, floods its requests): it is checked against the
   * port's own MAC and address and then forwarded like any unicast frame (returns true).
   */
  private arp(X: PortInfo, slot: number): boolean {
    const b = this.cur;
    const slab = b.slab;
    const off = b.start[slot];
    const arpOff = off + 14;
    if (arpCheck(slab, arpOff, b.len[slot] - 14) !== 0) return this.dropped(Drop.Malformed, X.index);
    const op = readU16(slab, arpOff + 6);
    const tpa = readU32(slab, arpOff + 24);
    const spa = readU32(slab, arpOff + 14);
    if (op === 2) {
      if ((slab[off] & 1) !== 0) return this.dropped(Drop.ArpIgnored, X.index);
      if (spa !== X.ip || readMac(slab, arpOff + 8) !== X.mac) return this.dropped(Drop.Spoofed, X.index);
      return true;
    }
    if (op !== 1) return this.dropped(Drop.ArpIgnored, X.index);
    if (spa === tpa || tpa === X.ip) return this.dropped(Drop.ArpIgnored, X.index);
    const snap = this.snap;
    let mac = -1;
    if (tpa === X.gateway) mac = snap.routerMac;
    else {
      const ep = snap.endpointByIp[X.rdid].get(tpa);
      if (ep !== undefined && snap.endpoints[ep].subnetIndex === X.subnetIndex) mac = snap.endpoints[ep].mac;
    }
    if (mac < 0) return this.dropped(Drop.ArpUnknown, X.index);
    arpRequestToReply(slab, off, arpOff, mac);
    this.counters.global[C.ArpReplies]++;
    this.queuePort(X.index, slot);
    return false;
  }

  /** drop() for paths that return "not forwarded". */
  private dropped(reason: number, port: number): false {
    this.drop(reason, port);
    return false;
  }

  private routerLocal(X: PortInfo, slot: number): void {
    const f = this.f;
    if (f.proto !== PROTO_ICMP || f.frag || f.sport >>> 8 !== 8) return this.drop(Drop.RouterLocal, X.index);
    const b = this.cur;
    echoToReply(b.slab, b.start[slot], f.ihl, this.snap.routerMac, X.gateway);
    this.counters.global[C.IcmpEchoReplies]++;
    this.queuePort(X.index, slot);
  }

  private timeExceeded(X: PortInfo, slot: number): void {
    const b = this.cur;
    const off = b.start[slot];
    const slotEnd = (Math.floor(off / b.slotSize) + 1) * b.slotSize;
    this.drop(Drop.TtlExceeded, X.index);
    const ihl = this.f.ihl;
    if (off + 14 + 28 + ihl + 8 > slotEnd) return;
    b.len[slot] = toTimeExceeded(b.slab, off, b.len[slot], this.snap.routerMac, X.gateway);
    if (this.vh > 0) b.slab.fill(0, off - this.vh, off);
    this.counters.global[C.IcmpTimeExceeded]++;
    this.queuePort(X.index, slot);
  }

  /** Copies the frame in `slot` of the current batch into the copy batch, queued for port `p`. */
  private copyTo(p: number, slot: number): void {
    if (this.copyN === this.copies.capacity) this.flushAll();
    const c = this.copyN++;
    const cp = this.copies;
    const b = this.cur;
    const src = b.start[slot];
    const len = b.len[slot];
    const dst = c * cp.slotSize + HEADROOM;
    const from = b.slab;
    const to = cp.slab;
    if (len > cp.slotSize - HEADROOM) return this.drop(Drop.NoBuffer, p);
    to.set(from.subarray(src, src + len), dst);
    to.fill(0, dst - VNET_HDR_LEN_MRG, dst); // no offload state for a copy
    cp.start[c] = dst;
    cp.len[c] = len;
    this.outs.addCopy(p, c);
  }

  private replicateEgress(X: PortInfo, slot: number): void {
    const f = this.f;
    const snap = this.snap;
    const slow = this.slow;
    if (f.srcMac !== X.mac) return this.drop(Drop.Spoofed, X.index);
    if (X.aclOut !== null && !slow.aclAllows(X.aclOut, f, 'acl-out', X.name)) return this.drop(Drop.AclDeny, X.index);
    const subnet = snap.subnets[X.subnetIndex];
    const enc = subnet.encapsulation === 'nvgre' ? ENCAP_NVGRE : ENCAP_VXLAN;
    const remote = subnet.remoteHosts.length > 0 && (enc === ENCAP_VXLAN ? this.io.vxlan : this.io.nvgre) !== undefined;
    let used = false;
    let copies = 0;
    const locals = subnet.localPorts;
    for (let k = 0; k < locals.length; k++) {
      const p = locals[k];
      if (p === X.index) continue;
      const Y = snap.ports[p];
      if (Y.aclIn !== null && !slow.aclAllows(Y.aclIn, f, 'acl-in', Y.name)) {
        this.drop(Drop.AclDeny, p);
        continue;
      }
      if (!remote && !used) {
        used = true;
        this.queuePort(p, slot);
      } else this.copyTo(p, slot);
      copies++;
    }
    if (remote) {
      const hash = innerFlowHash(f);
      const b = this.cur;
      if (this.fCsumStart >= 0) this.finishCsum(slot);
      const sport = this.pushEncap((enc === ENCAP_VXLAN ? this.io.vxlan : this.io.nvgre)!, slot, enc, subnet.vsid, subnet.nvgreFlowId, hash);
      const out = enc === ENCAP_VXLAN ? this.upVx : this.upNv;
      const lp = snap.localPas;
      const srcPa = lp.length ? lp[(hash >>> 8) % lp.length] : 0;
      for (let k = 0; k < subnet.remoteHosts.length; k++) {
        const pas = snap.hosts[subnet.remoteHosts[k]].pas;
        if (pas.length === 0) continue;
        if (out.full) this.flushAll();
        out.add(b.start[slot], b.len[slot], 0, sport, srcPa, pas[hash % pas.length]);
        copies++;
      }
    }
    if (copies === 0) return this.drop(Drop.NoPort, X.index);
    this.counters.global[C.Replicated] += copies;
  }

  // ---- ingress ------------------------------------------------------------------------------

  private ingress(enc: number, slot: number, srcPa: number, groSize: number): void {
    const g = this.counters.global;
    const b = this.cur;
    const slab = b.slab;
    let off = b.start[slot];
    let len = b.len[slot];
    g[C.UplinkRxFrames]++;
    g[C.UplinkRxBytes] += len;
    const snap = this.snap;
    // who sent it comes first: a datagram from an address that is no other host's PA is not
    // parsed at all (and is counted as such however malformed it is)
    if (snap.paHost.get(srcPa) < 0) return this.drop(Drop.UnknownSrcPa, -1);
    let vni: number;
    let coalesced = false;
    if (enc === ENCAP_VXLAN && groSize > 0 && len - 8 > groSize) {
      // a UDP GRO buffer: several datagrams of groSize bytes (VXLAN + frame) back to back
      const D = off + 8;
      const L = len - 8;
      if (vxlanCheck(slab, D, groSize) !== 0) return this.drop(Drop.Malformed, -1);
      if (!coalesceTcp(slab, D, L, groSize, 8, this.sum, this.co, this.chunks)) return this.splitGro(D, L, groSize, srcPa);
      const co = this.co;
      vni = readU24(slab, D + 4);
      off = co.start;
      len = co.len;
      coalesced = true;
      g[C.GroFrames]++;
      g[C.GroSegments] += co.n;
      writeVnetHdr(slab, off - VNET_HDR_LEN_MRG, VNET_HDR_LEN_MRG, VNET_F_NEEDS_CSUM, co.gsoType, co.hdrLen, co.gsoSize, co.csumStart, co.csumOffset);
    } else if (enc === ENCAP_VXLAN) {
      if (len < 8) return this.drop(Drop.Malformed, -1);
      const udpLen = readU16(slab, off + 4);
      if (udpLen < 8 || udpLen > len) return this.drop(Drop.Malformed, -1);
      len = udpLen;
      if (vxlanCheck(slab, off + 8, len - 8) !== 0) return this.drop(Drop.Malformed, -1);
      vni = readU24(slab, off + 12);
      off += 16;
      len -= 16;
    } else {
      if (nvgreCheck(slab, off, len) !== 0) return this.drop(Drop.Malformed, -1);
      vni = readU32(slab, off + 4) >>> 8;
      off += 8;
      len -= 8;
    }
    if (!coalesced) slab.fill(0, off - VNET_HDR_LEN_MRG, off); // a port with a virtio-net header: no offload state
    const si = snap.vsidSubnet.get(vni);
    if (si < 0) return this.drop(Drop.UnknownVni, -1);
    const subnet = snap.subnets[si];
    if (subnet.localPorts.length === 0) return this.drop(Drop.UnknownVni, -1);
    if ((subnet.encapsulation === 'nvgre' ? ENCAP_NVGRE : ENCAP_VXLAN) !== enc) return this.drop(Drop.EncapMismatch, -1);
    b.start[slot] = off;
    b.len[slot] = len;
    const f = this.f;
    if (parseFrame(slab, off, len, f) !== Drop.None) return this.drop(Drop.Malformed, -1);
    f.inPort = UPLINK_PORT;
    f.dir = DIR_IN;
    f.vsid = vni;
    if ((slab[off] & 1) !== 0) return this.replicateIngress(si, slot);
    const key = this.key;
    fillKey(f, key);
    const h = hashKey(key);
    const s = this.resolve(h, subnet.rdid, null, si);
    this.apply(s, slot, null);
  }

  /** A GRO buffer that is not one TCP run: its datagrams are copied out (with the UDP header
   * put back in front, as the uplink's read does) and forwarded one by one after this batch. */
  private splitGro(D: number, L: number, size: number, srcPa: number): void {
    const from = this.cur.slab;
    const sp = this.split;
    this.counters.global[C.GroSplit]++;
    for (let o = 0; o < L; o += size) {
      const l = Math.min(size, L - o);
      if (this.splitN === sp.capacity || l + 8 > sp.slotSize - HEADROOM) {
        this.drop(Drop.Offload, -1);
        continue;
      }
      const i = this.splitN++;
      const dst = i * sp.slotSize + HEADROOM;
      sp.slab.set(from.subarray(D + o, D + o + l), dst + 8);
      const v = sp.view;
      v.setUint16(dst, 0);
      v.setUint16(dst + 2, 4789);
      v.setUint16(dst + 4, l + 8);
      v.setUint16(dst + 6, 0);
      sp.start[i] = dst;
      sp.len[i] = l + 8;
      this.splitSrc[i] = srcPa;
    }
  }

  private replicateIngress(si: number, slot: number): void {
    const snap = this.snap;
    const f = this.f;
    const locals = snap.subnets[si].localPorts;
    let used = false;
    let copies = 0;
    for (let k = 0; k < locals.length; k++) {
      const p = locals[k];
      const Y = snap.ports[p];
      if (Y.aclIn !== null && !this.slow.aclAllows(Y.aclIn, f, 'acl-in', Y.name)) {
        this.drop(Drop.AclDeny, p);
        continue;
      }
      if (!used) {
        used = true;
        this.queuePort(p, slot);
      } else this.copyTo(p, slot);
      copies++;
    }
    if (copies === 0) return this.drop(Drop.NoPort, -1);
    this.counters.global[C.Replicated] += copies;
  }

  // ---- output -------------------------------------------------------------------------------

  private flushAll(): void {
    const outs = this.outs;
    const b = this.cur;
    for (let t = 0; t < outs.touchedN; t++) {
      const p = outs.touched[t];
      const n = outs.mainN[p];
      if (n > 0) this.writePort(p, b, outs.main[p], n);
      const m = outs.copyN[p];
      if (m > 0) this.writePort(p, this.copies, outs.copy[p], m);
    }
    outs.reset();
    this.copyN = 0;
    if (this.upVx.n > 0) this.writeUplink(this.io.vxlan, this.upVx, b);
    if (this.upNv.n > 0) this.writeUplink(this.io.nvgre, this.upNv, b);
  }

  private writePort(p: number, b: FrameBatch, idx: Int32Array, n: number): void {
    const port = this.io.ports[p];
    const g = this.counters.global;
    const pc = this.counters.port;
    const pb = p * PORT_STRIDE;
    if (!port) {
      g[C.DropBase + Drop.PortDown] += n;
      pc[pb + P.Drops] += n;
      return;
    }
    const sent = port.write(b, idx, n);
    let bytes = 0;
    for (let k = 0; k < sent; k++) bytes += b.len[idx[k]];
    g[C.PortTxFrames] += sent;
    g[C.PortTxBytes] += bytes;
    pc[pb + P.TxFrames] += sent;
    pc[pb + P.TxBytes] += bytes;
    if (sent < n) {
      g[C.DropBase + Drop.TxFull] += n - sent;
      pc[pb + P.TxFull] += n - sent;
      pc[pb + P.Drops] += n - sent;
    }
  }

  private writeUplink(up: Uplink | undefined, out: UplinkOutput, b: FrameBatch): void {
    const g = this.counters.global;
    const n = out.n;
    out.n = 0;
    if (!up) {
      g[C.DropBase + Drop.NoUplink] += n;
      return;
    }
    const gso = up.gso;
    const sent = gso !== undefined
      ? gso.writeMsgs(b.slab, out.start, out.len, out.gso, out.sport, out.src, out.dst, n)
      : up.write(this.msgView(b, out), out.iota, out.src, out.dst, n);
    let bytes = 0;
    for (let k = 0; k < sent; k++) bytes += out.len[k];
    g[C.UplinkTxFrames] += sent;
    g[C.UplinkTxBytes] += bytes;
    if (sent < n) g[C.DropBase + Drop.TxFull] += n - sent;
  }

  private msgView(b: FrameBatch, out: UplinkOutput): FrameBatch {
    let v = this.msgViews.get(b);
    if (v === undefined) {
      const mk = (o: UplinkOutput): FrameBatch => ({ slab: b.slab, view: b.view, slotSize: b.slotSize, capacity: o.capacity, start: o.start, len: o.len, count: 0 });
      v = [mk(this.upVx), mk(this.upNv)];
      this.msgViews.set(b, v);
    }
    return out === this.upVx ? v[0] : v[1];
  }

  // ---- observability ------------------------------------------------------------------------

  /** The flow table as plain objects; `port` keeps entries whose input or output is that port. */
  dumpFlows(filter?: { port?: string }): FlowDumpEntry[] {
    if (this.pending) this.applySnapshot(this.pending);
    return dumpFlows(this.uft, this.actions, this.ct, this.snap, this.clock(), filter);
  }

  /** What the dataplane would do with `frame` sent by port `portName` ('out') or arriving from
   * the wire for it ('in'), layer by layer. No side effects. */
  trace(portName: string, frame: Uint8Array, direction: 'out' | 'in'): TraceResult {
    if (this.pending) this.applySnapshot(this.pending);
    return traceFrame({ snap: this.snap, slow: this.slow, uft: this.uft, ct: this.ct, actions: this.actions, io: this.io }, portName, frame, direction, this.clock());
  }
}
