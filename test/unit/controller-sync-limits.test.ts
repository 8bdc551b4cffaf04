// Sync clients as the attacker (issue 16): a resume from far back gets a snapshot read from a
// bounded part of the change log; streams are capped per host and in total; a stream that never
// reads holds at most a slice in the controller and is dropped once it stalls; the view a host
// needs is built once for all its streams; the controller keeps answering throughout.
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ControllerSync } from '../../src/agent/controller-sync.js';
import { SqliteStore } from '../../src/controller/sqlite-store.js';
import type { StoredResource } from '../../src/controller/store.js';
import type { SyncLimits } from '../../src/controller/sync-hub.js';
import type { Running } from './controller-fixture.js';
import { TOKEN, api, eventually, startController, tempDir } from './controller-fixture.js';

let tmp: ReturnType<typeof tempDir>;
let running: Running | undefined;
const sockets: net.Socket[] = [];
const syncs: ControllerSync[] = [];

beforeEach(() => {
  tmp = tempDir();
});

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  for (const sync of syncs.splice(0)) await sync.stop();
  await running?.server.close().catch(() => undefined);
  running = undefined;
  tmp.cleanup();
});

type Resource = StoredResource['resource'];

/** An ACL of about `kb` KB; `variant` changes its first rule. */
function acl(name: string, kb: number, variant = 0): Resource {
  const aclRules = Array.from({ length: Math.ceil((kb * 1024) / 200) }, (_, i) => ({
    name: `rule-${i}-named-at-length-to-make-each-rule-near-200-bytes`,
    protocol: 6,
    sourceAddressPrefix: `10.${(i >> 8) & 255}.${i & 255}.0/24`,
    destinationAddressPrefix: '10.1.1.0/24',
    sourcePortRange: '*',
    destinationPortRange: String(i === 0 ? 1000 + variant : 1 + (i % 60000)),
    action: 'Allow',
    type: 'Inbound',
    priority: 100 + i,
  }));
  return { name, aclRules };
}

/**
 * A store where hosts h0..h{hosts-1} each have a port in network `v`, whose subnet uses a big ACL:
 * every host's view holds the ACL. Written straight into the store (the REST checks are not the
 * subject here), then the controller starts on it.
 */
async function bigViewController(options: { hosts: number; aclKb: number; sync: SyncLimits }): Promise<Running> {
  const file = path.join(tmp.dir, 'store.db');
  const store = new SqliteStore(file);
  store.put('accessControlLists', 'big', acl('big', options.aclKb));
  for (let i = 0; i < options.hosts; i++) store.put('hosts', `h${i}`, { name: `h${i}`, providerAddresses: [`192.168.${i >> 8}.${(i & 255) + 1}`] });
  store.put('virtualNetworks', 'v', { name: 'v', addressPrefixes: ['10.1.0.0/16'], subnets: [{ name: 's', vsid: 5001, addressPrefix: '10.1.1.0/24', encapsulation: 'vxlan', accessControlList: 'big' }] });
  for (let i = 0; i < options.hosts; i++) {
    const mac = `02:00:00:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`;
    store.put('networkInterfaces', `n${i}`, { name: `n${i}`, host: `h${i}`, virtualNetwork: 'v', subnet: 's', macAddress: mac, ipAddress: `10.1.1.${10 + i}` });
  }
  store.close();
  running = await startController(file, { heartbeatMs: 100, sync: options.sync });
  return running;
}

interface RawStream {
  socket: net.Socket;
  /** The HTTP status, once the head has arrived. */
  status: Promise<number>;
  closed: Promise<void>;
  head: () => string;
}

/** A sync request on a raw socket that reads only the first chunk of the answer, then never again. */
function neverReading(port: number, query: string): RawStream {
  const socket = net.connect(port, '127.0.0.1');
  sockets.push(socket);
  socket.on('error', () => undefined);
  let head = '';
  const status = new Promise<number>((resolve) => {
    socket.once('data', (chunk: Buffer) => {
      socket.pause();
      head = chunk.toString('latin1');
      resolve(Number(head.slice(9, 12)));
    });
    socket.once('close', () => resolve(0));
  });
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.write(`GET /networking/v1/sync?${query} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${TOKEN}\r\n\r\n`);
  return { socket, status, closed, head: () => head };
}

