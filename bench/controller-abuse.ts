/**
 * The controller under misbehaving clients (issue 16), three scenarios in this one process:
 *   replay   150 changes of a 600 KB ACL that host1 needs, then 10 sync attaches at once with
 *            `since=1`; a GET issued with them measures how long the loop was held.
 *   streams  N sync streams that never read (raw sockets, paused), then a GET.
 *   validate a virtual network with 8000 subnets PUT once, then a small PUT against that policy.
 * Prints the GET latency, the event loop's longest delay (perf_hooks), peak RSS and the PUT times.
 * Run: node --import tsx bench/controller-abuse.ts [replay|streams|validate|all] [streams=500 [maxPerHost [maxStreams]]]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { ControllerServer } from '../src/controller/server.js';
import { SqliteStore } from '../src/controller/sqlite-store.js';
import type { SyncLimits } from '../src/controller/sync-hub.js';
import { figure8Policy } from '../src/policy/figure8.js';

const TOKEN = 'bench-token';
const mb = (bytes: number): string => `${(bytes / 1048576).toFixed(0)} MB`;
const ms = (value: number): string => `${value.toFixed(0)} ms`;

async function call(url: string, method: string, route: string, body?: unknown): Promise<{ status: number; ms: number; text: string }> {
  const start = performance.now();
  const response = await fetch(`${url}${route}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, ms: performance.now() - start, text };
}

async function put(url: string, kind: string, name: string, body: unknown): Promise<number> {
  const reply = await call(url, 'PUT', `/networking/v1/${kind}/${name}`, body);
  if (reply.status >= 300) throw new Error(`PUT ${kind}/${name}: ${reply.status} ${reply.text.slice(0, 300)}`);
  return reply.ms;
}

async function seedFigure8(url: string): Promise<void> {
  const figure8 = figure8Policy();
  for (const kind of ['hosts', 'virtualNetworks', 'networkInterfaces'] as const) for (const item of figure8[kind]) await put(url, kind, item.name, item);
}

/** An ACL of about 600 KB (3000 rules); `variant` changes one rule so each PUT is a change. */
function bigAcl(variant: number): unknown {
  const aclRules = Array.from({ length: 3000 }, (_, i) => ({
    name: `rule-${i}-padding-to-make-the-acl-about-six-hundred-kilobytes`,
    protocol: 'TCP',
    sourceAddressPrefix: `10.${(i >> 8) & 255}.${i & 255}.0/24`,
    destinationAddressPrefix: '10.1.1.0/24',
    sourcePortRange: '*',
    destinationPortRange: String(i === 0 ? 1000 + variant : 1 + (i % 60000)),
    action: 'Allow',
    type: 'Inbound',
    priority: 100 + i,
  }));
  return { aclRules };
}

async function withController<T>(name: string, fn: (server: ControllerServer, url: string) => Promise<T>, sync: SyncLimits = {}): Promise<T> {
  const dir = mkdtempSync(path.join(tmpdir(), 'switchyard-abuse-'));
  const server = new ControllerServer({ store: new SqliteStore(path.join(dir, `${name}.db`)), token: TOKEN, heartbeatMs: 5000, sync });
  try {
    const { url } = await server.listen('127.0.0.1', 0);
    return await fn(server, url);
  } finally {
    await server.close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Open a sync stream and resolve with the status line and the bytes of the first message. */
function attach(url: string, query: string): Promise<{ status: string; bytes: number }> {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), '127.0.0.1');
    let text = '';
    socket.setEncoding('latin1');
    socket.on('connect', () => socket.write(`GET /networking/v1/sync?${query} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${TOKEN}\r\n\r\n`));
    socket.on('data', (chunk: string) => {
      text += chunk;
      const head = text.indexOf('\r\n\r\n');
      const status = text.slice(0, text.indexOf('\r\n'));
      // A message is one JSON line: it ends with "}\n" (chunk-size lines end with "\r\n").
      if (head >= 0 && (!status.includes(' 200 ') || text.indexOf('}\n', head) >= 0)) {
        socket.destroy();
        resolve({ status, bytes: text.length - head });
      }
    });
    socket.on('error', reject);
    socket.on('close', () => resolve({ status: text.slice(0, text.indexOf('\r\n')), bytes: text.length }));
  });
}

