/**
 * Who may do what: every write needs `Authorization: Bearer <token>`; reads (GET, including the
 * agents' sync stream and /openapi.json) are open to loopback peers and need the token from
 * anywhere else. A missing token is 401 (with WWW-Authenticate), a wrong one 403. Tokens are
 * compared in constant time through their SHA-256.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

export type AuthDecision = { ok: true } | { ok: false; status: 401 | 403; message: string };

const digest = (text: string): Buffer => createHash('sha256').update(text).digest();

export function isLoopback(address: string | undefined): boolean {
  if (address === undefined) return false;
  return address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.');
}

export class TokenAuth {
  private readonly expected: Buffer;

  constructor(token: string) {
    if (token.trim() === '') throw new Error('the API token is empty');
    this.expected = digest(token.trim());
  }

  decide(method: string, authorization: string | undefined, remoteAddress: string | undefined): AuthDecision {
    const read = method === 'GET' || method === 'HEAD' || method === 'OPTIONS';
    if (read && isLoopback(remoteAddress)) return { ok: true };
    const match = authorization === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (match === null) {
      return { ok: false, status: 401, message: read ? 'reads from outside loopback need a bearer token' : 'writes need a bearer token' };
    }
    if (!timingSafeEqual(digest(match[1] as string), this.expected)) return { ok: false, status: 403, message: 'wrong token' };
    return { ok: true };
  }
}
