// The etcd store (issue 20): a real etcd on loopback (started and killed here), two controllers on
// it. Revisions are etcd's and the same on both; a write on one reaches sync clients of the other;
// racing writes are serialised by the transaction's compare; an agent given both controllers fails
// over when one is killed and converges; a three-member cluster keeps serving with a member killed.
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ControllerSync } from '../../src/agent/controller-sync.js';
import type { Policy } from '../../src/policy/types.js';
import { EtcdStore, parseEtcdUrl } from '../../src/controller/etcd-store.js';
import { ControllerServer } from '../../src/controller/server.js';
import { StoreConflictError } from '../../src/controller/store.js';
import { haveEtcd, startEtcd } from '../helpers/etcd.js';
import type { EtcdCluster } from '../helpers/etcd.js';
import { requires } from '../helpers/prerequisites.js';
import { TOKEN, api, dumpStore, eventually, seedFigure8, tempDir } from './controller-fixture.js';
import { figure8Policy } from '../../src/policy/figure8.js';
import { parsePolicy } from '../../src/policy/validate.js';

const ETCD = requires(haveEtcd, 'etcd is not installed (Debian etcd-server)');

let etcd: EtcdCluster | undefined;
let tmp: ReturnType<typeof tempDir>;
const servers: ControllerServer[] = [];
const stores: EtcdStore[] = [];
const syncs: ControllerSync[] = [];

async function controller(cluster: EtcdCluster, prefix: string): Promise<{ server: ControllerServer; url: string }> {
  const store = await EtcdStore.open(parseEtcdUrl(cluster.spec), { prefix });
  const server = new ControllerServer({ store, token: TOKEN, heartbeatMs: 100 });
  servers.push(server);
  const address = await server.listen('127.0.0.1', 0);
  return { server, url: address.url };
}

function syncClient(host: string, controllers: string): { sync: ControllerSync; views: { policy: Policy; revision: number }[] } {
  const sync = new ControllerSync({ controller: controllers, host, token: TOKEN, cacheFile: path.join(tmp.dir, `${host}.json`), minBackoffMs: 20, maxBackoffMs: 200 });
  syncs.push(sync);
  const views: { policy: Policy; revision: number }[] = [];
  sync.on('policy', (policy, revision) => views.push({ policy, revision }));
  return { sync, views };
}

const nicNames = (policy: Policy | undefined): string[] => (policy?.networkInterfaces ?? []).map((nic) => nic.name).sort();
let prefixCount = 0;
const uniquePrefix = (): string => `/switchyard-test-${process.pid}-${++prefixCount}/`;

beforeEach(() => {
  tmp = tempDir();
});

afterEach(async () => {
  for (const sync of syncs.splice(0)) await sync.stop();
  for (const server of servers.splice(0)) await server.crash().catch(() => undefined);
  for (const store of stores.splice(0)) await store.close();
  await etcd?.stop();
  etcd = undefined;
  tmp.cleanup();
});

