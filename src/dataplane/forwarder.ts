/**
 * The forwarding loop one worker runs (DESIGN.md "Data flow"): read a batch from a port or an
 * uplink, classify every frame, then write the frames grouped by output - one write per output
 * per batch (STYLE.md 7).
 *
 * Per frame, egress (port -> wire): edge validation (flowkey.parseFrame), then ONE decision path:
 * the engine (vfp/engine.ts) walks the port's layers and returns a Decision that this loop
 * carries out (deliver, route, encapsulate in the headroom, answer back out the port, replicate,
 * or drop by reason). Unicast IPv4 (not a later fragment) and IPv6 first try the unified flow table:
 * a current hit applies the cached action; a miss or a stale generation asks the engine and
 * installs its answer when the decision is cacheable. Everything else (ARP, group destinations,
 * later fragments, VLAN-tagged, other EtherTypes) asks the engine every time: no frame
 * kind bypasses the layers. Ingress (wire -> port): outer header checks, known source PA (its
 * host is part of the flow key: the ingress guard decides by it), known VSID with local ports,
 * decapsulation by moving the start forward, then the same.
 *
 * No per-frame allocation on these paths: the frame fields, the key and the output lists are
 * reused; drops are counted, never thrown. A new snapshot takes effect between batches.
 *
 * This file holds the class, the batch loop, snapshot switching and the unicast path (egress,
 * ingress, flow resolution, carrying out decisions). Forwarder extends ForwarderState
 * (forwarder-state.ts); the rest are free functions handed `this`: hairpin.ts (ARP and echo
 * replies, time exceeded), replicate.ts, offload-tx.ts (TSO/checksum), offload-rx.ts (GRO),
 * flush.ts.
 */
import { allocBatch, type FrameBatch, type FramePort, type Uplink } from '../io/types.js';
import { loadNative } from '../io/native.js';
import { onesSum } from '../wire/checksum.js';
import { clearVnetHdr, VNET_HDR_LEN_MRG } from '../wire/vnethdr.js';
import { chunkSumOf, segmentFrame, type ChunkSumFn, type SegmentFn, type SumFn } from '../vfp/offload.js';
import { readU16, readU24, readU32 } from '../wire/bytes.js';
import { nvgreCheck } from '../wire/gre.js';
import { vxlanCheck } from '../wire/vxlan.js';
import { A_DROP, A_PORT, ActionTable, ENCAP_NVGRE, ENCAP_VXLAN, ROUTE_V6 } from '../vfp/actions.js';
import { CT_ANY, CT_REPLY, ConnTrack, DEFAULT_CT_CAPACITY, DEFAULT_CT_TIMEOUTS, type CtTimeouts } from '../vfp/conntrack.js';
import { V_DROP, V_FORWARD, V_HAIRPIN, type Decision } from '../vfp/decision.js';
import { Drop } from '../vfp/drops.js';
import { Engine, UPLINK_BASE } from '../vfp/engine.js';
import { DIR_IN, DIR_OUT, FlowFields, K_IPV4, K_IPV6, fillKey, hashKey, innerFlowHash, parseFrame } from '../vfp/flowkey.js';
import { FragTable } from '../vfp/frag.js';
import { isGroupMac } from '../vfp/layers/ctx.js';
import { FlowRate } from '../vfp/quota.js';
import type { PortInfo, Snapshot } from '../vfp/snapshot.js';
import { routeRewrite, routeRewrite6 } from '../vfp/transpose.js';
import type { TraceResult } from '../vfp/trace-types.js';
import { FlowTable, UF_CT_REPLY, UF_DENY_CT_CHECK } from '../vfp/uft.js';
import { C, Counters, P, PORT_STRIDE } from './counters.js';
import { dumpFlows, type FlowDumpEntry } from './flows.js';
import { flushAll, msgView, queuePort } from './flush.js';
import { ForwarderState, type DataplaneIo } from './forwarder-state.js';
import { coalesceGro, coalesceNvgre, coalesceVxlanSlots, splitGroBuffer, writeCoalescedHdr } from './offload-rx.js';
import { encapSegments, finishCsum, readOffloadState } from './offload-tx.js';
import { PortOutputs } from './outputs.js';
import { hairpin, timeExceeded } from './hairpin.js';
import { tooBig } from './pmtu.js';
import { mirrorTo } from './mirror.js';
import { hopLimitExceeded } from './hairpin6.js';
import { replicate } from './replicate.js';
import { traceFrame } from './trace.js';

