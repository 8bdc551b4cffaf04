// The controller over HTTPS with a CA and certificate made by the test: agents' sync streams and
// ctl verify it (--ca-file / SWITCHYARD_CA) and refuse it without the CA; every request needs a
// token; host tokens (stored hashed) reach only their own host's sync, view and state; revoking one
// ends its stream; the agent's reports of applied and refused views show in `ctl get hosts`.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { controllerRequest } from '../../src/agent/controller-http.js';
import { ControllerSync } from '../../src/agent/controller-sync.js';
import { ctlGet } from '../../src/cli/apply-cmd.js';
import { transportProblem } from '../../src/cli/controller-cmd.js';
import { tokenCreate, tokenList, tokenRevoke } from '../../src/cli/token-cmd.js';
import { hostMayAccess } from '../../src/controller/auth.js';
import { makeTestPki } from '../../src/lab/pki.js';
import type { TestPki } from '../../src/lab/pki.js';
import type { Running } from './controller-fixture.js';
import { TOKEN, eventually, seedFigure8, startController, tempDir } from './controller-fixture.js';

let pkiDir: ReturnType<typeof tempDir>;
let pki: TestPki;
let ca: Buffer;
let tmp: ReturnType<typeof tempDir>;
let storeFile: string;
let running: Running;
const syncs: ControllerSync[] = [];

beforeAll(() => {
  pkiDir = tempDir();
  pki = makeTestPki(pkiDir.dir);
  ca = readFileSync(pki.caCert);
});
afterAll(() => pkiDir.cleanup());

beforeEach(async () => {
  tmp = tempDir();
  storeFile = path.join(tmp.dir, 'store.db');
  running = await startController(storeFile, { tls: pki, heartbeatMs: 100 });
  await seedFigure8Tls();
});

afterEach(async () => {
  for (const sync of syncs.splice(0)) await sync.stop();
  await running.server.close().catch(() => undefined);
  tmp.cleanup();
});

/** seedFigure8 speaks plain fetch; over HTTPS with our CA the same PUTs go through controllerRequest. */
async function seedFigure8Tls(): Promise<void> {
  const original = globalThis.fetch;
  globalThis.fetch = (async (input: string | URL, init?: RequestInit) => {
    const reply = await controllerRequest(new URL(String(input)), init?.method ?? 'GET', init?.body === undefined ? undefined : JSON.parse(String(init.body)), { ca, token: TOKEN });
    return new Response(reply.text, { status: reply.status });
  }) as typeof fetch;
  try {
    await seedFigure8(running.url);
  } finally {
    globalThis.fetch = original;
  }
}

async function call(method: string, target: string, token: string | undefined, body?: unknown): Promise<{ status: number; body: any }> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const reply = await controllerRequest(new URL(target, running.url), method, body, { ca, ...(token === undefined ? {} : { token }) });
  let parsed: unknown = reply.text;
  try {
    parsed = JSON.parse(reply.text);
  } catch {
    // a stream's first line only, or not JSON
  }
  return { status: reply.status, body: parsed };
}

/** Status and first line of a sync stream (closed after it). */
function syncHead(host: string, token: string): Promise<{ status: number; line: string }> {
  return new Promise((resolve, reject) => {
    const request = https.get(new URL(`/networking/v1/sync?host=${host}`, running.url), { ca, headers: { authorization: `Bearer ${token}` } }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        text += chunk;
        if (response.statusCode === 200 && text.includes('\n')) {
          request.destroy();
          resolve({ status: 200, line: text.slice(0, text.indexOf('\n')) });
        }
      });
      response.on('end', () => resolve({ status: response.statusCode ?? 0, line: text }));
    });
    request.on('error', reject);
  });
}

function hostToken(host: string): { id: string; token: string } {
  const out: string[] = [];
  expect(tokenCreate({ store: storeFile, host, json: true }, { out: (t) => out.push(t), err: () => undefined })).toBe(0);
  return JSON.parse(out[0] as string) as { id: string; token: string };
}

function agent(host: string, token: string, options: { ca?: Buffer | undefined } = { ca }): ControllerSync {
  const sync = new ControllerSync({ controller: running.url, host, token, ...(options.ca === undefined ? {} : { ca: options.ca }), cacheFile: path.join(tmp.dir, `${host}.cache.json`), minBackoffMs: 20, maxBackoffMs: 100 });
  syncs.push(sync);
  return sync;
}