describe('etcd store', ETCD, () => {
  it('parses etcd:// member lists and refuses anything else', () => {
    expect(parseEtcdUrl('etcd://127.0.0.1:2379,[::1]:2380')).toEqual(['http://127.0.0.1:2379', 'http://[::1]:2380']);
    expect(parseEtcdUrl('etcds://etcd.example:2379')).toEqual(['https://etcd.example:2379']);
    expect(() => parseEtcdUrl('etcd://')).toThrow(/etcd:\/\/HOST:PORT/);
    expect(() => parseEtcdUrl('etcd://host')).toThrow(/not HOST:PORT/);
    expect(() => parseEtcdUrl('etcd://h:1,h:99999')).toThrow(/not HOST:PORT/);
  });

  it('two stores on one etcd: same revisions, etags and change log; racing writes serialised', async () => {
    etcd = await startEtcd(1);
    const prefix = uniquePrefix();
    const a = await EtcdStore.open(etcd.urls, { prefix });
    const b = await EtcdStore.open(etcd.urls, { prefix });
    stores.push(a, b);
    expect(a.revision()).toBe(0);
    const host = await a.put('hosts', 'h1', { name: 'h1', providerAddresses: ['192.168.1.1'] });
    expect(a.revision()).toBe(host.revision);
    await eventually(() => b.revision() === host.revision);
    expect(b.get('hosts', 'h1')).toEqual(a.get('hosts', 'h1'));
    expect(b.get('hosts', 'h1')?.etag).toBe(`"${host.revision}"`);
    // If-Match against the stored etag, through the other store
    await expect(b.put('hosts', 'h1', { name: 'h1', providerAddresses: ['192.168.1.2'] }, { ifMatch: '"1"' })).rejects.toThrow(/etag is/);
    const second = await b.put('hosts', 'h1', { name: 'h1', providerAddresses: ['192.168.1.2'] }, { ifMatch: host.etag });
    await eventually(() => a.revision() === second.revision);
    // b saw the first write through its watch, a saw the second: both logs have both, with before-images
    for (const store of [a, b]) {
      expect(store.changesSince(host.revision)?.map((c) => [c.op, c.before?.providerAddresses, c.after?.providerAddresses])).toEqual([
        ['put', ['192.168.1.1'], ['192.168.1.2']],
      ]);
      expect(store.changesSince(second.revision)).toEqual([]);
      expect(store.changesSince(second.revision + 1)).toBeUndefined();
    }
    // a race: both validated at the same revision; exactly one commits, the other is told to re-validate
    const base = a.revision();
    const results = await Promise.allSettled([
      a.put('hosts', 'h2', { name: 'h2', providerAddresses: ['192.168.1.3'] }, { baseRevision: base }),
      b.put('hosts', 'h3', { name: 'h3', providerAddresses: ['192.168.1.4'] }, { baseRevision: base }),
    ]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const lost = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect(lost.reason).toBeInstanceOf(StoreConflictError);
    await eventually(() => a.revision() === b.revision() && a.revision() > base);
    expect(a.list('hosts').map((h) => h.name)).toEqual(b.list('hosts').map((h) => h.name));
    // delete
    const deleted = await a.delete('hosts', 'h1');
    await eventually(() => b.revision() === deleted);
    expect(b.get('hosts', 'h1')).toBeUndefined();
    await expect(b.delete('hosts', 'h1')).rejects.toThrow(/not found/);
  });

  it('a PUT on controller A reaches a sync client of controller B; A killed, an agent on A,B fails over and converges', async () => {
    etcd = await startEtcd(1);
    const prefix = uniquePrefix();
    const a = await controller(etcd, prefix);
    const b = await controller(etcd, prefix);
    await seedFigure8(a.url);
    const onB = syncClient('host1', b.url);
    await onB.sync.start();
    await eventually(() => nicNames(onB.sync.policy).length > 0);
    const before = nicNames(onB.sync.policy);
    const put = await api(a.url).put('networkInterfaces', 'extra-1', { host: 'host1', virtualNetwork: 'contoso', subnet: 's1', macAddress: '02:00:00:00:99:01', ipAddress: '10.1.1.99' });
    expect(put.status).toBe(201);
    await eventually(() => nicNames(onB.sync.policy).includes('extra-1'));
    expect(nicNames(onB.sync.policy)).toEqual([...before, 'extra-1'].sort());
    expect(onB.sync.revision).toBe(Number(String(put.headers.get('etag')).replace(/"/g, '')));

    // an agent given both controllers, A first; kill A as a crash would
    const agent = syncClient('host2', `${a.url},${b.url}`);
    await agent.sync.start();
    await eventually(() => agent.sync.connected && nicNames(agent.sync.policy).length > 0);
    expect(agent.sync.controller).toBe(a.url);
    const killedAt = Date.now();
    await a.server.crash();
    await eventually(() => agent.sync.connected && agent.sync.controller === b.url);
    const failoverMs = Date.now() - killedAt;
    const change = await api(b.url).put('networkInterfaces', 'extra-2', { host: 'host2', virtualNetwork: 'contoso', subnet: 's1', macAddress: '02:00:00:00:99:02', ipAddress: '10.1.1.98' });
    expect(change.status).toBe(201);
    await eventually(() => nicNames(agent.sync.policy).includes('extra-2'));
    expect(agent.sync.revision).toBe((await api(b.url).call('GET', '/networking/v1')).body.revision);
    console.log(`failover to controller B: connected ${failoverMs} ms after A was killed`);
  });

  it('a whole-policy PUT on etcd: one transaction at one etcd revision, seen by the other controller; a refused one changes nothing', async () => {
    etcd = await startEtcd(1);
    const prefix = uniquePrefix();
    const a = await controller(etcd, prefix);
    const b = await controller(etcd, prefix);
    const onB = syncClient('host1', b.url);
    await onB.sync.start();
    const policy = figure8Policy();
    const total = policy.hosts.length + policy.virtualNetworks.length + policy.networkInterfaces.length + policy.accessControlLists.length;
    const first = await api(a.url).call('PUT', '/networking/v1/policy', policy);
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    expect(first.body.changed).toBe(total);
    const revision = first.body.revision as number;
    // one transaction: every resource carries the one etcd revision, on both controllers
    for (const server of [a.server, b.server]) {
      await eventually(() => server.store.revision() === revision);
      const etags = ['hosts', 'virtualNetworks', 'networkInterfaces', 'accessControlLists'].flatMap((kind) => server.store.list(kind as 'hosts').map((r) => r.etag));
      expect(new Set(etags)).toEqual(new Set([`"${revision}"`]));
      expect(etags).toHaveLength(total);
    }
    const stored = await api(b.url).get('networkInterfaces', policy.networkInterfaces[0]!.name);
    expect({ name: stored.body.resourceId, ...stored.body.properties }).toEqual((parsePolicy(policy) as { ok: true; policy: Policy }).policy.networkInterfaces[0]);
    await eventually(() => onB.sync.revision === revision && nicNames(onB.sync.policy).length > 0);
    // the same document again writes nothing; a change writes only what differs, at one new revision
    expect((await api(b.url).call('PUT', '/networking/v1/policy', policy)).body).toEqual({ revision, changed: 0 });
    const [gone, changed, ...rest] = policy.networkInterfaces;
    const next = { ...policy, networkInterfaces: [{ ...changed!, ipAddress: '10.1.1.77' }, ...rest] };
    const second = await api(b.url).call('PUT', '/networking/v1/policy', next);
    expect(second.status).toBe(200);
    expect(second.body.changed).toBe(2);
    expect(second.body.revision).toBeGreaterThan(revision);
    await eventually(() => a.server.store.revision() === second.body.revision);
    expect((await api(a.url).get('networkInterfaces', gone!.name)).status).toBe(404);
    expect((await api(a.url).get('networkInterfaces', changed!.name)).body.properties.ipAddress).toBe('10.1.1.77');
    expect(a.server.store.changesSince(revision)?.map((c) => [c.revision, c.op, c.name])).toEqual([
      [second.body.revision, 'put', changed!.name],
      [second.body.revision, 'delete', gone!.name],
    ]);
    // refused: every problem by its path, nothing written (as on SQLite)
    const before = dumpStore(a.server);
    const [x, y, ...others] = next.networkInterfaces;
    const bad = { ...next, networkInterfaces: [x, { ...y!, macAddress: x!.macAddress, host: 'nowhere' }, ...others] };
    const refused = await api(a.url).call('PUT', '/networking/v1/policy', bad);
    expect(refused.status).toBe(400);
    expect(refused.body.code).toBe('InvalidPolicy');
    expect(refused.body.errors).toEqual((parsePolicy(bad) as { ok: false; errors: unknown[] }).errors);
    expect(refused.body.errors.map((e: { path: string }) => e.path)).toContain('networkInterfaces[1].host');
    // more resources than etcd takes in one transaction (--max-txn-ops 128): refused whole, with the bound named
    const many = { ...next, networkInterfaces: [...next.networkInterfaces, ...Array.from({ length: 130 }, (_, i) => ({ ...next.networkInterfaces[0]!, name: `bulk-${i}`, ifname: `bulk${i}`, netns: `bulk-${i}`, macAddress: `02:00:00:01:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`, ipAddress: `10.1.1.${120 + i}`, subnet: next.networkInterfaces[0]!.subnet }))] };
    const tooMany = await api(a.url).call('PUT', '/networking/v1/policy', many);
    expect(tooMany.status, JSON.stringify(tooMany.body)).toBe(413);
    expect(tooMany.body.message).toMatch(/--max-txn-ops/);
    expect(dumpStore(a.server)).toBe(before);
  });

  it('three members, one killed: writes on one controller still reach the other', async () => {
    etcd = await startEtcd(3);
    const prefix = uniquePrefix();
    const a = await controller(etcd, prefix);
    const b = await controller(etcd, prefix);
    await seedFigure8(a.url);
    const onB = syncClient('host1', b.url);
    await onB.sync.start();
    await eventually(() => nicNames(onB.sync.policy).length > 0);
    await etcd.kill(0);
    const started = Date.now();
    const put = await api(a.url).put('networkInterfaces', 'extra-3', { host: 'host1', virtualNetwork: 'contoso', subnet: 's1', macAddress: '02:00:00:00:99:03', ipAddress: '10.1.1.97' });
    expect(put.status).toBe(201);
    const putMs = Date.now() - started;
    await eventually(() => nicNames(onB.sync.policy).includes('extra-3'), 20_000);
    console.log(`etcd member 0 of 3 killed: PUT on A answered in ${putMs} ms, applied on B's client ${Date.now() - started} ms after it was sent`);
  }, 40_000);
});
