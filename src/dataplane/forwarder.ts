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
 *
 * This file holds the class, the batch loop, snapshot switching and the unicast path (egress,
 * ingress, flow resolution, action application). Forwarder extends ForwarderState
 * (forwarder-state.ts); the rest are free functions handed `this`: arp-responder.ts,
 * router-local.ts, replicate.ts, offload-tx.ts (TSO/checksum), offload-rx.ts (GRO), flush.ts.
 */
import { allocBatch, type FrameBatch, type FramePort, type Uplink } from '../io/types.js';
import { loadNative } from '../io/native.js';
import { onesSum } from '../wire/checksum.js';
import { VNET_HDR_LEN_MRG } from '../wire/vnethdr.js';
import { chunkSumOf, type ChunkSumFn, type SumFn } from '../vfp/offload.js';
import { readU16, readU24, readU32 } from '../wire/bytes.js';
import { nvgreCheck } from '../wire/gre.js';
import { vxlanCheck } from '../wire/vxlan.js';
import { A_DROP, A_PORT, ActionTable, ENCAP_NVGRE, ENCAP_VXLAN } from '../vfp/actions.js';
import { CT_REPLY, ConnTrack, DEFAULT_CT_TIMEOUTS, type CtTimeouts } from '../vfp/conntrack.js';
import { Drop } from '../vfp/drops.js';
import { DIR_IN, DIR_OUT, ETH_ARP, UPLINK_PORT, fillKey, hashKey, innerFlowHash, parseFrame } from '../vfp/flowkey.js';
import { SlowPath } from '../vfp/pipeline.js';
import type { PortInfo, Snapshot } from '../vfp/snapshot.js';
import { routeRewrite } from '../vfp/transpose.js';
import type { TraceResult } from '../vfp/trace-types.js';
import { FlowTable, UF_CT_REPLY, UF_DENY_CT_CHECK } from '../vfp/uft.js';
import { arpFromPort } from './arp-responder.js';
import { C, Counters, P, PORT_STRIDE } from './counters.js';
import { dumpFlows, type FlowDumpEntry } from './flows.js';
import { flushAll, msgView, queuePort } from './flush.js';
import { ForwarderState, type DataplaneIo } from './forwarder-state.js';
import { coalesceGro } from './offload-rx.js';
import { encapSegments, finishCsum, readOffloadState } from './offload-tx.js';
import { PortOutputs } from './outputs.js';
import { replicateEgress, replicateIngress } from './replicate.js';
import { routerLocal, timeExceeded } from './router-local.js';
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

export class Forwarder extends ForwarderState {
  private pending: Snapshot | null = null;
  private inBatch = false;
  private readonly clock: () => number;
  private readonly maxBatches: number;
  private readonly rx: FrameBatch;
  private readonly urx: FrameBatch;
  private readonly urxSrc: Uint32Array;
  private readonly urxDst: Uint32Array;

  constructor(io: DataplaneIo, snapshot: Snapshot, opts: ForwarderOptions = {}) {
    const batchSize = opts.batchSize ?? 64;
    const slotSize = opts.slotSize ?? 2048;
    const ct = new ConnTrack(opts.ctCapacity ?? 65536, { ...DEFAULT_CT_TIMEOUTS, ...opts.ctTimeouts });
    const actions = new ActionTable();
    const slow = new SlowPath(snapshot, actions, ct);
    slow.checkLinear = opts.checkAclLinear ?? false;
    const big = opts.bigSlotSize ?? slotSize;
    const rx = allocBatch(batchSize, big);
    super(
      io,
      snapshot,
      new Counters(Math.max(snapshot.ports.length, 16), opts.counters),
      new FlowTable(opts.uftCapacity ?? 65536, opts.uftIdleMs ?? 60_000),
      ct,
      actions,
      slow,
      opts.sum ?? defaultSum(),
      chunkSums(opts.sum),
      batchSize,
      slotSize,
      rx,
    );
    this.clock = opts.now ?? Date.now;
    this.maxBatches = opts.maxBatchesPerPoll ?? 8;
    this.rx = rx;
    this.urx = allocBatch(batchSize, big);
    this.urxSrc = new Uint32Array(batchSize);
    this.urxDst = new Uint32Array(batchSize);
    for (const b of [this.rx, this.urx, this.split]) msgView(this, b, this.upVx);
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
        for (let i = 0; i < n; i++) this.counters.drop(Drop.PortDown, -1);
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
    flushAll(this);
    this.uft.sweep(this.nowMs, SWEEP_PER_BATCH);
    const g = this.counters.global;
    g[C.UftInstalls] = this.uft.stats.installs;
    g[C.UftEvictions] = this.uft.stats.evictions;
    g[C.UftExpired] = this.uft.stats.expired;
    g[C.CtCreated] = this.ct.created;
    g[C.CtEvictions] = this.ct.evictions;
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
    const f = this.f;
    readOffloadState(this, slab, off);
    if (parseFrame(slab, off, len, f) !== Drop.None) return this.counters.drop(Drop.Malformed, X.index);
    if (f.ethertype === ETH_ARP && !arpFromPort(this, X, slot)) return;
    f.inPort = X.index;
    f.dir = DIR_OUT;
    f.vsid = X.vsid;
    if ((slab[off] & 1) !== 0) return replicateEgress(this, X, slot);
    if (f.isIp && f.dst === X.gateway && f.dstMac === this.snap.routerMac) return routerLocal(this, X, slot);
    const key = this.key;
    fillKey(f, key);
    const h = hashKey(key);
    const s = this.resolve(h, X.rdid, X, -1);
    this.apply(s, slot, X);
  }