export type { FlowDumpEntry } from './flows.js';
export type { DataplaneIo } from './forwarder-state.js';

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
  /** Connections one port may own in this worker's table (default 50,000). */
  ctPerPort?: number;
  /** New flows per second per port, and the burst (default 20,000 each; 0: no limit). */
  newFlowsPerSecond?: number;
  newFlowsBurst?: number;
  /** Check every ACL lookup against the linear reference (tests only: slow). */
  checkAclLinear?: boolean;
  /** Bytes per slot of the port and uplink read batches (default slotSize); 64 KB + room once
   * TSO/GRO are on (TSO_SLOT). */
  bigSlotSize?: number;
  /** Ones-complement sum for checksums (default: the native addon's when it loads, else JS). */
  sum?: SumFn;
  /** Ports take super-frames with a virtio-net header (default true); false (`--no-offload`): a
   * UDP GRO buffer from the uplink is split into its frames, never coalesced. */
  portsTakeGso?: boolean;
  /** Software GRO on the uplinks: consecutive TCP segments of one flow in a read (NVGRE packets,
   * or VXLAN datagrams not already in a UDP GRO buffer) become one super-frame for the port
   * (default: on when the read slots hold 64 KB, bigSlotSize >= TSO_SLOT, and ports take GSO). */
  softGro?: boolean;
  /** Counter arrays to continue on (a restarted worker's); default: new ones. */
  counters?: { global: Float64Array; port: Float64Array };
  /** Connection tracking on this shared buffer (vfp/conntrack.ts conntrackBytes(ctCapacity)): a
   * restarted worker adopts the connections its predecessor left there. Default: private arrays. */
  ctShared?: SharedArrayBuffer;
  /** The QoS buckets shared by every worker of the agent (qos.ts allocQosShared; sized for the
   * snapshot's port ids); default: buckets of this forwarder's own. */
  qosShared?: Int32Array;
}

/** Slot size with TSO/GRO: a 64 KB super-frame + headroom + the headers of up to ~120 segments
 * (segmentation in place grows the frame by one header per segment). */
export const TSO_SLOT = 65536 + 16384;

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

/** TSO segmentation: the native addon's (one call per super-frame, no JS loop per segment) when it
 * has it and no `sum` was chosen, else vfp/offload.ts segmentFrame over `sum` / `chunks`. */
