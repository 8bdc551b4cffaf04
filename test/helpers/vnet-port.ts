/**
 * A memory port with a 12-byte virtio-net header in front of every frame (as an offload TAP):
 * `hdrIn` is put in front of each frame read, and the header in front of each frame written is
 * kept in `hdrsOut`.
 */
import { MemoryPort } from '../../src/io/memory.js';
import type { FrameBatch } from '../../src/io/types.js';

export class VnetPort extends MemoryPort {
  readonly vnetHdrSize = 12;
  hdrIn = new Uint8Array(12);
  readonly hdrsOut: Uint8Array[] = [];
  override read(b: FrameBatch): number {
    const n = super.read(b);
    for (let i = 0; i < n; i++) b.slab.set(this.hdrIn, b.start[i] - 12);
    return n;
  }
  override write(b: FrameBatch, idx: Int32Array, count: number): number {
    for (let k = 0; k < count; k++) this.hdrsOut.push(b.slab.slice(b.start[idx[k]] - 12, b.start[idx[k]]));
    return super.write(b, idx, count);
  }
}
