/**
 * Host-scoped API tokens. A token is `syh_<id>_<secret>`: the id (16 hex digits) names the row,
 * the secret (256 random bits, base64url) is stored only as its SHA-256 and compared in constant
 * time. Only `create` ever sees the secret; `list` shows ids, hosts and creation times. The
 * interface lets a distributed store keep tokens beside the policy (sqlite-token-store.ts is the
 * embedded one, in the policy store's SQLite file).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export interface TokenInfo {
  id: string;
  host: string;
  createdAt: string;
}

export interface TokenRecord extends TokenInfo {
  /** SHA-256 of the secret. */
  hash: Buffer;
}

export interface HostTokenStore {
  /** Store a new token for `host`; returns it (the only time the secret exists outside the caller). */
  create(host: string): { id: string; host: string; token: string };
  list(): TokenInfo[];
  /** Remove one token; false when there was none with this id. */
  revoke(id: string): boolean;
  find(id: string): TokenRecord | undefined;
  close(): void;
}

const TOKEN_FORMAT = /^syh_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;
/** A host name as the policy allows it, and nothing a shell or a URL would trip on. */
const HOST_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

export const sha256 = (text: string | Buffer): Buffer => createHash('sha256').update(text).digest();

export function checkHostName(host: string): void {
  if (!HOST_NAME.test(host)) throw new Error(`not a host name: ${JSON.stringify(host)} (letters, digits, '.', '_', '-'; at most 63)`);
}

/** A fresh token: its id, the full text to hand out, and the hash to store. */
export function newToken(): { id: string; token: string; hash: Buffer } {
  const id = randomBytes(8).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  return { id, token: `syh_${id}_${secret}`, hash: sha256(secret) };
}

/** The id and secret of a host token, or undefined when the text is not shaped like one. */
export function parseHostToken(token: string): { id: string; secret: string } | undefined {
  const match = TOKEN_FORMAT.exec(token);
  return match === null ? undefined : { id: match[1] as string, secret: match[2] as string };
}

/** Does `secret` hash to `record.hash`? (constant time) */
export function secretMatches(record: TokenRecord, secret: string): boolean {
  const hash = sha256(secret);
  return record.hash.length === hash.length && timingSafeEqual(record.hash, hash);
}