async function replay(): Promise<void> {
  await withController('replay', async (server, url) => {
    await seedFigure8(url);
    await put(url, 'accessControlLists', 'big', bigAcl(0));
    const contoso = figure8Policy().virtualNetworks[0] as { subnets: object[] };
    await put(url, 'virtualNetworks', 'contoso', { ...contoso, subnets: [{ ...(contoso.subnets[0] as object), accessControlList: 'big' }] });
    const seedStart = performance.now();
    for (let i = 1; i <= 150; i++) await put(url, 'accessControlLists', 'big', bigAcl(i));
    console.log(`replay: 150 PUTs of a 600 KB ACL took ${ms(performance.now() - seedStart)}; store revision ${server.store.revision()}`);
    const histogram = monitorEventLoopDelay({ resolution: 10 });
    histogram.enable();
    const rssBefore = process.memoryUsage().rss;
    const start = performance.now();
    const attaches = Array.from({ length: 10 }, () => attach(url, 'host=host1&since=1'));
    let finished = false;
    const all = Promise.all(attaches).finally(() => (finished = true));
    // GETs one after another while the attaches are served: the slowest shows how long the loop was held.
    let slowest = 0;
    while (!finished) {
      slowest = Math.max(slowest, (await call(url, 'GET', '/networking/v1')).ms);
      await new Promise((r) => setTimeout(r, 20));
    }
    const got = { ms: slowest };
    const results = await all;
    const allDone = performance.now() - start;
    histogram.disable();
    console.log(
      `replay: 10 attaches with since=1: all answered in ${ms(allDone)} (${results.map((r) => r.status.split(' ')[1]).join(',')}, first message ${(results[0]?.bytes ?? 0) >> 10} KB)\n` +
        `  slowest concurrent GET /networking/v1: ${ms(got.ms)}; event loop delay max ${ms(histogram.max / 1e6)}, p99 ${ms(histogram.percentile(99) / 1e6)}\n` +
        `  RSS before ${mb(rssBefore)}, after ${mb(process.memoryUsage().rss)}, peak ${mb(process.resourceUsage().maxRSS * 1024)}`,
    );
    const one = performance.now();
    await attach(url, 'host=host1&since=1');
    console.log(`replay: one attach alone: ${ms(performance.now() - one)}`);
  });
}

async function streams(count: number, sync: SyncLimits): Promise<void> {
  await withController('streams', async (server, url) => {
    await seedFigure8(url);
    await put(url, 'accessControlLists', 'big', bigAcl(0));
    const contoso = figure8Policy().virtualNetworks[0] as { subnets: object[] };
    await put(url, 'virtualNetworks', 'contoso', { ...contoso, subnets: [{ ...(contoso.subnets[0] as object), accessControlList: 'big' }] });
    const { port } = new URL(url);
    const rssBefore = process.memoryUsage().rss;
    const sockets: net.Socket[] = [];
    const statuses = new Map<string, number>();
    for (let i = 0; i < count; i++) {
      const socket = net.connect(Number(port), '127.0.0.1');
      socket.on('error', () => undefined);
      socket.once('data', (chunk: Buffer) => {
        const status = chunk.toString('latin1', 9, 12);
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
        socket.pause(); // and never read again
      });
      socket.write(`GET /networking/v1/sync?host=host${1 + (i % 2)} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${TOKEN}\r\n\r\n`);
      sockets.push(socket);
    }
    const deadline = Date.now() + 20000;
    while ([...statuses.values()].reduce((a, b) => a + b, 0) < count && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    // A few changes that every stream must hear, then a GET.
    for (let i = 1; i <= 3; i++) await put(url, 'accessControlLists', 'big', bigAcl(i));
    await new Promise((r) => setTimeout(r, 500));
    const gets: number[] = [];
    for (let i = 0; i < 5; i++) gets.push((await call(url, 'GET', '/networking/v1/hosts')).ms);
    const queued = (server.hub as unknown as { sessions: Set<{ res: { writableLength: number } }> }).sessions;
    let bytes = 0;
    for (const session of queued) bytes += session.res.writableLength;
    console.log(
      `streams: ${count} never-reading sync streams: replies ${JSON.stringify(Object.fromEntries(statuses))}, sessions open ${server.hub.sessionCount}\n` +
        `  bytes queued in the controller for them: ${mb(bytes)}; GET /hosts: max ${ms(Math.max(...gets))}\n` +
        `  RSS before ${mb(rssBefore)}, after ${mb(process.memoryUsage().rss)}, peak ${mb(process.resourceUsage().maxRSS * 1024)}`,
    );
    for (const socket of sockets) socket.destroy();
  }, sync);
}

async function validate(): Promise<void> {
  await withController('validate', async (_server, url) => {
    await seedFigure8(url);
    const subnets = Array.from({ length: 8000 }, (_, i) => ({ name: `s${i}`, vsid: 10000 + i, addressPrefix: `10.${100 + (i >> 12)}.${(i >> 4) & 255}.${(i & 15) * 16}/28` }));
    const first = await put(url, 'virtualNetworks', 'wide', { addressPrefixes: ['10.0.0.0/8'], subnets });
    const small: number[] = [];
    for (let i = 0; i < 5; i++) small.push(await put(url, 'hosts', 'host9', { providerAddresses: [`192.168.9.${10 + i}`] }));
    small.sort((a, b) => a - b);
    console.log(`validate: PUT of a network with 8000 subnets: ${ms(first)}; then a PUT of one host (whole policy checked): median ${ms(small[2] as number)}`);
  });
}

const which = process.argv[2] ?? 'all';
if (which === 'replay' || which === 'all') await replay();
// [streams N [maxPerHost [maxStreams]]]: raise the caps to see the backpressure alone.
const limit = (index: number): number | undefined => (process.argv[index] === undefined ? undefined : Number(process.argv[index]));
const caps: SyncLimits = {};
if (limit(4) !== undefined) caps.maxPerHost = limit(4) as number;
if (limit(5) !== undefined) caps.maxStreams = limit(5) as number;
if (which === 'streams' || which === 'all') await streams(Number(process.argv[3] ?? 500), caps);
if (which === 'validate' || which === 'all') await validate();