describe('TLS', () => {
  it('serves HTTPS only; the sync stream and ctl verify the certificate against the CA', async () => {
    expect(running.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    // plain HTTP to the same port gets no answer in cleartext
    const plain = await new Promise<string>((resolve) => {
      const request = http.get(running.url.replace('https:', 'http:') + '/networking/v1', { headers: { authorization: `Bearer ${TOKEN}` } }, (response) => resolve(`answered ${response.statusCode}`));
      request.on('error', (error) => resolve(`error ${error.message}`));
    });
    expect(plain).not.toMatch(/answered 2/);

    const views: number[] = [];
    const sync = agent('host1', TOKEN);
    sync.on('policy', (_policy, revision) => views.push(revision));
    await sync.start();
    await eventually(() => views.length === 1, 10_000, 'the snapshot over TLS');

    const tokenFile = path.join(tmp.dir, 'admin.token');
    writeFileSync(tokenFile, `${TOKEN}\n`);
    const out: string[] = [];
    const io = { out: (t: string) => out.push(t), err: (t: string) => out.push(t) };
    expect(await ctlGet({ controller: running.url, tokenFile, caFile: pki.caCert, kind: 'nics' }, io)).toBe(0);
    expect(out.join('\n')).toContain('contoso-sql');
    // the CA from the environment
    process.env.SWITCHYARD_CA = pki.caCert;
    try {
      expect(await ctlGet({ controller: running.url, tokenFile, kind: 'hosts' }, io)).toBe(0);
    } finally {
      delete process.env.SWITCHYARD_CA;
    }
  });

  it('without the CA the certificate is refused, with a message that says how to give it', async () => {
    const tokenFile = path.join(tmp.dir, 'admin.token');
    writeFileSync(tokenFile, `${TOKEN}\n`);
    await expect(ctlGet({ controller: running.url, tokenFile, kind: 'hosts' }, { out: () => undefined, err: () => undefined })).rejects.toThrow(/--ca-file FILE or SWITCHYARD_CA/);
    const errors: string[] = [];
    const sync = agent('host1', TOKEN, {});
    sync.on('error', (error) => errors.push(error.message));
    sync.on('disconnected', (reason) => errors.push(reason));
    const views: number[] = [];
    sync.on('policy', (_p, revision) => views.push(revision));
    const logged: string[] = [];
    (sync as unknown as { options: { log: unknown } }).options.log = { info: (o: { reason?: string }) => logged.push(o.reason ?? ''), warn: () => undefined };
    await sync.start();
    await eventually(() => logged.some((reason) => /certificate was not accepted.*--ca-file/.test(reason)), 10_000, 'the refusal');
    expect(views).toEqual([]);
  });

  it('the controller command: HTTPS unless --insecure-http; never both; both certificate options or none', () => {
    expect(transportProblem({})).toMatch(/--tls-cert FILE --tls-key FILE.*or --insecure-http/);
    expect(transportProblem({ tlsCert: 'c' })).toMatch(/both --tls-cert FILE and --tls-key FILE/);
    expect(transportProblem({ tlsKey: 'k' })).toMatch(/both/);
    expect(transportProblem({ tlsCert: 'c', tlsKey: 'k', insecureHttp: true })).toMatch(/exclude each other/);
    expect(transportProblem({ tlsCert: 'c', tlsKey: 'k' })).toBeUndefined();
    expect(transportProblem({ insecureHttp: true })).toBeUndefined();
  });
});

describe('host tokens', () => {
  it('a host token syncs, reads and reports only its own host; every other request is 403', async () => {
    const { token } = hostToken('host1');
    expect(token).toMatch(/^syh_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    const own = await syncHead('host1', token);
    expect(own.status).toBe(200);
    expect(JSON.parse(own.line)).toMatchObject({ type: 'snapshot', host: 'host1' });
    expect((await syncHead('host2', token)).status).toBe(403);
    const view = await call('GET', '/networking/v1/views/host1', token);
    expect(view.status).toBe(200);
    expect(view.body.policy.networkInterfaces.map((n: { name: string }) => n.name)).toContain('contoso-sql');
    expect((await call('GET', '/networking/v1/views/host2', token)).status).toBe(403);
    expect((await call('PUT', '/networking/v1/hostStates/host1', token, { provisioningState: 'Succeeded', revision: 1 })).status).toBe(200);
    expect((await call('GET', '/networking/v1/hostStates/host1', token)).body).toMatchObject({ provisioningState: 'Succeeded', revision: 1 });
    expect((await call('PUT', '/networking/v1/hostStates/host2', token, { provisioningState: 'Succeeded', revision: 1 })).status).toBe(403);
    // writes and every other read
    const revision = running.server.store.revision();
    expect((await call('PUT', '/networking/v1/hosts/host9', token, { providerAddresses: ['192.168.9.9'] })).status).toBe(403);
    expect((await call('PUT', '/networking/v1/hosts/host1', token, { providerAddresses: ['192.168.9.9'] })).status).toBe(403);
    expect((await call('DELETE', '/networking/v1/networkInterfaces/contoso-sql', token)).status).toBe(403);
    expect((await call('GET', '/networking/v1/hosts', token)).status).toBe(403);
    expect((await call('GET', '/networking/v1/hosts/host1', token)).status).toBe(403);
    expect((await call('GET', '/networking/v1/hostStates', token)).status).toBe(403);
    expect((await call('GET', '/openapi.json', token)).status).toBe(403);
    expect((await call('GET', '/networking/v1', token)).status).toBe(403);
    expect(running.server.store.revision()).toBe(revision);
    // the admin token does everything
    expect((await syncHead('host2', TOKEN)).status).toBe(200);
    expect((await call('GET', '/networking/v1/hostStates', TOKEN)).status).toBe(200);
    expect((await call('PUT', '/networking/v1/hosts/host9', TOKEN, { providerAddresses: ['192.168.9.9'] })).status).toBe(201);
  });

  it('tampered, unknown and malformed tokens are 403; a missing one 401', async () => {
    const { token } = hostToken('host1');
    const flipped = token.slice(0, -1) + (token.endsWith('A') ? 'B' : 'A');
    expect((await syncHead('host1', flipped)).status).toBe(403);
    expect((await syncHead('host1', `syh_0000000000000000_${token.slice(-43)}`)).status).toBe(403);
    expect((await syncHead('host1', 'syh_short')).status).toBe(403);
    expect((await call('GET', '/networking/v1/views/host1', undefined)).status).toBe(401);
  });

  it('stored hashed; list shows no secret; revoke refuses the token and ends its open stream', async () => {
    const { id, token } = hostToken('host2');
    const secret = token.slice(-43);
    const bytes = readFileSync(storeFile).toString('latin1') + (existsSync(`${storeFile}-wal`) ? readFileSync(`${storeFile}-wal`).toString('latin1') : '');
    expect(bytes).toContain(id);
    expect(bytes).not.toContain(secret);
    const listed: string[] = [];
    expect(tokenList({ store: storeFile, json: true }, { out: (t) => listed.push(t), err: () => undefined })).toBe(0);
    expect(JSON.parse(listed[0] as string)).toEqual([{ id, host: 'host2', createdAt: expect.any(String) }]);
    expect(listed[0]).not.toContain(secret);

    const disconnected: string[] = [];
    const sync = agent('host2', token);
    sync.on('disconnected', (reason) => disconnected.push(reason));
    const views: number[] = [];
    sync.on('policy', (_p, revision) => views.push(revision));
    await sync.start();
    await eventually(() => views.length === 1 && sync.connected, 10_000, 'the host token stream');

    expect(tokenRevoke({ store: storeFile, id }, { out: () => undefined, err: () => undefined })).toBe(0);
    expect(tokenRevoke({ store: storeFile, id }, { out: () => undefined, err: () => undefined })).toBe(1);
    await eventually(() => disconnected.length > 0, 10_000, 'the stream of the revoked token to end');
    expect(running.server.hub.stats().revoked).toBe(1);
    expect((await syncHead('host2', token)).status).toBe(403);
    expect(tokenCreate({ store: storeFile, host: 'bad host;rm' }, { out: () => undefined, err: () => undefined })).toBe(2);
  });

  it('scope rules as a table', () => {
    const req = (method: string, route: string | undefined, params: Record<string, unknown> = {}, query: Record<string, unknown> = {}) => ({ method, route, params, query });
    expect(hostMayAccess('h1', req('GET', '/networking/v1/sync', {}, { host: 'h1' }))).toBe(true);
    expect(hostMayAccess('h1', req('GET', '/networking/v1/sync', {}, { host: ['h1', 'h2'] }))).toBe(false);
    expect(hostMayAccess('h1', req('GET', '/networking/v1/sync', {}, {}))).toBe(false);
    expect(hostMayAccess('h1', req('HEAD', '/networking/v1/sync', {}, { host: 'h1' }))).toBe(false);
    expect(hostMayAccess('h1', req('DELETE', '/networking/v1/hostStates/:host', { host: 'h1' }))).toBe(false);
    expect(hostMayAccess('h1', req('GET', undefined))).toBe(false);
  });
});

describe('truthful state', () => {
  it('a refused view is reported Failed and not cached; the next revision is tried, applied, cached and reported', async () => {
    const { token } = hostToken('host1');
    const cacheFile = path.join(tmp.dir, 'host1.cache.json');
    const sync = agent('host1', token);
    let refuseNext = true;
    const views: number[] = [];
    sync.on('policy', (_policy, revision) => {
      views.push(revision);
      if (refuseNext) sync.refused(revision, 'dataplane said no: too many ports');
      else sync.accepted(revision);
    });
    await sync.start();
    await eventually(() => views.length === 1, 10_000, 'the first view');
    const first = views[0] as number;
    await eventually(() => running.server.hostStates.get('host1')?.provisioningState === 'Failed', 10_000, 'the Failed report');
    expect(running.server.hostStates.get('host1')).toMatchObject({ revision: first, error: 'dataplane said no: too many ports' });
    await new Promise((r) => setTimeout(r, 200));
    expect(existsSync(cacheFile)).toBe(false);

    const tokenFile = path.join(tmp.dir, 'admin.token');
    writeFileSync(tokenFile, `${TOKEN}\n`);
    const out: string[] = [];
    const io = { out: (t: string) => out.push(t), err: (t: string) => out.push(t) };
    expect(await ctlGet({ controller: running.url, tokenFile, caFile: pki.caCert, kind: 'hosts' }, io)).toBe(0);
    const row = (out[0] as string).split('\n').find((line) => line.startsWith('host1 ')) as string;
    expect(out[0]).toMatch(/^NAME\s+PROVIDER-ADDRESSES\s+REVISION\s+STATE\s+APPLIED\s+CONNECTED\s+ERROR$/m);
    expect(row).toMatch(new RegExp(`Failed\\s+${first}\\s+yes\\s+dataplane said no`));

    refuseNext = false;
    const change = await call('PUT', '/networking/v1/networkInterfaces/contoso-sql', TOKEN, {
      host: 'host1', virtualNetwork: 'contoso', subnet: 's1', macAddress: '02:00:00:00:00:11', ipAddress: '10.1.1.21',
    });
    expect(change.status, JSON.stringify(change.body)).toBe(200);
    await eventually(() => running.server.hostStates.get('host1')?.provisioningState === 'Succeeded', 10_000, 'the Succeeded report');
    expect(running.server.hostStates.get('host1')?.revision).toBe(change.body.revision);
    await eventually(() => existsSync(cacheFile), 5000, 'the cache of the applied view');
    expect(JSON.parse(readFileSync(cacheFile, 'utf8')).revision).toBe(change.body.revision);
    out.length = 0;
    expect(await ctlGet({ controller: running.url, tokenFile, caFile: pki.caCert, kind: 'hosts' }, io)).toBe(0);
    expect(out[0]).toMatch(new RegExp(`host1 .*Succeeded\\s+${change.body.revision}\\s+yes`));
    expect(out[0]).toMatch(/host2 .*Unknown\s+-\s+no/);
  });

  it('a restarted controller learns the state again when the agent reconnects', async () => {
    const { token } = hostToken('host2');
    const sync = agent('host2', token);
    sync.on('policy', (_policy, revision) => sync.accepted(revision));
    const reported: number[] = [];
    sync.on('reported', (outcome) => reported.push(outcome.revision));
    await sync.start();
    await eventually(() => reported.length === 1, 10_000, 'the first report');
    await running.server.crash();
    running = await startController(storeFile, { tls: pki, heartbeatMs: 100, port: running.port });
    expect(running.server.hostStates.get('host2')).toBeUndefined();
    await eventually(() => running.server.hostStates.get('host2')?.provisioningState === 'Succeeded', 10_000, 'the state after the restart');
  });

  it('a bad report is 400 with the field named', async () => {
    const bad = await call('PUT', '/networking/v1/hostStates/host1', TOKEN, { provisioningState: 'Failed', revision: -1, extra: 1 });
    expect(bad.status).toBe(400);
    expect(bad.body.errors.map((e: { path: string }) => e.path).sort()).toEqual(['error', 'extra', 'revision']);
  });
});
