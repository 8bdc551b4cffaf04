/**
 * Devices for the in-memory benchmarks: a port that hands the same batch of frames back on every
 * read (the slab is filled once; only the slot offsets are reset, and `mutate` may vary a frame
 * per read, e.g. to make every frame a new flow), and an uplink that takes every datagram.
 */
import { HEADROOM, type FrameBatch, type FramePort, type Uplink } from '../src/io/types.js';

export class ReplayPort implements FramePort {
  private filled: FrameBatch | null = null;
  constructor(
    readonly name: string,
    private readonly frames: Uint8Array[] = [],
    private readonly mutate?: (b: FrameBatch, slot: number) => void,
  ) {}
  read(b: FrameBatch): number {
    const n = Math.min(this.frames.length, b.capacity);
    if (this.filled !== b) {
      for (let i = 0; i < n; i++) b.slab.set(this.frames[i]!, i * b.slotSize + HEADROOM);
      this.filled = b;
    }
    for (let i = 0; i < n; i++) {
      b.start[i] = i * b.slotSize + HEADROOM;
      b.len[i] = this.frames[i]!.length;
      if (this.mutate) this.mutate(b, i);
    }
    b.count = n;
    return n;
  }
  write(_b: FrameBatch, _idx: Int32Array, count: number): number {
    return count;
  }
  onReadable(): void {}
  close(): void {}
}

export class SinkUplink implements Uplink {
  constructor(readonly kind: 'vxlan' | 'nvgre' = 'vxlan') {}
  read(): number {
    return 0;
  }
  write(_b: FrameBatch, _i: Int32Array, _s: Uint32Array, _d: Uint32Array, count: number): number {
    return count;
  }
  onReadable(): void {}
  close(): void {}
}
