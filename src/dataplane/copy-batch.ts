/**
 * The copy batch's shape (copy.ts fills it): small slots for ordinary copies, then a few large
 * slots for copies of super-frames, in one slab so a port writes its list of copies in one call.
 */
import { allocBatch, HEADROOM, type FrameBatch } from '../io/types.js';

/** Large copy slots per copy batch, and their size (a 64 KB frame + headroom). */
export const BIG_COPIES = 4;
export const BIG_COPY_SLOT = 65536 + 2 * HEADROOM;

/** The copy batch: `capacity` slots of `slotSize`, then BIG_COPIES slots of BIG_COPY_SLOT bytes
 * in the same slab (one slab: a port writes a list of copies with one call). */
export function allocCopyBatch(capacity: number, slotSize: number): FrameBatch {
  const small = allocBatch(capacity, slotSize);
  const slab = new Uint8Array(capacity * slotSize + BIG_COPIES * BIG_COPY_SLOT);
  return { ...small, slab, view: new DataView(slab.buffer, slab.byteOffset, slab.byteLength) };
}
