/**
 * `parsePolicy`: the one door every policy passes through (file, REST body, CLI). It reports every
 * problem — schema errors and cross-reference errors together — in document order.
 */
import { ROOT_PATH, fromZodIssues, formatPath } from './errors.js';
import type { PolicyError, PolicyResult } from './errors.js';
import { PolicySchema } from './schema.js';
import { semanticErrors } from './semantic.js';
import { suggestMisspelt } from './suggest.js';
import type { Policy } from './types.js';

const COLLECTIONS = ['hosts', 'virtualNetworks', 'networkInterfaces', 'accessControlLists'];

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

/** Validate a raw document (parsed YAML/JSON or a REST body); on success the normalised Policy. */
export function parsePolicy(input: unknown): PolicyResult<Policy> {
  const parsed = PolicySchema.safeParse(input);
  const errors: PolicyError[] = parsed.success ? [] : fromZodIssues(parsed.error.issues);
  for (const error of semanticErrors(input)) errors.push({ path: formatPath(error.path), message: error.message });
  if (errors.length > 0 || !parsed.success) {
    const keyed = errors.map((error) => ({ error, key: orderKey(error.path) }));
    keyed.sort((a, b) => compareKeys(a.key, b.key));
    return { ok: false, errors: suggestMisspelt(keyed.map(({ error }) => error)) };
  }
  return { ok: true, policy: parsed.data };
}

/** Like `parsePolicy`, for callers that want an exception (tests, embedded defaults). */
export function policyOrThrow(input: unknown): Policy {
  const result = parsePolicy(input);
  if (!result.ok) throw new Error(`invalid policy:\n${result.errors.map((e) => `${e.path}: ${e.message}`).join('\n')}`);
  return result.policy;
}
