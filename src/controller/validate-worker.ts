/**
 * A piscina task (validation-pool.ts): full validation of a whole policy document (a whole-policy
 * PUT), off the controller's event loop. The document comes as JSON text (one string to copy, not
 * a graph of 100,000 objects to clone) and each normalised resource goes back as its JSON text, so
 * the event loop only parses the resources that differ from the stored ones.
 */
import { POLICY_KINDS } from '../agent/controller-sync-protocol.js';
import type { PolicyKind } from '../agent/controller-sync-protocol.js';
import type { PolicyError } from '../policy/errors.js';
import { parsePolicy } from '../policy/validate.js';

/** Per kind, [name, JSON of the normalised resource] in document order. */
export type ResourceTexts = Record<PolicyKind, [string, string][]>;

export type PolicyVerdict = { ok: true; resources: ResourceTexts } | { ok: false; errors: PolicyError[] };

export default function validatePolicyText(text: string): PolicyVerdict {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (error) {
    return { ok: false, errors: [{ path: '(root)', message: `not JSON: ${(error as Error).message}` }] };
  }
  const result = parsePolicy(doc);
  if (!result.ok) return { ok: false, errors: result.errors };
  const resources = {} as ResourceTexts;
  for (const kind of POLICY_KINDS) {
    resources[kind] = ((result.policy[kind] ?? []) as { name: string }[]).map((item) => [item.name, JSON.stringify(item)]);
  }
  return { ok: true, resources };
}