function segmenter(sum: SumFn | undefined, chunks: ChunkSumFn): SegmentFn {
  if (sum === undefined) {
    try {
      const n = loadNative();
      const seg = n.segmentFrame;
      if (typeof seg === 'function') {
        const out = new Int32Array(4);
        return (b, F, len, gsoType, mss, pre, lenField, limit, r) => {
          if (seg(b, F, len, gsoType, mss, pre, lenField, limit, out) === 0) return false;
          r.n = out[0];
          r.stride = out[1];
          r.lastLen = out[2];
          r.hdrLen = out[3];
          return true;
        };
      }
    } catch {
      /* no addon: the TypeScript segmentation */
    }
  }
  const s = sum ?? defaultSum();
  return (b, F, len, gsoType, mss, pre, lenField, limit, r) => segmentFrame(b, F, len, gsoType, mss, pre, lenField, limit, s, r, chunks);
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

export class Forwarder extends ForwarderState {
  private pending: Snapshot | null = null;
  private inBatch = false;
  private readonly clock: () => number;
  private readonly maxBatches: number;
  private readonly portsTakeGso: boolean;
  private readonly rx: FrameBatch;
  private readonly urxSrc: Uint32Array;
  private readonly urxDst: Uint32Array;
  private readonly softGro: boolean;

  constructor(io: DataplaneIo, snapshot: Snapshot, opts: ForwarderOptions = {}) {
    const batchSize = opts.batchSize ?? 64;
    const slotSize = opts.slotSize ?? 2048;
    const clock = opts.now ?? Date.now;
    const ct = new ConnTrack(opts.ctCapacity ?? DEFAULT_CT_CAPACITY, { ...DEFAULT_CT_TIMEOUTS, ...opts.ctTimeouts }, opts.ctPerPort ?? 50_000, opts.ctShared, clock());
    const actions = new ActionTable();
    const rate = new FlowRate(opts.newFlowsPerSecond ?? 20_000, opts.newFlowsBurst ?? opts.newFlowsPerSecond ?? 20_000);
    const engine = new Engine(snapshot, actions, ct, new FragTable(), rate, new FlowFields());
    engine.checkLinear = opts.checkAclLinear ?? false;
    const big = opts.bigSlotSize ?? slotSize;
    const rx = allocBatch(batchSize, big);
    const chunks = chunkSums(opts.sum);
    super(
      io,
      snapshot,
      new Counters(Math.max(snapshot.ports.length, 16), opts.counters),
      new FlowTable(opts.uftCapacity ?? 65536, opts.uftIdleMs ?? 60_000),
      ct,
      actions,
      engine,
      opts.sum ?? defaultSum(),
      chunks,
      segmenter(opts.sum, chunks),
      batchSize,
      // copies (flooding, replication, mirroring): small slots, and a few large ones at the end of
      // the copy batch for super-frames (copy-batch.ts)
      slotSize,
      rx,
    );
    this.clock = clock;
    // cumulative over restarts, as the counters themselves (shared memory a restarted worker continues)
    this.counters.global[C.CtRestored] += ct.restored;
    this.maxBatches = opts.maxBatchesPerPoll ?? 8;
    this.portsTakeGso = opts.portsTakeGso ?? true;
    this.rx = rx;
    this.urxSrc = new Uint32Array(batchSize);
    this.urxDst = new Uint32Array(batchSize);
    // a super-frame needs 64 KB slots and ports that take a virtio-net header
    this.softGro = opts.softGro ?? (big >= TSO_SLOT && this.portsTakeGso);
    this.splitFull = () => this.forwardSplit();
    this.flushNow = () => flushAll(this);
    if (opts.qosShared !== undefined) this.meters.attach(opts.qosShared);
    this.meters.configure(snapshot, this.clock());
    this.mirrorOn = snapshot.ports.some((p) => p.mirrorTo.length > 0);
    for (const b of [this.rx, this.urx, this.split]) msgView(this, b, this.upVx);
    // the capacities never change; end() keeps the entry counts current
    this.counters.global[C.UftCapacity] = this.uft.capacity;
    this.counters.global[C.CtCapacity] = ct.capacity;
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
    this.engine.snap = s;
    this.meters.configure(s, this.clock());
    this.mirrorOn = s.ports.some((p) => p.mirrorTo.length > 0);
    this.counters.ensurePorts(s.portById.length);
    if (this.outs.ports < s.portById.length) this.outs = new PortOutputs(s.portById.length, this.batchSize);
    if (this.actions.count > ACTION_LIMIT) {
      this.actions.reset();
      this.uft.clear();
    }
    this.counters.global[C.SnapshotSwaps]++;
  }

  /** The agent's QoS buckets, grown for more ports: call before setSnapshot with the snapshot
   * that needs them (the worker's message handler runs between batches). */
  setQosShared(shared: Int32Array): void {
    this.meters.attach(shared);
    this.meters.configure(this.snap, this.clock());
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

  /** Reads and forwards what port `index` has (at most maxBatchesPerPoll batches); returns the
   * number of frames read (the busy poller uses it to tell idle from busy). */
  pollPort(index: number): number {
    const port = this.io.ports[index];
    if (!port) return 0;
    this.vh = port.vnetHdrSize ?? 0;
    let total = 0;
    for (let k = 0; k < this.maxBatches; k++) {
      if (this.pending) this.applySnapshot(this.pending);
      const n = port.read(this.rx);
      if (n <= 0) break;
      total += n;
      this.begin(this.rx);
      const X = this.snap.portById[index];
      if (X === undefined) {
        for (let i = 0; i < n; i++) this.counters.drop(Drop.PortDown, -1);
      } else {
        for (let i = 0; i < n; i++) this.egress(X, i);
      }
      this.end();
      if (n < this.rx.capacity) break;
    }
    return total;
  }

  /** Reads and forwards what the uplink of `kind` has; returns the number of buffers read. */
  pollUplink(kind: 'vxlan' | 'nvgre'): number {
    const up = kind === 'vxlan' ? this.io.vxlan : this.io.nvgre;
    if (!up) return 0;
    const enc = kind === 'vxlan' ? ENCAP_VXLAN : ENCAP_NVGRE;
    this.vh = 0;
    let total = 0;
    for (let k = 0; k < this.maxBatches; k++) {
      if (this.pending) this.applySnapshot(this.pending);
      const n = up.read(this.urx, this.urxSrc, this.urxDst);
      if (n <= 0) break;
      total += n;
      const gro = up.groSize;
      const soft = this.softGro;
      this.begin(this.urx);
      for (let i = 0; i < n; ) {
        // a run of one TCP flow's segments is merged into slot i and forwarded as one frame
        const m = !soft ? 0 : enc === ENCAP_NVGRE ? coalesceNvgre(this, i, n, this.urxSrc) : coalesceVxlanSlots(this, i, n, this.urxSrc, gro);
        this.ingress(enc, i, this.urxSrc[i], gro === undefined ? 0 : gro[i], m > 0);
        i += m > 0 ? m : 1;
      }
      this.end();
      // GRO buffers that could not be coalesced: their datagrams one by one, after the batch
      if (this.splitN > 0) this.forwardSplit();
      if (n < this.urx.capacity) break;
    }
    return total;
  }

  /**
   * Forwards the datagrams split out of GRO buffers (always VXLAN). Called after a batch, and in
   * the middle of one when the split batch fills up (offload-rx.ts): the current batch's queued
   * outputs are written first, so its slots are free to be reused, then the split batch goes
   * through, then the current batch continues. A read of 64 GRO buffers of 64 datagrams each is
   * forwarded whole, 64 datagrams at a time, never dropped for want of room.
   */
  private forwardSplit(): void {
    const m = this.splitN;
    this.splitN = 0;
    const saved = this.cur;
    const within = this.inBatch;
    if (within) flushAll(this);
    this.begin(this.split);
    for (let i = 0; i < m; i++) this.ingress(ENCAP_VXLAN, i, this.splitSrc[i], 0, false);
    this.end();
    this.cur = saved;
    this.inBatch = within;
  }

  private begin(b: FrameBatch): void {
    this.inBatch = true;
    this.cur = b;
    this.nowMs = this.clock();
  }

  private end(): void {
    flushAll(this);
    this.uft.sweep(this.nowMs, SWEEP_PER_BATCH);
    this.ct.sweep(this.nowMs, SWEEP_PER_BATCH);
    const g = this.counters.global;
    g[C.UftInstalls] = this.uft.stats.installs;
    g[C.UftEvictions] = this.uft.stats.evictions;
    g[C.UftExpired] = this.uft.stats.expired;
    g[C.CtCreated] = this.ct.created;
    g[C.CtEvictions] = this.ct.evictions;
    g[C.CtRefused] = this.ct.refused;
    g[C.UftEntries] = this.uft.count;
    g[C.CtEntries] = this.ct.count;
    g[C.AclLogged] = this.engine.aclLog.logged;
    g[C.AclLogSuppressed] = this.engine.aclLog.suppressed;
    this.inBatch = false;
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
    const m = this.meters;
    if (m.on && m.rate[X.index * 2] !== 0 && !m.take(X.index * 2, len, this.nowMs)) return this.counters.drop(Drop.Qos, X.index);
    if (this.mirrorOn) mirrorTo(this, X, slot);
    const f = this.f;
    readOffloadState(this, slab, off);
    if (parseFrame(slab, off, len, f) !== Drop.None) return this.counters.drop(Drop.Malformed, X.index);
    f.inPort = X.index;
    f.dir = DIR_OUT;
    f.vsid = X.vsid;
    if ((f.kind !== K_IPV4 && (f.kind !== K_IPV6 || f.bad6)) || f.fragOff !== 0 || (slab[off] & 1) !== 0) {
      // not a flow the table may cache: the layers decide every frame
      return this.carryOut(this.engine.egress(X, innerFlowHash(f), this.nowMs), slot, X);
    }
    const key = this.key;
    fillKey(f, key);
    const h = hashKey(key);
    const s = this.resolve(h, X, -1, -1);
    if (s >= 0) this.apply(s, slot, X);
    else this.carryOut(this.engine.d, slot, X);
  }

  /**
   * The flow entry to apply for the frame in this.f (key in this.key): a current hit, or the
   * engine's decision installed (over a stale or dead entry of the same key); -1 when the
   * decision may not be cached (it is left in engine.d to carry out).
   */
  private resolve(h: number, X: PortInfo | null, subnet: number, srcHost: number): number {
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
        if (c >= 0) ok = ct.alive(c, uft.ctId[s], now) && ((fl & UF_CT_REPLY) === 0 || ct.admitsReply(c, f.tcpFlags));
        else if ((fl & UF_DENY_CT_CHECK) === 0) ok = true;
        else {
          const c2 = ct.find(X !== null ? X.zone : this.snap.subnets[subnet].zone, f, now);
          // the reply of another port's connection (its receiver is known and not X) is no
          // licence: the engine would decide it by X's rules again (layers/acl.ts takesPart)
          ok = c2 < 0 || ct.direction(c2, f) !== CT_REPLY || !ct.admitsReply(c2, f.tcpFlags) || (X !== null && ct.origin[c2] !== CT_ANY && ct.receiver[c2] >= 0 && ct.receiver[c2] !== X.index);
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
    const entropy = innerFlowHash(f);
    const d = X !== null ? this.engine.egress(X, entropy, now) : this.engine.ingress(subnet, srcHost, entropy, now);
    if (!d.cacheable || (d.verdict !== V_FORWARD && d.verdict !== V_DROP)) {
      if (s >= 0) uft.free(s);
      return -1;
    }
    if (s < 0) s = uft.insert(this.key, h, now);
    uft.action[s] = d.action;
    uft.flowHash[s] = entropy;
    uft.gen[s] = this.snap.generation;
    uft.ct[s] = d.resCt;
    uft.ctId[s] = d.resCtId;
    uft.flags[s] = d.resFlags;
    return s;
  }

  /** Applies flow entry `s` to the frame in `slot`; `X` is the sending port (null from the wire). */
  private apply(s: number, slot: number, X: PortInfo | null): void {
    // the fast path: kept whole in one method (as applyAction below, which carries out decisions
    // the table does not keep) - a call more per frame cost ~10% on the VXLAN fast path
    const uft = this.uft;
    const A = this.actions;
    const b = this.cur;
    const now = this.nowMs;
    uft.frames[s]++;
    uft.bytes[s] += b.len[slot];
    uft.lastHit[s] = now;
    const a = uft.action[s];
    if (this.f.frag) this.engine.recordFirstFragment(this.f.inPort, a, uft.flowHash[s], now);
    const c = uft.ct[s];
    if (c >= 0) this.ct.track(c, this.ct.direction(c, this.f), this.f, now);
    const kind = A.kind[a];
    if (kind === A_DROP) return this.counters.drop(A.drop[a], X ? X.index : -1);
    if (A.route[a] !== 0 && X !== null) {
      if (A.route[a] === ROUTE_V6) {
        if (this.f.ttl <= 1) return hopLimitExceeded(this, X, slot);
        routeRewrite6(b.slab, b.start[slot], A.dstMac[a], A.srcMac[a]);
      } else {
        if (this.f.ttl <= 1) return timeExceeded(this, X, slot);
        routeRewrite(b.slab, b.start[slot], A.dstMac[a], A.srcMac[a]);
      }
      this.counters.global[C.Routed]++;
    }
    if (kind === A_PORT) queuePort(this, A.port[a], slot);
    else this.encap(slot, A.encap[a], A.vni[a], A.flowId[a], uft.flowHash[s], A.srcPa[a], A.dstPa[a], X);
  }

  /** Carries out a decision the flow table does not keep (engine.d). */
  private carryOut(d: Decision, slot: number, X: PortInfo | null): void {
    const f = this.f;
    // the verdict of a unicast first fragment is remembered for the fragments that follow
    // (later fragments of a broadcast/multicast datagram are orphans: replication is per frame)
    if (f.frag && f.fragOff === 0 && d.action >= 0 && (d.verdict === V_FORWARD || d.verdict === V_DROP) && !isGroupMac(f.dstMac)) {
      this.engine.recordFirstFragment(f.inPort, d.action, d.entropy, this.nowMs);
    }
    switch (d.verdict) {
      case V_DROP:
        for (let k = 0; k < d.repDeniedN; k++) this.counters.drop(Drop.AclDeny, d.repDenied[k]);
        return this.counters.drop(d.drop, d.dropPort);
      case V_FORWARD:
        return this.applyAction(d.action, d.entropy, d.resCt, slot, X);
      case V_HAIRPIN:
        return hairpin(this, d, X!, slot);
      default:
        return replicate(this, d, X, slot);
    }
  }

  /** Applies action record `a` (flow hash `hash`, connection `c` or -1) to the frame in `slot`. */
  private applyAction(a: number, hash: number, c: number, slot: number, X: PortInfo | null): void {
    const A = this.actions;
    const b = this.cur;
    if (c >= 0) this.ct.track(c, this.ct.direction(c, this.f), this.f, this.nowMs);
    const kind = A.kind[a];
    if (kind === A_DROP) return this.counters.drop(A.drop[a], X ? X.index : -1);
    if (A.route[a] !== 0 && X !== null) {
      if (A.route[a] === ROUTE_V6) {
        if (this.f.ttl <= 1) return hopLimitExceeded(this, X, slot);
        routeRewrite6(b.slab, b.start[slot], A.dstMac[a], A.srcMac[a]);
      } else {
        if (this.f.ttl <= 1) return timeExceeded(this, X, slot);
        routeRewrite(b.slab, b.start[slot], A.dstMac[a], A.srcMac[a]);
      }
      this.counters.global[C.Routed]++;
    }
    if (kind === A_PORT) queuePort(this, A.port[a], slot);
    else this.encap(slot, A.encap[a], A.vni[a], A.flowId[a], hash, A.srcPa[a], A.dstPa[a], X);
  }

  private encap(slot: number, enc: number, vni: number, flowId: number, hash: number, srcPa: number, dstPa: number, X: PortInfo | null): void {
    const up = enc === ENCAP_VXLAN ? this.io.vxlan : this.io.nvgre;
    if (!up) return this.counters.drop(Drop.NoUplink, X ? X.index : -1);
    if (X !== null && this.fGso !== 0) return encapSegments(this, up, slot, enc, vni, flowId, hash, srcPa, dstPa, X);
    // path MTU: one comparison; what does not fit is answered or dropped (dataplane/pmtu.ts)
    const room = enc === ENCAP_VXLAN ? this.snap.roomVxlan : this.snap.roomNvgre;
    if (X !== null && this.cur.len[slot] - 14 > room) return tooBig(this, X, slot, room);
    if (X !== null && this.fCsumStart >= 0) finishCsum(this, slot);
    const sport = this.pushEncap(up, slot, enc, vni, flowId, hash);
    const out = enc === ENCAP_VXLAN ? this.upVx : this.upNv;
    if (out.full) flushAll(this);
    const b = this.cur;
    out.add(b.start[slot], b.len[slot], 0, sport, srcPa, dstPa);
  }

  // ---- ingress ------------------------------------------------------------------------------

  /** `merged`: slot holds a super-frame that coalesceNvgre / coalesceVxlanSlots built (its description in this.co). */
  private ingress(enc: number, slot: number, srcPa: number, groSize: number, merged: boolean): void {
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
    const srcHost = snap.paHost.get(srcPa);
    if (srcHost < 0) return this.counters.drop(Drop.UnknownSrcPa, -1);
    let vni: number;
    let coalesced = false;
    if (enc === ENCAP_VXLAN && groSize > 0 && len - 8 > groSize) {
      // a UDP GRO buffer: several datagrams of groSize bytes (VXLAN + frame) back to back
      if (!this.portsTakeGso) return splitGroBuffer(this, off, len, groSize, srcPa);
      vni = coalesceGro(this, off, len, groSize, srcPa);
      if (vni < 0) return;
      off = this.co.start;
      len = this.co.len;
      coalesced = true;
    } else if (enc === ENCAP_VXLAN) {
      if (len < 8) return this.counters.drop(Drop.Malformed, -1);
      const udpLen = readU16(slab, off + 4);
      if (udpLen < 8 || udpLen > len) return this.counters.drop(Drop.Malformed, -1);
      // a merged run (coalesceVxlanSlots) is longer than its first datagram's UDP length says
      if (!merged) len = udpLen;
      if (vxlanCheck(slab, off + 8, len - 8) !== 0) return this.counters.drop(Drop.Malformed, -1);
      vni = readU24(slab, off + 12);
      off += 16;
      len -= 16;
    } else {
      if (nvgreCheck(slab, off, len) !== 0) return this.counters.drop(Drop.Malformed, -1);
      vni = readU32(slab, off + 4) >>> 8;
      off += 8;
      len -= 8;
    }
    if (merged) {
      writeCoalescedHdr(this);
      coalesced = true;
    }
    if (!coalesced) clearVnetHdr(slab, off, VNET_HDR_LEN_MRG); // a port with a virtio-net header: no offload state
    const si = snap.vsidSubnet.get(vni);
    if (si < 0) return this.counters.drop(Drop.UnknownVni, -1);
    const subnet = snap.subnets[si];
    // no port of the VSID here, and this host is not its virtual network's gateway
    if (subnet.localPorts.length === 0 && (snap.gateways[subnet.rdid]?.port ?? -1) < 0) return this.counters.drop(Drop.UnknownVni, -1);
    if ((subnet.encapsulation === 'nvgre' ? ENCAP_NVGRE : ENCAP_VXLAN) !== enc) return this.counters.drop(Drop.EncapMismatch, -1);
    b.start[slot] = off;
    b.len[slot] = len;
    const f = this.f;
    if (parseFrame(slab, off, len, f) !== Drop.None) return this.counters.drop(Drop.Malformed, -1);
    f.inPort = UPLINK_BASE + srcHost;
    f.dir = DIR_IN;
    f.vsid = vni;
    if ((f.kind !== K_IPV4 && (f.kind !== K_IPV6 || f.bad6)) || f.fragOff !== 0 || (slab[off] & 1) !== 0) {
      return this.carryOut(this.engine.ingress(si, srcHost, innerFlowHash(f), this.nowMs), slot, null);
    }
    const key = this.key;
    fillKey(f, key);
    const h = hashKey(key);
    const s = this.resolve(h, null, si, srcHost);
    if (s >= 0) this.apply(s, slot, null);
    else this.carryOut(this.engine.d, slot, null);
  }

  // ---- observability ------------------------------------------------------------------------

  /** The flow table as plain objects; `port` keeps entries whose input or output is that port. */
  dumpFlows(filter?: { port?: string }): FlowDumpEntry[] {
    if (this.pending) this.applySnapshot(this.pending);
    return dumpFlows(this.uft, this.actions, this.ct, this.snap, this.clock(), filter);
  }

  /** What the dataplane would do with `frame` sent by port `portName` ('out') or arriving from
   * the wire for it ('in'), layer by layer. No side effects. */
  trace(portName: string, frame: Uint8Array, direction: 'out' | 'in', fromHost?: string): TraceResult {
    if (this.pending) this.applySnapshot(this.pending);
    return traceFrame({ snap: this.snap, engine: this.engine, uft: this.uft, actions: this.actions, io: this.io }, portName, frame, direction, this.clock(), fromHost);
  }
}
