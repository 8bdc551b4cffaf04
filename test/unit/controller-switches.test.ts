// The controller's REST API with the virtual switch kinds (issue 14): switches and nats are
// resources like the others, checked by the one schema, errors by path; an interface on an unknown
// switch is refused; the store is unchanged by a refused write.
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Running } from './controller-fixture.js';
import { api, dumpStore, startController, tempDir } from './controller-fixture.js';

let tmp: ReturnType<typeof tempDir>;
let running: Running;

beforeEach(() => {
  tmp = tempDir();
});

afterEach(async () => {
  await running.server.close();
  tmp.cleanup();
});

describe('REST kinds switches and nats', () => {
  it('stores a switch, a NAT and a switch port; refuses what is wrong, by path', async () => {
    running = await startController(path.join(tmp.dir, 'store.db'));
    const client = api(running.url);
    expect((await client.put('hosts', 'h1', { providerAddresses: ['192.168.50.1'] })).status).toBe(201);
    expect((await client.put('switches', 'int', { switchType: 'Internal', hostAddress: '172.30.0.1/24' })).status).toBe(201);
    const nat = { internalIPInterfaceAddressPrefix: '172.30.0.0/24', staticMappings: [{ protocol: 'TCP', externalPort: 8080, internalIPAddress: '172.30.0.10', internalPort: 80 }] };
    expect((await client.put('nats', 'labnat', nat)).status).toBe(201);
    expect((await client.put('networkInterfaces', 'vm1', { host: 'h1', switch: 'int', macAddress: '02:00:00:00:04:0c' })).status).toBe(201);
    const before = dumpStore(running.server);
    const noSwitch = await client.put('networkInterfaces', 'vm2', { host: 'h1', switch: 'nope', macAddress: '02:00:00:00:04:0d' });
    expect(noSwitch.status).toBe(400);
    expect(noSwitch.body.errors).toEqual([{ path: 'switch', message: 'unknown switch nope' }]);
    const taken = await client.put('nats', 'other', { internalIPInterfaceAddressPrefix: '172.30.0.0/25', staticMappings: [{ protocol: 'TCP', externalPort: 8080, internalIPAddress: '172.30.0.11', internalPort: 80 }] });
    expect(taken.status).toBe(400);
    const paths = (taken.body.errors as { path: string }[]).map((e) => e.path);
    expect(paths).toContain('internalIPInterfaceAddressPrefix');
    expect(paths).toContain('staticMappings[0].externalPort');
    const ext = await client.put('switches', 'ext', { switchType: 'External' });
    expect(ext.status).toBe(400);
    expect(ext.body.errors).toEqual([{ path: 'netAdapterName', message: 'required for an External switch (the host NIC to bind, e.g. eth1)' }]);
    expect(dumpStore(running.server)).toBe(before);
  });
});

describe('REST: a virtual network with an HNV gateway', () => {
  it('stores a gateway; refuses an unknown gateway host and a non-boolean nat, by path', async () => {
    running = await startController(path.join(tmp.dir, 'store.db'));
    const client = api(running.url);
    expect((await client.put('hosts', 'h1', { providerAddresses: ['192.168.50.1'] })).status).toBe(201);
    const vn = (gateway: unknown, vsid = 6001) => ({ addressPrefixes: ['10.1.0.0/16'], subnets: [{ name: 's1', vsid, addressPrefix: '10.1.1.0/24' }], gateway });
    expect((await client.put('virtualNetworks', 'contoso', vn({ host: 'h1', nat: true }, 5001))).status).toBe(201);
    const before = dumpStore(running.server);
    const unknown = await client.put('virtualNetworks', 'fabrikam', vn({ host: 'h9', nat: true }));
    expect(unknown.status).toBe(400);
    expect(unknown.body.errors).toEqual([{ path: 'gateway.host', message: 'unknown host h9' }]);
    const bad = await client.put('virtualNetworks', 'fabrikam', vn({ host: 'h1', nat: 'yes' }));
    expect(bad.status).toBe(400);
    expect(bad.body.errors).toContainEqual({ path: 'gateway.nat', message: 'expected true or false, got string "yes"' });
    // and the same prefix as contoso's behind the same gateway host
    expect((bad.body.errors as { path: string; message: string }[]).some((e) => e.path === 'gateway.host' && /overlaps subnet s1 \(10\.1\.1\.0\/24\) of virtual network contoso/.test(e.message))).toBe(true);
    expect(dumpStore(running.server)).toBe(before);
  });
});