/** The first message of a sync stream (one connection of its own, closed after the first line). */
function firstMessage(url: string, query: string): Promise<{ status: number; message: Record<string, unknown> | undefined }> {
  return new Promise((resolve, reject) => {
    const request = http.get(`${url}/networking/v1/sync?${query}`, { agent: false, headers: { authorization: `Bearer ${TOKEN}` } }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        text += chunk;
        const end = response.statusCode === 200 ? text.indexOf('\n') : -1;
        if (end >= 0) {
          request.destroy();
          resolve({ status: 200, message: JSON.parse(text.slice(0, end)) as Record<string, unknown> });
        }
      });
      response.on('end', () => resolve({ status: response.statusCode ?? 0, message: JSON.parse(text) as Record<string, unknown> }));
    });
    request.on('error', reject);
  });
}

describe('sync resume is bounded', () => {
  it('a resume from further back than the limits gets a snapshot, reading no more of the log than the limit', async () => {
    const r = await bigViewController({ hosts: 2, aclKb: 20, sync: { maxReplayChanges: 1000, maxReplayBytes: 150 * 1024 } });
    const client = api(r.url);
    for (let i = 1; i <= 30; i++) {
      const reply = await client.put('accessControlLists', 'big', acl('big', 20, i));
      expect(reply.status).toBe(200);
    }
    // Count what the hub asks of the change log.
    const store = r.server.store;
    const read: number[] = [];
    const original = store.changesSince.bind(store);
    store.changesSince = (revision, limits) => {
      const changes = original(revision, limits);
      read.push(changes?.length ?? -1);
      return changes;
    };

    // 30 changes of 20 KB (before + after: 40 KB each) are past 150 KB: a snapshot, not a replay.
    const far = await firstMessage(r.url, 'host=h0&since=1');
    expect(far.message?.type).toBe('snapshot');
    expect(read).toEqual([-1]);

    // Two changes back is within the limits: a delta with just the ACL.
    const near = await firstMessage(r.url, `host=h0&since=${store.revision() - 2}`);
    expect(near.message?.type).toBe('delta');
    expect(Object.keys(near.message?.upsert as object)).toEqual(['accessControlLists']);
    expect(read).toEqual([-1, 2]);

    const stats = r.server.hub.stats();
    expect(stats.resumed).toBe(1);
    expect(stats.resumeSnapshots).toBe(1);
  });

  it('a resume past the change-count limit is a snapshot without reading the log', async () => {
    const r = await bigViewController({ hosts: 2, aclKb: 1, sync: { maxReplayChanges: 3 } });
    const client = api(r.url);
    for (let i = 1; i <= 5; i++) expect((await client.put('accessControlLists', 'big', acl('big', 1, i))).status).toBe(200);
    expect((await firstMessage(r.url, 'host=h1&since=1')).message?.type).toBe('snapshot');
    expect((await firstMessage(r.url, `host=h1&since=${r.server.store.revision() - 3}`)).message?.type).toBe('delta');
  });

  it('ten streams of one host, and hosts with the same networks, share one view', async () => {
    const r = await bigViewController({ hosts: 3, aclKb: 5, sync: { maxPerHost: 20 } });
    const first = await Promise.all(Array.from({ length: 10 }, (_, i) => firstMessage(r.url, `host=h${i % 3}`)));
    expect(first.every((reply) => reply.message?.type === 'snapshot')).toBe(true);
    expect(new Set(first.map((reply) => reply.message?.digest)).size).toBe(1);
    expect(r.server.hub.stats().viewsBuilt).toBe(1);
    // Unknown hosts all get the same (empty-networks) view: one more, however many names.
    await Promise.all(Array.from({ length: 5 }, (_, i) => firstMessage(r.url, `host=stranger${i}`)));
    expect(r.server.hub.stats().viewsBuilt).toBe(2);
  });
});

