/**
 * The controller -> agent sync protocol (shared by src/controller/sync-hub.ts, the server side,
 * and ./controller-sync.ts, the client). It lives here, in the agent layer, because the controller
 * may import the agent but not the other way round.
 *
 * One long-lived `GET /networking/v1/sync?host=NAME[&since=REV&digest=HEX]` answered with a
 * chunked stream of NDJSON messages (one JSON object per line):
 *   snapshot  {type, host, revision, digest, heartbeatMs, policy}      first message, full host view
 *   delta     {type, host, revision, digest, heartbeatMs?, upsert, remove}
 *             the host view changed (or, as the first message, a resume from `since`)
 *   heartbeat {type, revision}                                        every heartbeatMs
 * A host view is a Policy holding every host (remote PAs are needed), the virtual networks with a
 * port on this host, every interface of those networks (CA->PA mappings) and the ACLs they name.
 * Resources of each kind are sorted by name. `digest` is the SHA-256 of the canonical JSON of the
 * view after the message is applied: a client whose result differs asks for a fresh snapshot.
 */
import { createHash } from 'node:crypto';
import type { Policy } from '../policy/types.js';

export const POLICY_KINDS = ['hosts', 'virtualNetworks', 'networkInterfaces', 'accessControlLists', 'switches', 'nats'] as const;
export type PolicyKind = (typeof POLICY_KINDS)[number];

export const SYNC_PATH = '/networking/v1/sync';

export interface SnapshotMessage {
  type: 'snapshot';
  host: string;
  revision: number;
  digest: string;
  heartbeatMs: number;
  policy: Policy;
}

export interface DeltaMessage {
  type: 'delta';
  host: string;
  revision: number;
  digest: string;
  /** Present on the first message of a resumed stream. */
  heartbeatMs?: number;
  /** Resources added or replaced, by kind. */
  upsert: Partial<Policy>;
  /** Names of resources removed, by kind. */
  remove: Partial<Record<PolicyKind, string[]>>;
}

export interface HeartbeatMessage {
  type: 'heartbeat';
  revision: number;
}

export type SyncMessage = SnapshotMessage | DeltaMessage | HeartbeatMessage;

export function emptyPolicy(): Policy {
  return { hosts: [], virtualNetworks: [], networkInterfaces: [], accessControlLists: [], switches: [], nats: [] };
}

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** Canonical JSON of one resource, cached per object (views share resource objects, never mutated). */
const canonicalCache = new WeakMap<object, string>();
function canonicalItem(item: object): string {
  let text = canonicalCache.get(item);
  if (text === undefined) {
    text = canonical(item);
    canonicalCache.set(item, text);
  }
  return text;
}

/** SHA-256 (hex) of the canonical JSON (sorted keys) of a host view. */
export function viewDigest(view: Policy): string {
  const kinds = [...POLICY_KINDS].sort();
  const body = kinds.map((kind) => `${JSON.stringify(kind)}:[${((view[kind] ?? []) as object[]).map(canonicalItem).join(',')}]`).join(',');
  return createHash('sha256').update(`{${body}}`).digest('hex');
}

const byName = (a: { name: string }, b: { name: string }): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/** The view with each kind sorted by name (the order both ends keep). */
export function sortView(view: Policy): Policy {
  return {
    hosts: [...view.hosts].sort(byName),
    virtualNetworks: [...view.virtualNetworks].sort(byName),
    networkInterfaces: [...view.networkInterfaces].sort(byName),
    accessControlLists: [...view.accessControlLists].sort(byName),
    switches: [...(view.switches ?? [])].sort(byName),
    nats: [...(view.nats ?? [])].sort(byName),
  };
}

/** What turns `from` into `to`: resources whose canonical JSON differs, and names that went away. */
export function diffViews(from: Policy, to: Policy): { upsert: Partial<Policy>; remove: Partial<Record<PolicyKind, string[]>>; empty: boolean } {
  const upsert: Record<string, unknown[]> = {};
  const remove: Partial<Record<PolicyKind, string[]>> = {};
  let empty = true;
  for (const kind of POLICY_KINDS) {
    const before = new Map<string, { name: string }>();
    for (const item of (from[kind] ?? []) as { name: string }[]) before.set(item.name, item);
    const changed = ((to[kind] ?? []) as { name: string }[]).filter((item) => {
      const old = before.get(item.name);
      return old !== item && (old === undefined || canonicalItem(old) !== canonicalItem(item));
    });
    const names = new Set(((to[kind] ?? []) as { name: string }[]).map((item) => item.name));
    const gone = [...before.keys()].filter((name) => !names.has(name));
    if (changed.length > 0) {
      upsert[kind] = changed;
      empty = false;
    }
    if (gone.length > 0) {
      remove[kind] = gone;
      empty = false;
    }
  }
  return { upsert: upsert as Partial<Policy>, remove, empty };
}

/** Apply a delta to a view (a new object; the input is not changed). */
export function applyDelta(view: Policy, delta: Pick<DeltaMessage, 'upsert' | 'remove'>): Policy {
  const out = emptyPolicy() as unknown as Record<PolicyKind, { name: string }[]>;
  for (const kind of POLICY_KINDS) {
    const items = new Map<string, { name: string }>();
    for (const item of (view[kind] ?? []) as { name: string }[]) items.set(item.name, item);
    for (const name of delta.remove[kind] ?? []) items.delete(name);
    for (const item of (delta.upsert[kind] ?? []) as { name: string }[]) items.set(item.name, item);
    out[kind] = [...items.values()];
  }
  return sortView(out as unknown as Policy);
}
