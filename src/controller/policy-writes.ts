/**
 * A whole-policy PUT as store writes: the resources that are new or differ from the stored ones
 * (compared as JSON text, the form both the store and the validation worker produce), and deletes
 * of stored resources the document no longer has. Unchanged resources are not written, so agents
 * hear only of what changed and the change log stays small.
 */
import { POLICY_KINDS } from '../agent/controller-sync-protocol.js';
import type { Policy } from '../policy/types.js';
import type { StoreWrite } from './store.js';
import type { ResourceTexts } from './validate-worker.js';

/** JSON of stored (deep-frozen, so unchanging) resources, made once. */
const texts = new WeakMap<object, string>();

function textOf(item: object): string {
  let text = texts.get(item);
  if (text === undefined) {
    text = JSON.stringify(item);
    if (Object.isFrozen(item)) texts.set(item, text);
  }
  return text;
}

export function policyWrites(stored: Policy, incoming: ResourceTexts): StoreWrite[] {
  const writes: StoreWrite[] = [];
  for (const kind of POLICY_KINDS) {
    const before = new Map(((stored[kind] ?? []) as { name: string }[]).map((item) => [item.name, item]));
    for (const [name, text] of incoming[kind]) {
      const old = before.get(name);
      before.delete(name);
      if (old === undefined || textOf(old) !== text) writes.push({ kind, name, resource: JSON.parse(text) as StoreWrite['resource'] });
    }
    for (const name of before.keys()) writes.push({ kind, name });
  }
  return writes;
}
