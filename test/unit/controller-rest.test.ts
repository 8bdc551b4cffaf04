// The controller's REST API over real HTTP on 127.0.0.1: CRUD of every kind, every bad-input case
// (each with the store checked unchanged afterwards), auth (scopes in controller-auth.test.ts), etags, OpenAPI, restart persistence.
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ApiReply, Running } from './controller-fixture.js';
import { api, dumpStore, seedFigure8, startController, tempDir } from './controller-fixture.js';

let tmp: ReturnType<typeof tempDir>;
let running: Running;
let client: ReturnType<typeof api>;
let storeFile: string;

beforeEach(async () => {
  tmp = tempDir();
  storeFile = path.join(tmp.dir, 'store.db');
  running = await startController(storeFile, { bodyLimit: 64 * 1024 });
  client = api(running.url);
  await seedFigure8(running.url);
});

afterEach(async () => {
  await running.server.close();
  tmp.cleanup();
});

/** Run a request that must be refused with `status`; the store must not change. */
async function rejected(status: number, request: () => Promise<ApiReply>): Promise<ApiReply> {
  const before = dumpStore(running.server);
  const reply = await request();
  expect(reply.status, JSON.stringify(reply.body)).toBe(status);
  expect(dumpStore(running.server)).toBe(before);
  return reply;
}

const nic = (overrides: Record<string, unknown> = {}) => ({
  name: 'contoso-app',
  host: 'host1',
  virtualNetwork: 'contoso',
  subnet: 's1',
  macAddress: '02:00:00:00:50:13',
  ipAddress: '10.1.1.13',
  ...overrides,
});

describe('CRUD of each kind', () => {
  it('hosts: create, get, list, replace, delete', async () => {
    const created = await client.put('hosts', 'host3', { name: 'host3', providerAddresses: ['192.168.3.30'] });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ resourceId: 'host3', resourceRef: '/hosts/host3', provisioningState: 'Succeeded', properties: { providerAddresses: ['192.168.3.30'] } });
    expect(created.headers.get('etag')).toBe(created.body.etag);
    const one = await client.get('hosts', 'host3');
    expect(one.status).toBe(200);
    expect(one.body.etag).toBe(created.body.etag);
    const list = await client.get('hosts');
    expect(list.body.value.map((h: { resourceId: string }) => h.resourceId)).toEqual(['host1', 'host2', 'host3']);
    const replaced = await client.put('hosts', 'host3', { providerAddresses: ['192.168.3.31', '192.168.3.32'] });
    expect(replaced.status).toBe(200);
    expect(replaced.body.etag).not.toBe(created.body.etag);
    expect(replaced.body.properties.providerAddresses).toEqual(['192.168.3.31', '192.168.3.32']);
    expect((await client.del('hosts', 'host3')).status).toBe(200);
    expect((await client.get('hosts', 'host3')).status).toBe(404);
  });

  it('virtualNetworks with subnets: create, get, replace, delete', async () => {
    const vnet = { name: 'tailspin', addressPrefixes: ['10.9.0.0/16'], subnets: [{ name: 'a', vsid: 7001, addressPrefix: '10.9.1.0/24' }] };
    const created = await client.put('virtualNetworks', 'tailspin', vnet);
    expect(created.status).toBe(201);
    // Defaults filled by the one schema.
    expect(created.body.properties.subnets[0]).toMatchObject({ encapsulation: 'vxlan', nvgreFlowId: 0 });
    const replaced = await client.put('virtualNetworks', 'tailspin', { ...vnet, subnets: [...vnet.subnets, { name: 'b', vsid: 7002, addressPrefix: '10.9.2.0/24', encapsulation: 'NVGRE' }] });
    expect(replaced.status).toBe(200);
    expect(replaced.body.properties.subnets[1]).toMatchObject({ name: 'b', encapsulation: 'nvgre' });
    expect((await client.get('virtualNetworks')).body.value).toHaveLength(3);
    expect((await client.del('virtualNetworks', 'tailspin')).status).toBe(200);
    expect((await client.get('virtualNetworks', 'tailspin')).status).toBe(404);
  });

  it('networkInterfaces: create (name from the path), get, replace, delete', async () => {
    const { name: _name, ...body } = nic({ macAddress: '02:00:00:00:50:AB' });
    const created = await client.put('networkInterfaces', 'contoso-app', body);
    expect(created.status).toBe(201);
    expect(created.body.properties.macAddress).toBe('02:00:00:00:50:ab');
    const replaced = await client.put('networkInterfaces', 'contoso-app', nic({ ipAddress: '10.1.1.14' }));
    expect(replaced.status).toBe(200);
    expect((await client.get('networkInterfaces', 'contoso-app')).body.properties.ipAddress).toBe('10.1.1.14');
    expect((await client.del('networkInterfaces', 'contoso-app')).status).toBe(200);
    expect((await client.get('networkInterfaces')).body.value).toHaveLength(4);
  });

  it('accessControlLists: create, reference, replace, delete', async () => {
    const acl = {
      name: 'web-in',
      aclRules: [{ name: 'http', protocol: 'tcp', sourceAddressPrefix: '*', destinationAddressPrefix: '10.1.1.12', sourcePortRange: '*', destinationPortRange: 80, action: 'allow', type: 'inbound', priority: 100 }],
    };
    const created = await client.put('accessControlLists', 'web-in', acl);
    expect(created.status).toBe(201);
    expect(created.body.properties.aclRules[0]).toMatchObject({ protocol: 'TCP', destinationAddressPrefix: '10.1.1.12/32', destinationPortRange: '80', action: 'Allow', type: 'Inbound' });
    const web = (await client.get('networkInterfaces', 'contoso-web')).body;
    expect((await client.put('networkInterfaces', 'contoso-web', { ...web.properties, accessControlList: 'web-in' })).status).toBe(200);
    expect((await client.put('accessControlLists', 'web-in', { ...acl, aclRules: [] })).status).toBe(200);
    await rejected(409, () => client.del('accessControlLists', 'web-in'));
    expect((await client.put('networkInterfaces', 'contoso-web', web.properties)).status).toBe(200);
    expect((await client.del('accessControlLists', 'web-in')).status).toBe(200);
  });

  it('accepts an envelope as the body (GET, edit, PUT round trip)', async () => {
    const got = (await client.get('hosts', 'host2')).body;
    got.properties.providerAddresses = ['192.168.2.21'];
    const put = await client.put('hosts', 'host2', got);
    expect(put.status).toBe(200);
    expect(put.body.properties.providerAddresses).toEqual(['192.168.2.21']);
  });

  it('If-Match and If-None-Match', async () => {
    const etag = (await client.get('hosts', 'host1')).body.etag as string;
    await rejected(412, () => client.put('hosts', 'host1', { providerAddresses: ['192.168.1.11'] }, { headers: { 'if-match': '"999"' } }));
    await rejected(412, () => client.put('hosts', 'host1', { providerAddresses: ['192.168.1.11'] }, { headers: { 'if-none-match': '*' } }));
    await rejected(412, () => client.del('hosts', 'host1', { headers: { 'if-match': '"999"' } }));
    expect((await client.put('hosts', 'host1', { providerAddresses: ['192.168.1.11'] }, { headers: { 'if-match': etag } })).status).toBe(200);
  });

  it('serves the OpenAPI document and the revision', async () => {
    const doc = await client.call('GET', '/openapi.json');
    expect(doc.status).toBe(200);
    expect(doc.body.openapi).toBe('3.1.0');
    expect(Object.keys(doc.body.paths)).toContain('/networking/v1/networkInterfaces/{id}');
    expect(doc.body.components.schemas.NetworkInterface.required).toContain('macAddress');
    expect((await client.call('GET', '/networking/v1')).body.revision).toBe(running.server.store.revision());
  });
});

