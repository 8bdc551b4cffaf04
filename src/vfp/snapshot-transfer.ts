/**
 * Compile once (DESIGN.md): the agent compiles a snapshot and posts it to every worker as it is.
 * A snapshot is plain data - arrays, Maps, frozen records, typed arrays - which structured clone
 * copies whole; only the prototypes of the few classes in it (U32Map, the ACL classifier and its
 * tuple groups) are lost on the way, and reviveSnapshot puts them back (no recompilation, no
 * second parse of the policy). Objects shared inside the snapshot (one ACL table used by many
 * ports) stay shared: structured clone keeps identity within one message.
 */
import { AclClassifier, TupleGroup } from './classifier.js';
import type { AclTable } from './acl.js';
import type { Snapshot } from './snapshot.js';
import { U32Map } from './u32map.js';

function reviveAcl(t: AclTable | null, seen: Set<object>): void {
  if (t === null || seen.has(t.classifier)) return;
  seen.add(t.classifier);
  Object.setPrototypeOf(t.classifier, AclClassifier.prototype);
  for (const g of t.classifier.groups) Object.setPrototypeOf(g, TupleGroup.prototype);
}

/** Restores class prototypes in a snapshot received through postMessage; returns it. */
export function reviveSnapshot(s: Snapshot): Snapshot {
  if (s.paHost instanceof U32Map) return s;
  Object.setPrototypeOf(s.paHost, U32Map.prototype);
  Object.setPrototypeOf(s.vsidSubnet, U32Map.prototype);
  const seen = new Set<object>();
  for (const p of s.ports) {
    reviveAcl(p.aclOut, seen);
    reviveAcl(p.aclIn, seen);
    for (const L of [...p.layersOut, ...p.layersIn]) reviveAcl(L.acl, seen);
  }
  return s;
}