describe('sync streams are capped and slow readers dropped', () => {
  it('300 never-reading streams: 50 admitted (5 per host), the rest refused, at most a slice queued for each', async () => {
    const r = await bigViewController({ hosts: 30, aclKb: 400, sync: { maxStreams: 50, maxPerHost: 5, stallMs: 60_000 } });
    // 20 for h0 first (5 admitted, 15 refused per host), then 280 spread over h1..h29.
    const streams: RawStream[] = [];
    for (let i = 0; i < 300; i++) {
      streams.push(neverReading(r.port, `host=h${i < 20 ? 0 : 1 + (i % 29)}`));
      if (i % 50 === 49) await Promise.all(streams.map((s) => s.status));
    }
    const statuses = await Promise.all(streams.map((s) => s.status));
    const count = (status: number): number => statuses.filter((s) => s === status).length;
    expect(count(200)).toBe(50);
    expect(count(429)).toBe(15);
    expect(count(503)).toBe(235);
    const refused = streams.find((_, i) => statuses[i] === 503) as RawStream;
    expect(refused.head()).toMatch(/"code":"TooManyStreams".*--max-sync-streams/s);

    // A change every admitted stream must hear (every view holds every host); none of them reads.
    const client = api(r.url);
    expect((await client.put('hosts', 'h99', { providerAddresses: ['192.168.99.1'] })).status).toBe(201);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const stats = r.server.hub.stats();
    expect(stats.sessions).toBe(50);
    expect(stats.refusedPerHost).toBe(15);
    expect(stats.refusedTotal).toBe(235);
    // Each stream holds at most one 64 KB slice of the shared message plus its own small prefix.
    expect(stats.maxSessionQueue).toBeLessThanOrEqual(64 * 1024 + 256);
    expect(stats.queuedBytes).toBeLessThanOrEqual(50 * (64 * 1024 + 256));
    // The controller still answers.
    expect((await client.get('hosts')).status).toBe(200);
  });

  it('a stream that stops reading is dropped after the stall time; a reading agent of the same host is not', async () => {
    const r = await bigViewController({ hosts: 2, aclKb: 1000, sync: { stallMs: 1000, maxPerHost: 10 } }); // 1 s: the reading agent shares this process's event loop, which a loaded machine can hold up for a few hundred ms
    const stalled = Array.from({ length: 5 }, () => neverReading(r.port, 'host=h0'));
    expect(await Promise.all(stalled.map((s) => s.status))).toEqual([200, 200, 200, 200, 200]);
    const agent = new ControllerSync({ controller: r.url, host: 'h0', token: TOKEN, cacheFile: path.join(tmp.dir, 'h0.json'), minBackoffMs: 20, maxBackoffMs: 200 });
    syncs.push(agent);
    const revisions: number[] = [];
    agent.on('policy', (_policy, revision) => revisions.push(revision));
    await agent.start();
    await eventually(() => revisions.length === 1, 10_000, 'the agent snapshot');

    // Loopback takes megabytes into kernel buffers: change the big ACL (straight in the store, past
    // the REST body limit) until the non-readers' sockets push back and they stall.
    // (A paused client socket does not see the close until it reads, so the server side is watched.)
    for (let i = 1; i <= 80 && r.server.hub.stats().droppedStalled < 5; i++) {
      r.server.store.put('accessControlLists', 'big', acl('big', 1000, i));
      r.server.hub.publish();
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(r.server.hub.stats().droppedStalled).toBe(5);
    for (const s of stalled) s.socket.resume();
    await Promise.all(stalled.map((s) => s.closed));
    expect(r.server.hub.sessionCount).toBe(1);

    const reply = await api(r.url).put('hosts', 'h99', { providerAddresses: ['192.168.99.1'] });
    expect(reply.status).toBe(201);
    await eventually(() => revisions.includes(reply.body.revision), 10_000, 'the agent hears the change');
    expect(r.server.hub.stats().droppedStalled).toBe(5);
  });
});
