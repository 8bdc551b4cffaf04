/**
 * One JSON request to the controller over HTTPS (verified against `ca` when given, else the
 * system's roots) or plain HTTP (only when the URL says http://, which a controller serves only
 * with --insecure-http). Used by the agent's state reports and by `ctl`; the sync stream has its
 * own long-lived request (controller-sync.ts) with the same TLS settings (`tlsOptions`).
 * Certificate problems are turned into a message that names the fix.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';

export interface ControllerHttpOptions {
  /** CA certificate(s) (PEM) that sign the controller's certificate. */
  ca?: string | Buffer;
  /** Bearer token. */
  token?: string;
  /** Give up after this long (default 15000 ms). */
  timeoutMs?: number;
  /** Abort the request (e.g. the agent is stopping). */
  signal?: AbortSignal;
  /** More request headers (e.g. If-Match). */
  headers?: Record<string, string>;
}

export interface ControllerReply {
  status: number;
  text: string;
}

const TLS_CODES = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** A connection error as a sentence; certificate failures say how to give the CA. */
export function describeConnectError(error: Error & { code?: string }): string {
  if (error.code !== undefined && TLS_CODES.has(error.code)) {
    return `the controller's certificate was not accepted (${error.message}); give the CA that signed it with --ca-file FILE or SWITCHYARD_CA=FILE`;
  }
  if (error.code === 'EPROTO' || /wrong version number|packet length too long/i.test(error.message)) {
    return `TLS handshake failed (${error.message}): is the URL's scheme right (https:// for a controller with --tls-cert, http:// only with --insecure-http)?`;
  }
  return error.message;
}

/** The CA file: --ca-file, else SWITCHYARD_CA (a path); undefined: the system's roots. */
export function readCa(caFile: string | undefined): Buffer | undefined {
  const file = caFile ?? (process.env.SWITCHYARD_CA?.trim() || undefined);
  if (file === undefined) return undefined;
  try {
    return readFileSync(file);
  } catch (error) {
    throw new Error(`cannot read the CA file ${file}${caFile === undefined ? ' (SWITCHYARD_CA)' : ''}: ${(error as Error).message}`, { cause: error });
  }
}

/** Options for an https request of ours (empty for http). */
export function tlsOptions(url: URL, ca: string | Buffer | undefined): https.RequestOptions {
  return url.protocol === 'https:' && ca !== undefined ? { ca } : {};
}

/** Send one request; resolves with any HTTP status, rejects only when no answer came. */
export function controllerRequest(url: URL, method: string, body: unknown, options: ControllerHttpOptions = {}): Promise<ControllerReply> {
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return Promise.reject(new Error(`not an http(s) URL: ${url.href}`));
  const headers: Record<string, string> = { accept: 'application/json', ...options.headers };
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  if (payload !== undefined) {
    headers['content-type'] = 'application/json';
    headers['content-length'] = String(payload.length);
  }
  const client = url.protocol === 'https:' ? https : http;
  const timeoutMs = options.timeoutMs ?? 15_000;
  return new Promise((resolve, reject) => {
    const request = client.request(url, { method, headers, ...tlsOptions(url, options.ca), timeout: timeoutMs, ...(options.signal === undefined ? {} : { signal: options.signal }) });
    request.on('timeout', () => request.destroy(new Error(`no answer from ${url.origin} in ${timeoutMs} ms`)));
    request.on('error', (error) => reject(new Error(describeConnectError(error), { cause: error })));
    request.on('response', (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      response.on('error', reject);
    });
    request.end(payload);
  });
}
