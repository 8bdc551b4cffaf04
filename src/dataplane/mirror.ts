/**
 * Port mirroring (Hyper-V's portMirroring): a copy of every frame a Source port sends (as read,
 * before any layer: what the tenant put on its wire) and of every frame written to it (as
 * delivered: decapsulated, routed) goes to each Destination port of the same host and subnet
 * (PortInfo.mirrorTo). Copies go into the copy batch like replicated frames (replicate.ts), with
 * the sender's offload state; they are not metered, mirrored again, or subject to any layer. A
 * TSO super-frame or a GRO-merged frame (offloads on) is copied whole with its virtio-net header
 * into a large copy slot (copy.ts): the Destination's kernel gets the same super-frame, as a
 * capture on the Source's device shows it. Only when the snapshot has a Source port does the
 * forwarding loop look here (ForwarderState.mirrorOn).
 */
import type { PortInfo } from '../vfp/snapshot.js';
import type { ForwarderState } from './forwarder-state.js';
import { C } from './counters.js';
import { copyTo } from './copy.js';

/** Copies the frame in `slot` to X's mirror Destination ports (none: nothing). */
export function mirrorTo(st: ForwarderState, X: PortInfo | undefined, slot: number): void {
  if (X === undefined) return;
  const to = X.mirrorTo;
  for (let k = 0; k < to.length; k++) {
    copyTo(st, to[k], slot);
    st.counters.global[C.Mirrored]++;
  }
}
