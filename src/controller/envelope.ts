/**
 * How resources look on the REST API, after the Network Controller's envelope:
 *   { resourceId, resourceRef, etag, revision, provisioningState: "Succeeded", properties }
 * where `properties` is the policy-schema resource without its `name` (that is `resourceId`).
 * Lists are `{ value: [envelope...], revision }`; errors are `{ code, message, errors: [{path, message}] }`.
 * A PUT body may be the bare resource (as in a policy file) or such an envelope.
 */
import type { PolicyKind } from '../agent/controller-sync-protocol.js';
import type { PolicyError } from '../policy/errors.js';
import type { StoredResource } from './store.js';

export const API_PREFIX = '/networking/v1';

export interface ResourceEnvelope {
  resourceId: string;
  resourceRef: string;
  etag: string;
  revision: number;
  provisioningState: 'Succeeded';
  properties: Record<string, unknown>;
}

export interface ErrorBody {
  code: string;
  message: string;
  errors: PolicyError[];
}

export function envelope(kind: PolicyKind, item: StoredResource): ResourceEnvelope {
  const { name, ...properties } = item.resource;
  return { resourceId: name, resourceRef: `/${kind}/${name}`, etag: item.etag, revision: item.revision, provisioningState: 'Succeeded', properties };
}

/** The policy-schema resource back from an envelope (name restored). */
export function resourceOf(env: ResourceEnvelope): Record<string, unknown> {
  return { name: env.resourceId, ...env.properties };
}

export function errorBody(code: string, message: string, errors: PolicyError[] = []): ErrorBody {
  return { code, message, errors };
}
