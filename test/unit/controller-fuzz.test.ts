// A fast-check fuzz of the REST API with the client as the attacker: random methods, paths, content
// types, tokens and bodies (random JSON, truncated JSON, huge numbers, deep nesting, mutated real
// resources, bodies cut short on the wire), plus sync streams that never read. After every request
// the controller has answered without a 5xx, a refused request left the store exactly as it was,
// the sync streams stay within their caps and queues, and the controller still answers a GET.
import net from 'node:net';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { figure8Policy } from '../../src/policy/figure8.js';
import type { Running } from './controller-fixture.js';
import { TOKEN, dumpStore, seedFigure8, startController, tempDir } from './controller-fixture.js';

let tmp: ReturnType<typeof tempDir>;
let running: Running;
const LIMITS = { maxStreams: 12, maxPerHost: 3, stallMs: 200 };

beforeAll(async () => {
  tmp = tempDir();
  running = await startController(path.join(tmp.dir, 'store.db'), { heartbeatMs: 50, bodyLimit: 256 * 1024, sync: LIMITS });
  await seedFigure8(running.url);
});

afterAll(async () => {
  await running.server.close();
  tmp.cleanup();
});

interface Answer {
  status: number;
  body: string;
}

/** One raw HTTP/1.1 request on its own connection; `cut` sends only that many body bytes, then closes. */
function raw(method: string, target: string, headers: Record<string, string>, body: string | undefined, cut?: number): Promise<Answer> {
  return new Promise((resolve) => {
    const socket = net.connect(running.port, '127.0.0.1');
    const bytes = body === undefined ? undefined : Buffer.from(body);
    const head = [`${method} ${target} HTTP/1.1`, 'host: fuzz', 'connection: close', ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
    if (bytes !== undefined) head.push(`content-length: ${bytes.length}`);
    let text = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (text += chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      const status = Number(text.slice(9, 12)) || 0;
      resolve({ status, body: text.slice(text.indexOf('\r\n\r\n') + 4) });
    });
    socket.write(`${head.join('\r\n')}\r\n\r\n`);
    if (bytes !== undefined) {
      if (cut === undefined) socket.write(bytes);
      else socket.end(bytes.subarray(0, Math.min(cut, Math.max(0, bytes.length - 1))));
    }
  });
}

const figure8 = figure8Policy();
const realResources = [
  ...figure8.hosts.map((item) => ['hosts', item] as const),
  ...figure8.virtualNetworks.map((item) => ['virtualNetworks', item] as const),
  ...figure8.networkInterfaces.map((item) => ['networkInterfaces', item] as const),
];

const deep = fc.tuple(fc.integer({ min: 60, max: 20_000 }), fc.boolean()).map(([depth, arrays]) =>
  arrays ? `${'['.repeat(depth)}${']'.repeat(depth)}` : `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`,
);
const hugeNumber = fc.constantFrom('1e400', '-1e400', '123456789012345678901234567890', '0.' + '9'.repeat(500), '1'.repeat(5000));
const mutated = fc.tuple(fc.constantFrom(...realResources), fc.string({ maxLength: 12 }), fc.oneof(fc.jsonValue({ maxDepth: 3 }), hugeNumber.map(Number))).map(([[, item], key, value]) => {
  const copy: Record<string, unknown> = { ...item };
  const keys = Object.keys(copy);
  copy[keys.length > 0 && key.length % 2 === 0 ? (keys[key.length % keys.length] as string) : key] = value;
  return JSON.stringify(copy);
});
const body = fc.oneof(
  fc.jsonValue({ maxDepth: 4 }).map((value) => JSON.stringify(value)),
  fc.constantFrom(...realResources).chain(([, item]) => fc.nat().map((cut) => JSON.stringify(item).slice(0, cut % (JSON.stringify(item).length + 1)))),
  hugeNumber.map((n) => `{"providerAddresses":["192.168.9.9"],"vsid":${n}}`),
  deep,
  mutated,
  fc.string({ maxLength: 200 }),
  fc.uint8Array({ maxLength: 200 }).map((bytes) => Buffer.from(bytes).toString('latin1')),
);

