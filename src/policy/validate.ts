/**
 * `parsePolicy`: the one door every policy passes through (file, REST body, CLI). It reports every
 * problem — schema errors and cross-reference errors together — in document order.
 */
import { ROOT_PATH, fromZodIssues, formatPath } from './errors.js';
import type { PolicyError, PolicyResult } from './errors.js';
import { AccessControlListSchema, HostSchema, NatSchema, NetworkInterfaceSchema, PolicySchema, VirtualNetworkSchema, VirtualSwitchSchema } from './schema.js';
import { semanticErrors } from './semantic.js';
import { suggestMisspelt } from './suggest.js';
import type { Policy } from './types.js';

const COLLECTIONS = ['hosts', 'virtualNetworks', 'networkInterfaces', 'accessControlLists', 'switches', 'nats'];

/** Sort key: collection in document order, then the element indices along the path. */
function orderKey(path: string): number[] {
  const top = COLLECTIONS.findIndex((name) => path === name || path.startsWith(`${name}[`) || path.startsWith(`${name}.`));
  const indices = [...path.matchAll(/\[(\d+)\]/g)].map((match) => Number(match[1]));
  return [path === ROOT_PATH ? -1 : top < 0 ? COLLECTIONS.length : top, ...indices];
}

function compareKeys(a: number[], b: number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const difference = (a[i] ?? -1) - (b[i] ?? -1);
    if (difference !== 0) return difference;
  }
  return 0;
}

/** The errors in document order, with "did you mean" hints. */
function ordered(errors: PolicyError[]): PolicyError[] {
  const keyed = errors.map((error) => ({ error, key: orderKey(error.path) }));
  keyed.sort((a, b) => compareKeys(a.key, b.key));
  return suggestMisspelt(keyed.map(({ error }) => error));
}

/** Validate a raw document (parsed YAML/JSON or a REST body); on success the normalised Policy. */
export function parsePolicy(input: unknown): PolicyResult<Policy> {
  const parsed = PolicySchema.safeParse(input);
  const errors: PolicyError[] = parsed.success ? [] : fromZodIssues(parsed.error.issues);
  for (const error of semanticErrors(input)) errors.push({ path: formatPath(error.path), message: error.message });
  if (errors.length > 0 || !parsed.success) return { ok: false, errors: ordered(errors) };
  return { ok: true, policy: parsed.data };
}

const ITEM_SCHEMAS = {
  hosts: HostSchema,
  virtualNetworks: VirtualNetworkSchema,
  networkInterfaces: NetworkInterfaceSchema,
  accessControlLists: AccessControlListSchema,
  switches: VirtualSwitchSchema,
  nats: NatSchema,
} as const;

export type PolicyCollection = keyof typeof ITEM_SCHEMAS;

/**
 * Validate a change to a policy that was valid (incremental `parsePolicy`): `doc` is that policy
 * with one resource replaced, added (`changed`: its collection and index) or removed (no
 * `changed`). Only the changed resource goes through the schema, since the others passed it
 * before; the cross-object checks (linear in the policy's size) run over the whole document.
 * Errors and messages are those `parsePolicy` would give; on success, the normalised resource.
 */
export function parsePolicyChange(doc: Record<PolicyCollection, unknown[]>, changed?: { kind: PolicyCollection; index: number }): PolicyResult<unknown> {
  const errors: PolicyError[] = [];
  let resource: unknown;
  if (changed !== undefined) {
    const parsed = ITEM_SCHEMAS[changed.kind].safeParse(doc[changed.kind][changed.index]);
    if (parsed.success) resource = parsed.data;
    else for (const issue of parsed.error.issues) errors.push(...fromZodIssues([{ ...issue, path: [changed.kind, changed.index, ...issue.path] }]));
  }
  for (const error of semanticErrors(doc)) errors.push({ path: formatPath(error.path), message: error.message });
  if (errors.length > 0) return { ok: false, errors: ordered(errors) };
  return { ok: true, policy: resource };
}

/** Like `parsePolicy`, for callers that want an exception (tests, embedded defaults). */
export function policyOrThrow(input: unknown): Policy {
  const result = parsePolicy(input);
  if (!result.ok) throw new Error(`invalid policy:\n${result.errors.map((e) => `${e.path}: ${e.message}`).join('\n')}`);
  return result.policy;
}
