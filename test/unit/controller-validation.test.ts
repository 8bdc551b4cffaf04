// A PUT is checked incrementally: only the resource in the body goes through the schema (the
// stored ones passed it when written), the cross-object checks run over the whole policy.
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteStore } from '../../src/controller/sqlite-store.js';
import { figure8Policy } from '../../src/policy/figure8.js';
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

describe('incremental validation of REST writes', () => {
  it('stored resources are not re-parsed: one the schema would now refuse does not block unrelated writes', async () => {
    const file = path.join(tmp.dir, 'store.db');
    const store = new SqliteStore(file);
    // Written by an older controller whose schema allowed it (here: straight into the store).
    store.put('hosts', 'legacy', { name: 'legacy', providerAddresses: ['192.168.7.7'], rack: 'r1' });
    store.close();
    running = await startController(file);
    const client = api(running.url);
    expect((await client.put('hosts', 'host3', { providerAddresses: ['192.168.3.30'] })).status).toBe(201);
    // The cross-object checks still see it: its PA is taken.
    const clash = await client.put('hosts', 'host4', { providerAddresses: ['192.168.7.7'] });
    expect(clash.status).toBe(400);
    expect(clash.body.errors).toEqual([{ path: 'providerAddresses[0]', message: 'provider address 192.168.7.7 already used by host legacy' }]);
  });

  it('a network with 8000 subnets, then a small write against it: both checked, problems found by path', async () => {
    running = await startController(path.join(tmp.dir, 'store.db'));
    const client = api(running.url);
    const figure8 = figure8Policy();
    for (const host of figure8.hosts) expect((await client.put('hosts', host.name, host)).status).toBe(201);
    const subnets = Array.from({ length: 8000 }, (_, i) => ({ name: `s${i}`, vsid: 10000 + i, addressPrefix: `10.${100 + (i >> 12)}.${(i >> 4) & 255}.${(i & 15) * 16}/28` }));
    expect((await client.put('virtualNetworks', 'wide', { addressPrefixes: ['10.0.0.0/8'], subnets })).status).toBe(201);
    const before = dumpStore(running.server);
    const bad = await client.put('virtualNetworks', 'wide', { addressPrefixes: ['10.0.0.0/8'], subnets: [...subnets, { name: 'x', vsid: 9000, addressPrefix: '10.100.0.0/24' }] });
    expect(bad.status).toBe(400);
    expect(bad.body.errors).toEqual([{ path: 'subnets[8000].addressPrefix', message: 'subnet 10.100.0.0/24 overlaps subnet s0 (10.100.0.0/28)' }]);
    const nic = await client.put('networkInterfaces', 'w1', { host: 'host1', virtualNetwork: 'wide', subnet: 's7999', macAddress: '02:00:00:00:99:01', ipAddress: '10.101.244.242' });
    expect(nic.status).toBe(400);
    expect(nic.body.errors).toEqual([{ path: 'ipAddress', message: 'address 10.101.244.242 outside subnet s7999 (10.101.243.240/28)' }]);
    expect(dumpStore(running.server)).toBe(before);
    expect((await client.put('networkInterfaces', 'w1', { host: 'host1', virtualNetwork: 'wide', subnet: 's7999', macAddress: '02:00:00:00:99:01', ipAddress: '10.101.243.242' })).status).toBe(201);
  });
});