const request = fc.record({
  method: fc.constantFrom('PUT', 'PUT', 'PUT', 'DELETE', 'GET', 'POST', 'PATCH'),
  kind: fc.constantFrom('hosts', 'virtualNetworks', 'networkInterfaces', 'accessControlLists', 'nope', 'sync'),
  id: fc.oneof(fc.constantFrom('host1', 'host3', 'contoso', 'contoso-web', 'x'), fc.string({ maxLength: 20 }).map(encodeURIComponent)),
  contentType: fc.constantFrom('application/json', 'application/json; charset=utf-8', 'text/plain', 'application/yaml', 'application/x-www-form-urlencoded', undefined, 'application/json; charset=latin1'),
  token: fc.constantFrom(TOKEN, TOKEN, TOKEN, 'wrong', undefined),
  body: fc.option(body, { nil: undefined }),
  cut: fc.option(fc.nat({ max: 300 }), { nil: undefined, freq: 5 }),
});

const syncOpen = fc.record({ sync: fc.constant(true), host: fc.constantFrom('host1', 'host2', 'nobody', '') , since: fc.option(fc.integer({ min: -5, max: 100 }), { nil: undefined }) });

/** A sync stream opened and never read (kept open until the end of the run). */
function neverReading(query: string, open: net.Socket[]): void {
  const socket = net.connect(running.port, '127.0.0.1');
  socket.on('error', () => undefined);
  socket.once('data', () => socket.pause());
  socket.write(`GET /networking/v1/sync?${query} HTTP/1.1\r\nhost: fuzz\r\nauthorization: Bearer ${TOKEN}\r\n\r\n`);
  open.push(socket);
}

describe('REST API fuzz', () => {
  it('never a 5xx; refused requests leave the store unchanged; streams capped; still answering', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.oneof({ arbitrary: request, weight: 5 }, { arbitrary: syncOpen, weight: 1 }), { minLength: 1, maxLength: 25 }), async (steps) => {
        const open: net.Socket[] = [];
        try {
          for (const step of steps) {
            if ('sync' in step) {
              neverReading(`host=${encodeURIComponent(step.host)}${step.since === undefined ? '' : `&since=${step.since}`}`, open);
              continue;
            }
            const before = dumpStore(running.server);
            const headers: Record<string, string> = {};
            if (step.contentType !== undefined && step.body !== undefined) headers['content-type'] = step.contentType;
            if (step.token !== undefined) headers.authorization = `Bearer ${step.token}`;
            const target = step.kind === 'sync' ? `/networking/v1/sync?host=${step.id}` : `/networking/v1/${step.kind}/${step.id}`;
            if (step.kind === 'sync' && step.method === 'GET') continue; // streams are the other step
            const answer = await raw(step.method, target, headers, step.body, step.cut);
            expect(answer.status, `${step.method} ${target} -> ${answer.status} ${answer.body.slice(0, 200)}`).toBeLessThan(500);
            if (answer.status === 0) {
              // Cut short on the wire: the server never got a whole request.
              expect(step.cut).toBeDefined();
            }
            if (answer.status === 0 || answer.status >= 300) expect(dumpStore(running.server)).toBe(before);
            if (answer.status >= 400) expect(JSON.parse(answer.body), answer.body).toHaveProperty('code');
          }
          await new Promise((resolve) => setTimeout(resolve, 20));
          const stats = running.server.hub.stats();
          expect(stats.sessions).toBeLessThanOrEqual(LIMITS.maxStreams);
          expect(stats.maxSessionQueue).toBeLessThanOrEqual(64 * 1024 + 256);
          const alive = await fetch(`${running.url}/networking/v1`, { headers: { authorization: `Bearer ${TOKEN}` } });
          expect(alive.status).toBe(200);
        } finally {
          for (const socket of open) socket.destroy();
        }
      }),
      { numRuns: 60 },
    );
  });
});
