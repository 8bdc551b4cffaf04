/**
 * Test helpers for the controller: a real controller on 127.0.0.1 (port 0) over a SQLite file in
 * a temp dir, a small fetch wrapper, the Figure 8 resources, and a dump of the store to check that
 * rejected requests changed nothing.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { POLICY_KINDS } from '../../src/agent/controller-sync-protocol.js';
import { ControllerServer } from '../../src/controller/server.js';
import { readFileSync } from 'node:fs';
import { SqliteStore } from '../../src/controller/sqlite-store.js';
import { SqliteTokenStore } from '../../src/controller/sqlite-token-store.js';
import type { TestPki } from '../../src/lab/pki.js';
import type { SyncLimits } from '../../src/controller/sync-hub.js';
import type { PolicyValidatorOptions } from '../../src/controller/validation-pool.js';
import { figure8Policy } from '../../src/policy/figure8.js';

export const TOKEN = 'test-token-0123456789';

export function tempDir(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(path.join(tmpdir(), 'switchyard-controller-'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface Running {
  server: ControllerServer;
  url: string;
  port: number;
}

export interface StartOptions {
  port?: number;
  heartbeatMs?: number;
  bodyLimit?: number;
  maxBodyDepth?: number;
  sync?: SyncLimits;
  /** Serve HTTPS with this certificate. */
  tls?: TestPki;
  validation?: PolicyValidatorOptions;
}

export async function startController(storeFile: string, options: StartOptions = {}): Promise<Running> {
  const server = new ControllerServer({
    store: new SqliteStore(storeFile),
    tokens: new SqliteTokenStore(storeFile),
    token: TOKEN,
    ...(options.tls === undefined ? {} : { tls: { cert: readFileSync(options.tls.cert), key: readFileSync(options.tls.key) } }),
    heartbeatMs: options.heartbeatMs ?? 200,
    ...(options.bodyLimit === undefined ? {} : { bodyLimit: options.bodyLimit }),
    ...(options.maxBodyDepth === undefined ? {} : { maxBodyDepth: options.maxBodyDepth }),
    ...(options.sync === undefined ? {} : { sync: options.sync }),
    ...(options.validation === undefined ? {} : { validation: options.validation }),
  });
  const address = await server.listen('127.0.0.1', options.port ?? 0);
  return { server, url: address.url, port: address.port };
}

export interface ApiReply {
  status: number;
  headers: Headers;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

export function api(url: string) {
  const call = async (method: string, path: string, body?: unknown, options: { token?: string | null; headers?: Record<string, string>; raw?: string } = {}): Promise<ApiReply> => {
    const headers: Record<string, string> = { ...options.headers };
    const token = options.token === undefined ? TOKEN : options.token;
    if (token !== null) headers.authorization = `Bearer ${token}`;
    let payload: string | undefined = options.raw;
    if (body !== undefined) payload = JSON.stringify(body);
    if (payload !== undefined && headers['content-type'] === undefined) headers['content-type'] = 'application/json';
    const response = await fetch(`${url}${path}`, { method, headers, ...(payload === undefined ? {} : { body: payload }) });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON: keep the text
    }
    return { status: response.status, headers: response.headers, body: parsed };
  };
  return {
    call,
    put: (kind: string, id: string, body: unknown, options?: Parameters<typeof call>[3]) => call('PUT', `/networking/v1/${kind}/${id}`, body, options),
    get: (kind: string, id?: string, options?: Parameters<typeof call>[3]) => call('GET', `/networking/v1/${kind}${id === undefined ? '' : `/${id}`}`, undefined, options),
    del: (kind: string, id: string, options?: Parameters<typeof call>[3]) => call('DELETE', `/networking/v1/${kind}/${id}`, undefined, options),
  };
}

/** Put the whole Figure 8 policy (hosts, networks, interfaces) through the API. */
export async function seedFigure8(url: string): Promise<void> {
  const client = api(url);
  const policy = figure8Policy();
  for (const kind of ['accessControlLists', 'hosts', 'virtualNetworks', 'networkInterfaces'] as const) {
    for (const item of policy[kind]) {
      const reply = await client.put(kind, item.name, item);
      if (reply.status !== 201) throw new Error(`seed ${kind}/${item.name}: ${reply.status} ${JSON.stringify(reply.body)}`);
    }
  }
}

/** Everything the store holds, to compare before and after a rejected request. */
export function dumpStore(server: ControllerServer): string {
  const store = server.store;
  return JSON.stringify({ revision: store.revision(), resources: POLICY_KINDS.map((kind) => store.list(kind)) });
}

/** Resolve when `check` holds, polling; reject after `timeoutMs`. */
export async function eventually(check: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
