/**
 * What one worker's forwarding modules share (forwarder.ts, hairpin.ts,
 * replicate.ts, offload-tx.ts, offload-rx.ts, flush.ts): the tables, the current snapshot and
 * batch, the frame being classified (fields, key, offload state) and the output lists, plus
 * pushEncap (encapsulation in the headroom, STYLE.md 3-4). Forwarder extends this class, so the
 * modules' free functions are handed the Forwarder itself: one object shape at every call site,
 * no extra indirection, nothing allocated per frame. pushEncap is a method here rather than a
 * module of its own: as a cross-module free function it cost ~5% on the VXLAN fast path.
 */
import { writeU32 } from '../wire/bytes.js';
import { PortMeters } from './qos.js';
import { allocCopyBatch } from './copy-batch.js';
import { allocBatchPair, type FrameBatch, type FramePort, type Uplink } from '../io/types.js';
import { ENCAP_VXLAN, type ActionTable } from '../vfp/actions.js';
import type { ConnTrack } from '../vfp/conntrack.js';
import type { Engine } from '../vfp/engine.js';
import { FlowFields, KEY_WORDS } from '../vfp/flowkey.js';
import { CoalesceResult, SegResult, type ChunkSumFn, type SegmentFn, type SumFn } from '../vfp/offload.js';
import type { Snapshot } from '../vfp/snapshot.js';
import { pushNvgre, pushVxlan, vxlanSourcePort } from '../vfp/transpose.js';
import type { FlowTable } from '../vfp/uft.js';
import type { GsoGroups } from './gso-batch.js';
import type { Counters } from './counters.js';
import { PortOutputs, UplinkOutput } from './outputs.js';

export interface DataplaneIo {
  /** By port id (PortInfo.index). */
  ports: (FramePort | undefined)[];
  vxlan?: Uplink;
  nvgre?: Uplink;
}

/** Slot size of the batch that GRO buffers are split into when they cannot be coalesced. */
const SPLIT_SLOT = 4096;

export class ForwarderState {
  snap: Snapshot;
  /** The batch being forwarded. */
  cur: FrameBatch;
  nowMs = 0;
  /** The frame being classified: the engine's (Decision.f), parsed in place. */
  readonly f: FlowFields;
  readonly key = new Uint32Array(KEY_WORDS);
  /** The virtio-net header size of the port being polled (0: none), and the current frame's offload state. */
  vh = 0;
  fGso = 0;
  fGsoSize = 0;
  fCsumStart = -1;
  fCsumOffset = 0;
  readonly seg = new SegResult();
  readonly co = new CoalesceResult();
  /** The uplinks' read batch. */
  readonly urx: FrameBatch;
  /** Datagrams of GRO buffers that could not be coalesced, forwarded after their batch: slots in
   * the same slab as urx's, after them (from splitBase on), so they are copied without a view. */
  readonly split: FrameBatch;
  readonly splitBase: number;
  readonly splitSrc: Uint32Array;
  splitN = 0;
  /** Writes every queued output now (flush.ts flushAll; set by the Forwarder). */
  flushNow: () => void = () => undefined;
  /** Forwards the split batch now (it is full and more datagrams are coming). */
  splitFull: () => void = () => undefined;
  /** Replicated frames (one copy per extra local port); slots as large as the read slots, so a
   * flooded or mirrored TSO super-frame is copied whole, with its virtio-net header. */
  readonly copies: FrameBatch;
  copyN = 0;
  /** Large copy slots in use (copy.ts: super-frame copies). */
  bigCopyN = 0;
  outs: PortOutputs;
  /** Bandwidth caps per port and direction (qos.ts). */
  readonly meters = new PortMeters();
  /** Some port of the snapshot is a mirror Source (mirror.ts). */
  mirrorOn = false;
  readonly upVx: UplinkOutput;
  readonly upNv: UplinkOutput;
  /** The groups of a flush's plain datagrams for UDP GSO (gso-batch.ts; made on first use). */
  gsoGroups: GsoGroups | null = null;
  /** Per batch: views over its slab whose start/len are the VXLAN / NVGRE output's message arrays
   * (Uplink.write without GSO takes those as its batch). */
  readonly msgViews = new Map<FrameBatch, [FrameBatch, FrameBatch]>();

  constructor(
    readonly io: DataplaneIo,
    snapshot: Snapshot,
    readonly counters: Counters,
    readonly uft: FlowTable,
    readonly ct: ConnTrack,
    readonly actions: ActionTable,
    readonly engine: Engine,
    readonly sum: SumFn,
    readonly chunks: ChunkSumFn,
    /** TSO segmentation in place (native when the addon has it). */
    readonly segment: SegmentFn,
    readonly batchSize: number,
    slotSize: number,
    first: FrameBatch,
  ) {
    this.snap = snapshot;
    this.f = engine.d.f;
    this.cur = first;
    // uplink reads take GRO buffers of up to 64 KB: slots as large as the first batch's
    [this.urx, this.split] = allocBatchPair(batchSize, first.slotSize, 64, SPLIT_SLOT);
    this.splitBase = batchSize * first.slotSize;
    this.splitSrc = new Uint32Array(64);
    this.copies = allocCopyBatch(batchSize, slotSize);
    this.outs = new PortOutputs(Math.max(snapshot.ports.length, 16), batchSize);
    // one TSO frame may become ~50 segments (one message each without UDP GSO)
    this.upVx = new UplinkOutput(batchSize * 64);
    this.upNv = new UplinkOutput(batchSize * 64);
  }

  /** Pushes the encapsulation in front of the frame in `slot` (start/len move to the message);
   * returns the outer source port for a GSO pool (0 otherwise). */
  pushEncap(up: Uplink, slot: number, enc: number, vni: number, flowId: number, hash: number): number {
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
}
