/**
 * The shapes every device and every in-memory fake share (STYLE.md 5, 6, 12).
 *
 * Frames live in slabs: one Uint8Array cut into fixed slots. A frame read into slot i starts at
 * `i * slotSize + HEADROOM`, so encapsulation moves `start[i]` back and writes the outer headers
 * in place, and decapsulation moves it forward: the payload is never copied. Each native call
 * moves a whole batch: the slab plus the per-slot `start`/`len` arrays.
 */

/** Bytes kept free in front of every frame for outer headers (VXLAN over IPv6 needs 70, plus a
 * 12-byte virtio-net header), rounded up. */
export const HEADROOM = 128;

/** A slab of frame slots and the per-slot offsets and lengths of the frames in them. */
export interface FrameBatch {
  readonly slab: Uint8Array;
  /** DataView over exactly `slab` (built with byteOffset/byteLength: pooled Buffers do not start at 0). */
  readonly view: DataView;
  readonly slotSize: number;
  /** Number of slots. */
  readonly capacity: number;
  /** Per slot: offset in `slab` of the frame's first byte. */
  readonly start: Int32Array;
  /** Per slot: the frame's length in bytes. */
  readonly len: Int32Array;
  /** Slots 0..count-1 hold frames after a read. */
  count: number;
}

/**
 * Two batches over one slab: `a`'s slots first (native reads place slot i at i * slotSize +
 * HEADROOM from the slab's start), then `b`'s. Within one slab `slab.copyWithin` moves bytes from
 * a slot of one to a slot of the other without making a view per copy.
 */
export function allocBatchPair(capA: number, slotA: number, capB: number, slotB: number): [FrameBatch, FrameBatch] {
  const slab = new Uint8Array(capA * slotA + capB * slotB);
  const view = new DataView(slab.buffer);
  return [batchOver(slab, view, capA, slotA, 0), batchOver(slab, view, capB, slotB, capA * slotA)];
}

/** Allocates a batch; `shared` puts the slab on a SharedArrayBuffer (for rings between threads). */
export function allocBatch(capacity: number, slotSize: number, shared = false): FrameBatch {
  const bytes = capacity * slotSize;
  const slab = new Uint8Array(shared ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes));
  return batchOver(slab, new DataView(slab.buffer, slab.byteOffset, slab.byteLength), capacity, slotSize, 0);
}

/** `capacity` slots of `slotSize` bytes in `slab` from `base` on. */
function batchOver(slab: Uint8Array, view: DataView, capacity: number, slotSize: number, base: number): FrameBatch {
  const start = new Int32Array(capacity);
  for (let i = 0; i < capacity; i++) start[i] = base + i * slotSize + HEADROOM;
  return { slab, view, slotSize, capacity, start, len: new Int32Array(capacity), count: 0 };
}

/** A tenant port: one TAP queue, or a memory fake. Frames are whole Ethernet frames. */
export interface FramePort {
  readonly name: string;
  /** Bytes of virtio-net header in front of every frame on the device (IFF_VNET_HDR), 0 or absent
   * without: then read() leaves the header at start - vnetHdrSize and write() sends the bytes the
   * caller put there (checksum and segmentation offload state, wire/vnethdr.ts). */
  readonly vnetHdrSize?: number;
  /** Reads up to `b.capacity` frames into slots 0..n-1 at offset HEADROOM of each slot, sets
   * `b.start`/`b.len`/`b.count`, returns n (0 when nothing is ready). Never blocks. */
  read(b: FrameBatch): number;
  /** Writes the frames of slots `idx[0..count)` of `b` (at `b.start`/`b.len`); returns how many
   * were accepted (the rest are the caller's drops to count). Never blocks. */
  write(b: FrameBatch, idx: Int32Array, count: number): number;
  /** Calls `cb` whenever frames may be ready (level-triggered: `cb` should drain with read()). */
  onReadable(cb: () => void): void;
  close(): void;
}

/**
 * The host's underlay endpoint for one encapsulation: for VXLAN a UDP socket on 4789 (receive) and
 * a raw IPv4 socket (send: switchyard writes the UDP header itself so the source port can carry the
 * inner flow's hash, as the kernel's vxlan does); for NVGRE a raw IPv4 socket of protocol 47.
 * Frames are what follows the outer IPv4 header on the wire (UDP+VXLAN+inner, or GRE+inner);
 * the kernel writes and strips the outer IPv4 header. Addresses are IPv4 in host byte order.
 */
export interface Uplink {
  readonly kind: 'vxlan' | 'nvgre';
  /** Reads frames (starting at the UDP header for vxlan, the GRE header for nvgre) into slots;
   * `srcAddr[i]`/`dstAddr[i]` receive the outer IPv4 source and destination. Returns n. */
  read(b: FrameBatch, srcAddr: Uint32Array, dstAddr: Uint32Array): number;
  /** Sends slots `idx[0..count)` of `b` to `dstAddr[k]` from local address `srcAddr[k]` (0: let
   * the kernel choose). Returns how many were sent. */
  write(b: FrameBatch, idx: Int32Array, srcAddr: Uint32Array, dstAddr: Uint32Array, count: number): number;
  onReadable(cb: () => void): void;
  close(): void;
  /**
   * Segmentation offload (VXLAN over a pool of UDP sockets with UDP_SEGMENT): when present,
   * messages start at the VXLAN header (the kernel writes UDP), `sourcePort(hash)` is the outer
   * source port the pool uses for an inner flow hash, and `writeMsgs` sends message k =
   * slab[start[k], +len[k]) from that port to dstAddr[k]; gso[k] > 0 has the kernel cut it into
   * datagrams of gso[k] bytes. With `parts`, message k is gathered from parts[k] consecutive
   * ranges of start/len instead (message 0's ranges first): no copy to make a run contiguous.
   * Returns messages sent.
   */
  readonly gso?: {
    readonly maxSegments: number;
    sourcePort(hash: number): number;
    writeMsgs(slab: Uint8Array, start: Int32Array, len: Int32Array, gso: Uint16Array, sport: Uint16Array, srcAddr: Uint32Array, dstAddr: Uint32Array, count: number, parts?: Uint16Array): number;
  };
  /** NVGRE TX ring (io/nvgre-tx-ring.ts): [frames sent through the ring, messages that found it
   * full, messages sent through the raw socket for another reason, of them to peers not resolved yet]; the
   * caller adds them to its counters and zeroes them. */
  readonly ringStats?: Float64Array;
  /** UDP GRO: after read(), slot i holds runs of datagrams of groSize[i] bytes each (0: one datagram). */
  readonly groSize?: Uint16Array;
}
