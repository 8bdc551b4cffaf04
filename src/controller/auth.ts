/**
 * Who may do what. Every request, reads included (there is no open loopback), carries
 * `Authorization: Bearer <token>`:
 * - the admin token (--token-file / SWITCHYARD_TOKEN) may do everything;
 * - a host token (`switchyard controller token create --host NAME`, token-store.ts) may only open
 *   its own host's sync stream (`GET /networking/v1/sync?host=NAME`), read its own host's view and
 *   state, and report its state (`PUT /networking/v1/hostStates/NAME`).
 * A missing or malformed header is 401 (with WWW-Authenticate), an unknown, revoked or wrong token
 * 403, a host token outside its scope 403. Secrets are compared in constant time through their
 * SHA-256 (the admin token's too, so its length does not leak).
 */
import { timingSafeEqual } from 'node:crypto';
import { SYNC_PATH } from '../agent/controller-sync-protocol.js';
import { API_PREFIX } from './envelope.js';
import { parseHostToken, secretMatches, sha256 } from './token-store.js';
import type { HostTokenStore } from './token-store.js';

export type Principal = { role: 'admin' } | { role: 'host'; host: string; tokenId: string };

export type AuthResult = { ok: true; principal: Principal } | { ok: false; status: 401 | 403; message: string };

/** What the scope check needs of a request: the route's pattern and what routing parsed. */
export interface RouteRequest {
  method: string;
  /** The route pattern, e.g. '/networking/v1/hostStates/:host' (undefined: no route matched). */
  route: string | undefined;
  params: Record<string, unknown>;
  query: Record<string, unknown>;
}

export const VIEW_ROUTE = `${API_PREFIX}/views/:host`;
export const HOST_STATE_ROUTE = `${API_PREFIX}/hostStates/:host`;

export class TokenAuth {
  private readonly admin: Buffer;

  constructor(
    adminToken: string,
    private readonly hostTokens?: HostTokenStore,
  ) {
    if (adminToken.trim() === '') throw new Error('the API token is empty');
    this.admin = sha256(adminToken.trim());
  }

  /** Who is asking (not yet whether they may). */
  authenticate(authorization: string | undefined): AuthResult {
    const match = authorization === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (match === null) return { ok: false, status: 401, message: 'every request needs a bearer token (Authorization: Bearer TOKEN)' };
    const token = match[1] as string;
    if (timingSafeEqual(sha256(token), this.admin)) return { ok: true, principal: { role: 'admin' } };
    const parts = parseHostToken(token);
    const record = parts === undefined ? undefined : this.hostTokens?.find(parts.id);
    if (parts === undefined || record === undefined || !secretMatches(record, parts.secret)) return { ok: false, status: 403, message: 'unknown, revoked or wrong token' };
    return { ok: true, principal: { role: 'host', host: record.host, tokenId: record.id } };
  }

  /** Authenticate and check the scope in one step. */
  decide(authorization: string | undefined, request: RouteRequest): AuthResult {
    const who = this.authenticate(authorization);
    if (!who.ok || who.principal.role === 'admin') return who;
    if (hostMayAccess(who.principal.host, request)) return who;
    return { ok: false, status: 403, message: `a host token (host ${who.principal.host}) may only sync, read and report that host's own view` };
  }

  /** Is the host token `id` still there? (open streams are ended when it is revoked) */
  stillValid(principal: Principal): boolean {
    return principal.role === 'admin' || this.hostTokens?.find(principal.tokenId) !== undefined;
  }
}

/** The routes a host token may use, each only for its own host. */
export function hostMayAccess(host: string, request: RouteRequest): boolean {
  const own = (value: unknown): boolean => value === host;
  switch (`${request.method} ${request.route ?? ''}`) {
    case `GET ${SYNC_PATH}`:
      return own(request.query.host);
    case `GET ${VIEW_ROUTE}`:
    case `GET ${HOST_STATE_ROUTE}`:
    case `PUT ${HOST_STATE_ROUTE}`:
      return own(request.params.host);
    default:
      return false;
  }
}