  /** The flow entry to apply for the frame in this.f (key in this.key): a current hit, or
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
    if (kind === A_DROP) return this.counters.drop(A.drop[a], X ? X.index : -1);
    if (A.route[a] !== 0 && X !== null) {
      if (this.f.ttl <= 1) return timeExceeded(this, X, slot);
      routeRewrite(b.slab, b.start[slot], A.dstMac[a], A.srcMac[a]);
      this.counters.global[C.Routed]++;
    }
    if (kind === A_PORT) queuePort(this, A.port[a], slot);
    else this.encap(slot, A.encap[a], A.vni[a], A.flowId[a], uft.flowHash[s], A.srcPa[a], A.dstPa[a], X);
  }

  private encap(slot: number, enc: number, vni: number, flowId: number, hash: number, srcPa: number, dstPa: number, X: PortInfo | null): void {
    const up = enc === ENCAP_VXLAN ? this.io.vxlan : this.io.nvgre;
    if (!up) return this.counters.drop(Drop.NoUplink, X ? X.index : -1);
    if (X !== null && this.fGso !== 0) return encapSegments(this, up, slot, enc, vni, flowId, hash, srcPa, dstPa, X);
    if (X !== null && this.fCsumStart >= 0) finishCsum(this, slot);
    const sport = this.pushEncap(up, slot, enc, vni, flowId, hash);
    const out = enc === ENCAP_VXLAN ? this.upVx : this.upNv;
    if (out.full) flushAll(this);
    const b = this.cur;
    out.add(b.start[slot], b.len[slot], 0, sport, srcPa, dstPa);
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
    if (snap.paHost.get(srcPa) < 0) return this.counters.drop(Drop.UnknownSrcPa, -1);
    let vni: number;
    let coalesced = false;
    if (enc === ENCAP_VXLAN && groSize > 0 && len - 8 > groSize) {
      // a UDP GRO buffer: several datagrams of groSize bytes (VXLAN + frame) back to back
      vni = coalesceGro(this, off, len, groSize, srcPa);
      if (vni < 0) return;
      off = this.co.start;
      len = this.co.len;
      coalesced = true;
    } else if (enc === ENCAP_VXLAN) {
      if (len < 8) return this.counters.drop(Drop.Malformed, -1);
      const udpLen = readU16(slab, off + 4);
      if (udpLen < 8 || udpLen > len) return this.counters.drop(Drop.Malformed, -1);
      len = udpLen;
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
    if (!coalesced) slab.fill(0, off - VNET_HDR_LEN_MRG, off); // a port with a virtio-net header: no offload state
    const si = snap.vsidSubnet.get(vni);
    if (si < 0) return this.counters.drop(Drop.UnknownVni, -1);
    const subnet = snap.subnets[si];
    if (subnet.localPorts.length === 0) return this.counters.drop(Drop.UnknownVni, -1);
    if ((subnet.encapsulation === 'nvgre' ? ENCAP_NVGRE : ENCAP_VXLAN) !== enc) return this.counters.drop(Drop.EncapMismatch, -1);
    b.start[slot] = off;
    b.len[slot] = len;
    const f = this.f;
    if (parseFrame(slab, off, len, f) !== Drop.None) return this.counters.drop(Drop.Malformed, -1);
    f.inPort = UPLINK_PORT;
    f.dir = DIR_IN;
    f.vsid = vni;
    if ((slab[off] & 1) !== 0) return replicateIngress(this, si, slot);
    const key = this.key;
    fillKey(f, key);
    const h = hashKey(key);
    const s = this.resolve(h, subnet.rdid, null, si);
    this.apply(s, slot, null);
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
