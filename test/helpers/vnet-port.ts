/**
 * A memory port with a 12-byte virtio-net header in front of every frame (as an offload TAP):
 * `hdrIn` is put in front of each frame read, and the header in front of each frame written is
 * kept in `hdrsOut`.
 */
import { Forwarder, TSO_SLOT } from '../../src/dataplane/forwarder.js';
import { MemoryPort } from '../../src/io/memory.js';
import type { Snapshot } from '../../src/vfp/snapshot.js';
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

/** A forwarder with big (TSO) slots and a VnetPort on every port of `snap`, by port name. */
export function vnetForwarder(snap: Snapshot): { fwd: Forwarder; ports: Map<string, VnetPort> } {
  const fwd = new Forwarder({ ports: [] }, snap, { now: () => 1_000_000, bigSlotSize: TSO_SLOT });
  const ports = new Map<string, VnetPort>();
  for (const p of snap.ports) {
    const mp = new VnetPort(p.name);
    ports.set(p.name, mp);
    fwd.setPort(p.index, mp);
  }
  return { fwd, ports };
}
