// The sync stream end to end over real HTTP: a ControllerSync client per host gets its snapshot,
// then only the updates of its virtual networks; resumes with `since`; keeps its last policy on disk
// across a controller crash and reconverges after the restart; sees a live migration on both hosts.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ControllerSync } from '../../src/agent/controller-sync.js';
import type { Policy } from '../../src/policy/types.js';
import type { Running } from './controller-fixture.js';
import { TOKEN, api, eventually, seedFigure8, startController, tempDir } from './controller-fixture.js';

let tmp: ReturnType<typeof tempDir>;
let running: Running;
let client: ReturnType<typeof api>;
let storeFile: string;
const syncs: ControllerSync[] = [];

interface Watched {
  sync: ControllerSync;
  views: { policy: Policy; revision: number }[];
  synced: string[];
}

function watch(host: string, cacheName = host, url = running.url): Watched {
  const sync = new ControllerSync({ controller: url, host, token: TOKEN, cacheFile: path.join(tmp.dir, `${cacheName}.json`), minBackoffMs: 20, maxBackoffMs: 200 });
  syncs.push(sync);
  const watched: Watched = { sync, views: [], synced: [] };
  // an agent that applies every view (the cache keeps accepted views only)
  sync.on('policy', (policy, revision) => {
    watched.views.push({ policy, revision });
    sync.accepted(revision);
  });
  sync.on('synced', (_revision, how) => watched.synced.push(how));
  return watched;
}

const last = (w: Watched) => w.views[w.views.length - 1] as { policy: Policy; revision: number };
const names = (items: { name: string }[]) => items.map((item) => item.name);

beforeEach(async () => {
  tmp = tempDir();
  storeFile = path.join(tmp.dir, 'store.db');
  running = await startController(storeFile, { heartbeatMs: 100 });
  client = api(running.url);
  await seedFigure8(running.url);
  // A third tenant whose only port is on host3.
  await client.put('hosts', 'host3', { providerAddresses: ['192.168.3.30'] });
  await client.put('virtualNetworks', 'tailspin', { addressPrefixes: ['10.9.0.0/16'], subnets: [{ name: 'a', vsid: 7001, addressPrefix: '10.9.1.0/24' }] });
  await client.put('networkInterfaces', 'tailspin-1', { host: 'host3', virtualNetwork: 'tailspin', subnet: 'a', macAddress: '02:00:00:00:70:01', ipAddress: '10.9.1.10' });
});

afterEach(async () => {
  for (const sync of syncs.splice(0)) await sync.stop();
  await running.server.close().catch(() => undefined);
  tmp.cleanup();
});

