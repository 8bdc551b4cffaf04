// PUT /networking/v1/policy: the whole policy, fully validated (inline, or on the piscina worker
// thread), written as the resources that differ from the stored ones; an invalid document changes
// nothing and gets every problem by its path in the document.
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { figure8Policy } from '../../src/policy/figure8.js';
import { parsePolicy } from '../../src/policy/validate.js';
import type { Running } from './controller-fixture.js';
import { api, dumpStore, startController, tempDir } from './controller-fixture.js';

let tmp: ReturnType<typeof tempDir>;
let running: Running | undefined;

beforeEach(() => {
  tmp = tempDir();
});

afterEach(async () => {
  await running?.server.close();
  running = undefined;
  tmp.cleanup();
});

describe.each([
  ['inline', { pool: false }],
  ['on the worker thread', { inlineBelow: 0 }],
])('whole-policy PUT, validated %s', (how, validation) => {
  it('stores the policy, then writes only what differs', async () => {
    running = await startController(path.join(tmp.dir, 'store.db'), { validation });
    const client = api(running.url);
    const policy = figure8Policy();
    const first = await client.call('PUT', '/networking/v1/policy', policy);
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    const total = policy.hosts.length + policy.virtualNetworks.length + policy.networkInterfaces.length + policy.accessControlLists.length;
    expect(first.body).toEqual({ revision: total, changed: total });
    const stored = await client.get('networkInterfaces', policy.networkInterfaces[0]!.name);
    expect({ name: stored.body.resourceId, ...stored.body.properties }).toEqual((parsePolicy(policy) as { ok: true; policy: typeof policy }).policy.networkInterfaces[0]);

    expect((await client.call('PUT', '/networking/v1/policy', policy)).body).toEqual({ revision: total, changed: 0 });

    const [gone, changed, ...rest] = policy.networkInterfaces;
    const next = { ...policy, networkInterfaces: [{ ...changed!, ipAddress: '10.1.1.77' }, ...rest] };
    const third = await client.call('PUT', '/networking/v1/policy', next);
    expect(third.body).toEqual({ revision: total + 2, changed: 2 });
    expect((await client.get('networkInterfaces', gone!.name)).status).toBe(404);
    expect((await client.get('networkInterfaces', changed!.name)).body.properties.ipAddress).toBe('10.1.1.77');
    expect(running.server.validator.runs).toEqual(how === 'inline' ? { inline: 3, pool: 0 } : { inline: 0, pool: 3 });
  });

  it('If-Match: the revision the document was made from; 412 once the store has moved', async () => {
    running = await startController(path.join(tmp.dir, 'store.db'), { validation });
    const client = api(running.url);
    const policy = figure8Policy();
    expect((await client.call('PUT', '/networking/v1/policy', policy, { headers: { 'if-match': '"0"' } })).status).toBe(200);
    const revision = running.server.store.revision();
    const [, changed, ...rest] = policy.networkInterfaces;
    const next = { ...policy, networkInterfaces: [{ ...changed!, ipAddress: '10.1.1.77' }, ...rest] };
    const before = dumpStore(running.server);
    const stale = await client.call('PUT', '/networking/v1/policy', next, { headers: { 'if-match': `"${revision - 1}"` } });
    expect(stale.status).toBe(412);
    expect(stale.body.message).toContain(`at revision ${revision}, not ${revision - 1}`);
    expect((await client.call('PUT', '/networking/v1/policy', next, { headers: { 'if-match': 'abc' } })).status).toBe(400);
    expect(dumpStore(running.server)).toBe(before);
    expect((await client.call('PUT', '/networking/v1/policy', next, { headers: { 'if-match': `"${revision}"` } })).body).toEqual({ revision: revision + 2, changed: 2 });
  });

  it('refuses an invalid policy with every problem by path, and stores nothing', async () => {
    running = await startController(path.join(tmp.dir, 'store.db'), { validation });
    const client = api(running.url);
    const policy = figure8Policy();
    expect((await client.call('PUT', '/networking/v1/policy', policy)).status).toBe(200);
    const before = dumpStore(running.server);
    const [a, b, ...rest] = policy.networkInterfaces;
    const bad = { ...policy, networkInterfaces: [a, { ...b!, macAddress: a!.macAddress, host: 'nowhere' }, ...rest] };
    const reply = await client.call('PUT', '/networking/v1/policy', bad);
    expect(reply.status).toBe(400);
    expect(reply.body.code).toBe('InvalidPolicy');
    expect(reply.body.errors).toEqual((parsePolicy(bad) as { ok: false; errors: unknown[] }).errors);
    expect(reply.body.errors.map((e: { path: string }) => e.path)).toContain('networkInterfaces[1].host');
    expect(dumpStore(running.server)).toBe(before);
    expect((await client.call('PUT', '/networking/v1/policy', undefined, { raw: '{"hosts": [' })).status).toBe(400);
    expect(dumpStore(running.server)).toBe(before);
  });
});
