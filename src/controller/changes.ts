/**
 * Checking one REST change against the policy: the candidate document is the stored policy with
 * this change applied (a PUT's resource placed last in its collection, so duplicate checks blame it
 * rather than the stored one), and it must pass `parsePolicyChange`: the same validation and
 * messages as a policy file, but only the changed resource goes through the schema (the stored
 * ones passed it when they were written). With a `ChangeScope` (the controller's, change-scope.ts)
 * the candidate holds only the stored resources the change can conflict with, so a PUT into a
 * 100,000-port policy checks a handful of resources; without one, the whole policy (the reference
 * the scoped check is tested against). Problem paths are then rewritten for REST: problems inside
 * the request body get body-relative paths ("subnets[0].vsid"); problems in other stored resources
 * get "kind/name.field" paths, and make the change a conflict (409) rather than a bad request (400).
 */
import type { PolicyKind } from '../agent/controller-sync-protocol.js';
import { ROOT_PATH } from '../policy/errors.js';
import type { PolicyError } from '../policy/errors.js';
import type { Policy } from '../policy/types.js';
import { parsePolicyChange } from '../policy/validate.js';
import type { Candidate, ChangeScope } from './change-scope.js';
import type { StoredResource } from './store.js';

/** The policy a change is checked against, and the store revision it is at. */
export interface PolicyAt {
  /** The whole policy (only read without a scope). */
  policy: Policy;
  revision: number;
  /** Indexes of the same policy that find what a change touches (change-scope.ts). */
  scope?: ChangeScope;
}

export interface ChangeProblem {
  ok: false;
  status: 400 | 404 | 409;
  code: string;
  message: string;
  errors: PolicyError[];
}

export type PutCheck = { ok: true; resource: StoredResource['resource']; baseRevision: number; existed: boolean } | ChangeProblem;
export type DeleteCheck = { ok: true; baseRevision: number } | ChangeProblem;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The resource inside a request body: the bare resource, or an envelope `{resourceId?, properties}`. */
export function unwrapBody(body: unknown): unknown {
  if (isRecord(body) && isRecord(body.properties)) {
    const resource: Record<string, unknown> = { ...body.properties };
    if (resource.name === undefined && typeof body.resourceId === 'string') resource.name = body.resourceId;
    return resource;
  }
  return body;
}

/** Rewrites candidate-document paths ("networkInterfaces[3].host") for a REST reply. */
class PathRewriter {
  constructor(
    private readonly candidate: Record<string, unknown[]>,
    private readonly target?: { kind: PolicyKind; index: number },
  ) {}

  private nameAt(kind: string, index: number): string {
    const item = this.candidate[kind]?.[index];
    return isRecord(item) && typeof item.name === 'string' ? item.name : `#${index}`;
  }

  inBody(path: string): boolean {
    return this.target !== undefined && this.strip(path) !== undefined;
  }

  private strip(path: string): string | undefined {
    if (this.target === undefined) return undefined;
    const prefix = `${this.target.kind}[${this.target.index}]`;
    if (path === prefix) return ROOT_PATH;
    if (path.startsWith(`${prefix}.`)) return path.slice(prefix.length + 1);
    if (path.startsWith(`${prefix}[`)) return path.slice(prefix.length);
    return undefined;
  }

  path(path: string): string {
    const relative = this.strip(path);
    if (relative !== undefined) return relative;
    const match = /^(\w+)\[(\d+)\](.*)$/.exec(path);
    if (match === null) return path;
    return `${match[1]}/${this.nameAt(match[1] as string, Number(match[2]))}${match[3]}`;
  }

  message(message: string): string {
    return message.replace(/\(also ([^)]+)\)/g, (_all, path: string) => `(also ${this.path(path)})`);
  }

  error(error: PolicyError): PolicyError {
    return { path: this.path(error.path), message: this.message(error.message) };
  }
}

/** The whole policy with the change applied (`resource` undefined: kind/id deleted). */
function wholeCandidate(policy: Policy, kind: PolicyKind, id: string, resource?: Record<string, unknown>): Candidate {
  const doc = { ...policy } as unknown as Record<PolicyKind, unknown[]>;
  const stored = (doc[kind] ?? []) as { name: string }[];
  const others = stored.filter((item) => item.name !== id);
  const existed = others.length !== stored.length;
  if (resource === undefined) {
    doc[kind] = others;
    return { doc, existed };
  }
  doc[kind] = [...others, resource];
  return { doc, target: { kind, index: others.length }, existed };
}

function candidateOf(current: PolicyAt, kind: PolicyKind, id: string, resource?: Record<string, unknown>): Candidate {
  return current.scope !== undefined ? current.scope.candidate(kind, id, resource) : wholeCandidate(current.policy, kind, id, resource);
}

/** Validate `PUT /{kind}/{id}` with `body` against the stored policy (`current`, e.g. the sync hub's). */
export function checkPut(current: PolicyAt, kind: PolicyKind, id: string, body: unknown): PutCheck {
  const baseRevision = current.revision;
  const raw = unwrapBody(body);
  if (!isRecord(raw)) {
    const got = raw === null ? 'null' : Array.isArray(raw) ? 'a list' : typeof raw;
    return { ok: false, status: 400, code: 'InvalidResource', message: 'the body is not a resource', errors: [{ path: ROOT_PATH, message: `expected an object, got ${got}` }] };
  }
  const resource: Record<string, unknown> = { ...raw };
  const mismatch: PolicyError[] = [];
  if (resource.name === undefined) resource.name = id;
  else if (resource.name !== id) mismatch.push({ path: 'name', message: `name ${JSON.stringify(resource.name)} does not match the id ${id} in the path` });

  const { doc: candidate, target, existed } = candidateOf(current, kind, id, resource);
  const result = parsePolicyChange(candidate, target);
  if (result.ok && mismatch.length === 0) {
    return { ok: true, resource: result.policy as StoredResource['resource'], baseRevision, existed };
  }
  const rewriter = new PathRewriter(candidate, target);
  const problems = result.ok ? [] : result.errors;
  const inBody = problems.some((error) => rewriter.inBody(error.path)) || mismatch.length > 0;
  const errors = [...mismatch, ...problems.map((error) => rewriter.error(error))];
  if (inBody) {
    return { ok: false, status: 400, code: 'InvalidResource', message: `${errors.length} problem${errors.length === 1 ? '' : 's'} in ${kind}/${id}`, errors };
  }
  return { ok: false, status: 409, code: 'Conflict', message: `${kind}/${id} as given would break resources that use it`, errors };
}

/** Validate `DELETE /{kind}/{id}`: it must exist and nothing may still refer to it. */
export function checkDelete(current: PolicyAt, kind: PolicyKind, id: string): DeleteCheck {
  const baseRevision = current.revision;
  const { doc: candidate, existed } = candidateOf(current, kind, id);
  if (!existed) return { ok: false, status: 404, code: 'NotFound', message: `${kind}/${id} not found`, errors: [] };
  const result = parsePolicyChange(candidate);
  if (result.ok) return { ok: true, baseRevision };
  const rewriter = new PathRewriter(candidate);
  return {
    ok: false,
    status: 409,
    code: 'InUse',
    message: `${kind}/${id} is still referenced`,
    errors: result.errors.map((error) => rewriter.error(error)),
  };
}