describe('controller sync', () => {
  it('a snapshot of what the host needs, then updates only for its virtual networks', async () => {
    const host1 = watch('host1');
    const host3 = watch('host3');
    await host1.sync.start();
    await host3.sync.start();
    await eventually(() => host1.views.length === 1 && host3.views.length === 1, 5000, 'snapshots');
    const view1 = last(host1).policy;
    expect(names(view1.hosts)).toEqual(['host1', 'host2', 'host3']);
    expect(names(view1.virtualNetworks)).toEqual(['contoso', 'fabrikam']);
    expect(names(view1.networkInterfaces)).toEqual(['contoso-sql', 'contoso-web', 'fabrikam-sql', 'fabrikam-web']);
    expect(names(last(host3).policy.virtualNetworks)).toEqual(['tailspin']);
    expect(host1.synced).toEqual(['snapshot']);

    // A change to a tenant without a port on host1: host3 hears it, host1 does not.
    const put = await client.put('networkInterfaces', 'tailspin-2', { host: 'host3', virtualNetwork: 'tailspin', subnet: 'a', macAddress: '02:00:00:00:70:02', ipAddress: '10.9.1.11' });
    await eventually(() => host3.views.length === 2, 5000, 'host3 update');
    expect(last(host3).revision).toBe(put.body.revision);
    expect(names(last(host3).policy.networkInterfaces)).toEqual(['tailspin-1', 'tailspin-2']);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(host1.views).toHaveLength(1);
    await eventually(() => host1.sync.revision === put.body.revision, 5000, 'heartbeat revision'); // heartbeats carry it forward

    // A change in contoso reaches host1 with its revision.
    const web = (await client.get('networkInterfaces', 'contoso-web')).body;
    const moved = await client.put('networkInterfaces', 'contoso-web', { ...web.properties, ipAddress: '10.1.1.20' });
    await eventually(() => host1.views.length === 2, 5000, 'host1 update');
    expect(last(host1).revision).toBe(moved.body.revision);
    expect(last(host1).policy.networkInterfaces.find((n) => n.name === 'contoso-web')?.ipAddress).toBe('10.1.1.20');
    expect(host3.views).toHaveLength(2);

    // The cache file holds the last view.
    await eventually(() => JSON.parse(readFileSync(path.join(tmp.dir, 'host1.json'), 'utf8')).revision === moved.body.revision, 5000, 'cache write');
  });

  it('reconnects with since and resumes with a delta', async () => {
    const first = watch('host1');
    await first.sync.start();
    await eventually(() => first.views.length === 1, 5000, 'snapshot');
    await first.sync.stop();
    await eventually(() => running.server.hub.sessionCount === 0, 5000, 'session closed');
    const web = (await client.get('networkInterfaces', 'fabrikam-web')).body;
    const put = await client.put('networkInterfaces', 'fabrikam-web', { ...web.properties, ipAddress: '10.1.1.30' });

    const again = watch('host1'); // same cache file
    const cached = await again.sync.start();
    expect(cached?.revision).toBe(last(first).revision);
    await eventually(() => again.views.length === 2, 5000, 'resumed update');
    expect(again.synced).toEqual(['resumed']);
    expect(last(again).revision).toBe(put.body.revision);
    expect(last(again).policy.networkInterfaces.find((n) => n.name === 'fabrikam-web')?.ipAddress).toBe('10.1.1.30');
  });

  it('a controller crash: the client keeps its policy on disk and reconverges after the restart', async () => {
    const host2 = watch('host2');
    await host2.sync.start();
    await eventually(() => host2.views.length === 1, 5000, 'snapshot');
    const held = last(host2);
    await running.server.crash();
    await eventually(() => !host2.sync.connected, 5000, 'disconnect');
    expect(host2.sync.policy).toEqual(held.policy);

    // The agent restarts too while the controller is away: it comes back from the cache file.
    await host2.sync.stop();
    const reborn = watch('host2');
    const cached = await reborn.sync.start();
    expect(cached?.policy).toEqual(held.policy);
    expect(reborn.views).toHaveLength(1);

    // The controller comes back on the same port with the same store, and a change is made.
    running = await startController(storeFile, { port: running.port, heartbeatMs: 100 });
    client = api(running.url);
    await eventually(() => reborn.synced.length === 1, 5000, 'resync');
    expect(reborn.synced).toEqual(['resumed']);
    const put = await client.put('hosts', 'host2', { providerAddresses: ['192.168.2.22'] });
    await eventually(() => reborn.views.length === 2, 5000, 'update after restart');
    expect(last(reborn).revision).toBe(put.body.revision);
    expect(last(reborn).policy.hosts.find((h) => h.name === 'host2')?.providerAddresses).toEqual(['192.168.2.22']);
  });

  it('live migration: the old host, the new host and every host sharing the network are told', async () => {
    await client.put('networkInterfaces', 'contoso-app', { host: 'host3', virtualNetwork: 'contoso', subnet: 's1', macAddress: '02:00:00:00:50:13', ipAddress: '10.1.1.13' });
    const hosts = { host1: watch('host1'), host2: watch('host2'), host3: watch('host3') };
    for (const w of Object.values(hosts)) await w.sync.start();
    await eventually(() => Object.values(hosts).every((w) => w.views.length === 1), 5000, 'snapshots');

    const sql = (await client.get('networkInterfaces', 'contoso-sql')).body;
    const put = await client.put('networkInterfaces', 'contoso-sql', { ...sql.properties, host: 'host2' });
    expect(put.status).toBe(200);
    await eventually(() => Object.values(hosts).every((w) => w.views.length === 2), 5000, 'migration reaches all hosts');
    for (const w of Object.values(hosts)) {
      expect(last(w).revision).toBe(put.body.revision);
      const moved = last(w).policy.networkInterfaces.find((n) => n.name === 'contoso-sql');
      if (w === hosts.host1) continue;
      expect(moved).toMatchObject({ host: 'host2', macAddress: '02:00:00:00:50:11', ipAddress: '10.1.1.11' });
    }
    // host1 has no contoso port left: contoso is gone from its view; fabrikam stays.
    expect(names(last(hosts.host1).policy.virtualNetworks)).toEqual(['fabrikam']);
    expect(names(last(hosts.host1).policy.networkInterfaces)).toEqual(['fabrikam-sql', 'fabrikam-web']);
  });

  it('a silent stream is taken for dead and reconnected', async () => {
    let requests = 0;
    const silent = http.createServer((_req, res) => {
      requests++;
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      res.flushHeaders();
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as { port: number }).port;
    const sync = new ControllerSync({ controller: `http://127.0.0.1:${port}`, host: 'host1', cacheFile: path.join(tmp.dir, 'silent.json'), idleTimeoutMs: 150, minBackoffMs: 10, maxBackoffMs: 20 });
    syncs.push(sync);
    await sync.start();
    await eventually(() => requests >= 3, 5000, 'reconnects');
    await sync.stop();
    silent.closeAllConnections();
    await new Promise((resolve) => silent.close(resolve));
  });

  it('an unreachable controller: start() still gives the cached policy and retries', async () => {
    const w = watch('host1');
    await w.sync.start();
    await eventually(() => w.views.length === 1, 5000, 'snapshot');
    await w.sync.stop();
    const port = running.port;
    await running.server.close();
    const offline = watch('host1', 'host1', `http://127.0.0.1:${port}`);
    const cached = await offline.sync.start();
    expect(cached?.policy).toEqual(last(w).policy);
    expect(offline.views).toHaveLength(1);
    expect(offline.sync.connected).toBe(false);
    running = await startController(storeFile, { port, heartbeatMs: 100 });
    await eventually(() => offline.synced.length === 1, 5000, 'connects once the controller is back');
    expect(offline.views).toHaveLength(1); // nothing changed meanwhile: no new policy event
  });
});