describe('bad input: refused, store unchanged', () => {
  it('a body with several problems: 400 listing every one by field path', async () => {
    const reply = await rejected(400, () =>
      client.put('networkInterfaces', 'contoso-app', nic({ macAddress: '01:00:5e:00:00:01', ipAddress: '10.2.0.5', host: 'host9', colour: 'blue' })),
    );
    expect(reply.body.code).toBe('InvalidResource');
    const problems = (reply.body.errors as { path: string; message: string }[]).map((e) => `${e.path}: ${e.message}`);
    expect(problems).toEqual(
      expect.arrayContaining([
        'colour: unknown field',
        'macAddress: not a unicast MAC: 01:00:5e:00:00:01',
        'host: unknown host host9',
        'ipAddress: address 10.2.0.5 outside subnet s1 (10.1.1.0/24)',
      ]),
    );
    expect(problems).toHaveLength(4);
  });

  it('nested paths and duplicates name the other resource', async () => {
    const vnet = await rejected(400, () =>
      client.put('virtualNetworks', 'tailspin', { addressPrefixes: ['10.9.0.0/16'], subnets: [{ name: 'a', vsid: 5001, addressPrefix: '10.9.1.0/24' }, { name: 'b', vsid: 12, addressPrefix: '10.8.0.0/24' }] }),
    );
    const problems = (vnet.body.errors as { path: string; message: string }[]).map((e) => `${e.path}: ${e.message}`);
    expect(problems).toContain('subnets[0].vsid: duplicate vsid 5001 (also virtualNetworks/contoso.subnets[0])');
    expect(problems).toContain('subnets[1].vsid: vsid 12 out of range 4096..16777214');
    expect(problems).toContain('subnets[1].addressPrefix: subnet 10.8.0.0/24 outside the address prefixes of virtual network tailspin');
    const dupMac = await rejected(400, () => client.put('networkInterfaces', 'contoso-app', nic({ macAddress: '02:00:00:00:50:11' })));
    expect(dupMac.body.errors[0].message).toMatch(/duplicate MAC 02:00:00:00:50:11 .*\(also networkInterfaces\/contoso-sql\)/);
  });

  it('a reference to a missing resource: 400', async () => {
    const reply = await rejected(400, () => client.put('networkInterfaces', 'contoso-app', nic({ virtualNetwork: 'nope' })));
    expect(reply.body.errors).toEqual([{ path: 'virtualNetwork', message: 'unknown virtual network nope' }]);
    await rejected(400, () => client.put('networkInterfaces', 'contoso-app', nic({ accessControlList: 'missing-acl' })));
  });

  it('a name that does not match the id: 400', async () => {
    const reply = await rejected(400, () => client.put('hosts', 'host3', { name: 'host4', providerAddresses: ['192.168.3.30'] }));
    expect(reply.body.errors[0].path).toBe('name');
  });

  it('a body that is not an object: 400', async () => {
    await rejected(400, () => client.put('hosts', 'host3', [1, 2]));
    await rejected(400, () => client.put('hosts', 'host3', 'text'));
  });

  it('deleting something still referenced: 409 naming the users', async () => {
    const reply = await rejected(409, () => client.del('hosts', 'host1'));
    expect(reply.body.code).toBe('InUse');
    expect(reply.body.errors.map((e: { path: string }) => e.path).sort()).toEqual(['networkInterfaces/contoso-sql.host', 'networkInterfaces/fabrikam-sql.host']);
    await rejected(409, () => client.del('virtualNetworks', 'contoso'));
  });

  it('replacing a resource so that others break: 409', async () => {
    const reply = await rejected(409, () => client.put('virtualNetworks', 'contoso', { addressPrefixes: ['10.1.0.0/16'], subnets: [{ name: 's2', vsid: 5002, addressPrefix: '10.1.2.0/24' }] }));
    expect(reply.body.errors[0]).toEqual({ path: 'networkInterfaces/contoso-sql.subnet', message: 'unknown subnet s1 in virtual network contoso' });
  });

  it('missing targets: 404', async () => {
    await rejected(404, () => client.del('hosts', 'nope'));
    await rejected(404, () => client.get('networkInterfaces', 'nope'));
    await rejected(404, () => client.put('routers', 'r1', { name: 'r1' }));
  });

  it('no token: 401, reads too (also from loopback); wrong token: 403', async () => {
    const none = await rejected(401, () => client.put('hosts', 'host3', { providerAddresses: ['192.168.3.30'] }, { token: null }));
    expect(none.headers.get('www-authenticate')).toBe('Bearer');
    await rejected(401, () => client.del('hosts', 'host2', { token: null }));
    await rejected(403, () => client.put('hosts', 'host3', { providerAddresses: ['192.168.3.30'] }, { token: 'wrong' }));
    await rejected(403, () => client.del('networkInterfaces', 'contoso-web', { token: 'wrong' }));
    await rejected(401, () => client.call('PUT', '/networking/v1/hosts/host3', { providerAddresses: ['192.168.3.30'] }, { token: null, headers: { authorization: 'Basic abc' } }));
    expect((await client.get('hosts', undefined, { token: null })).status).toBe(401);
    expect((await client.get('hosts', undefined, { token: 'wrong' })).status).toBe(403);
    expect((await client.call('GET', '/openapi.json', undefined, { token: null })).status).toBe(401);
    expect((await client.call('GET', '/networking/v1/sync?host=host1', undefined, { token: null })).status).toBe(401);
    expect((await client.get('hosts')).status).toBe(200);
  });

  it('a body that is not JSON: 400; not declared JSON: 415', async () => {
    const reply = await rejected(400, () => client.call('PUT', '/networking/v1/hosts/host3', undefined, { raw: '{"name": "host3", providerAddresses' }));
    expect(reply.body.errors[0].path).toBe('(root)');
    await rejected(415, () => client.call('PUT', '/networking/v1/hosts/host3', undefined, { raw: 'name: host3', headers: { 'content-type': 'text/plain' } }));
  });

  it('a huge body: 413', async () => {
    const huge = { name: 'big', aclRules: [], padding: 'x'.repeat(200 * 1024) };
    const reply = await rejected(413, () => client.put('accessControlLists', 'big', huge));
    expect(reply.body.code).toBe('BodyTooLarge');
  });
});

describe('persistence', () => {
  it('a restart (close and reopen the store file) loses nothing acknowledged', async () => {
    const put = await client.put('hosts', 'host3', { providerAddresses: ['192.168.3.30'] });
    expect(put.status).toBe(201);
    const before = dumpStore(running.server);
    const revision = running.server.store.revision();
    await running.server.close();
    running = await startController(storeFile);
    client = api(running.url);
    expect(dumpStore(running.server)).toBe(before);
    expect((await client.get('hosts', 'host3')).body.etag).toBe(put.body.etag);
    const next = await client.put('hosts', 'host4', { providerAddresses: ['192.168.4.40'] });
    expect(next.body.revision).toBe(revision + 1);
  });

  it('a crash (sockets destroyed, no clean close) loses nothing acknowledged', async () => {
    await client.put('hosts', 'host3', { providerAddresses: ['192.168.3.30'] });
    const before = dumpStore(running.server);
    await running.server.crash();
    running = await startController(storeFile);
    client = api(running.url);
    expect(dumpStore(running.server)).toBe(before);
  });
});
