// A controller (or something posing as one) that sends garbage on the sync stream: the agent's
// client reports it, drops the stream and reconnects; it never throws and never hands on a view
// that is not a valid policy.
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { ControllerSync } from '../../src/agent/controller-sync.js';

const LINES = [
  'null',
  '{"type":"snapshot","revision":1,"digest":"x"}',
  '{"type":"delta","revision":2,"digest":"x","upsert":null}',
  '{"type":"snapshot","revision":3,"digest":"x","policy":{"hosts":"nope"}}',
  '[1,2,3]',
];

describe('controller sync client against malformed streams', () => {
  let server: http.Server | undefined;
  afterEach(() => server?.close());

  it('reports each bad message, never emits a policy, keeps reconnecting', async () => {
    let served = 0;
    server = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      res.end(LINES[served++ % LINES.length] + '\n');
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as { port: number }).port;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-sync-'));
    const sync = new ControllerSync({ controller: `http://127.0.0.1:${port}`, host: 'host1', cacheFile: path.join(dir, 'c.json'), minBackoffMs: 5, maxBackoffMs: 20 });
    const errors: string[] = [];
    let policies = 0;
    sync.on('error', (e) => errors.push(e.message));
    sync.on('policy', () => policies++);
    await sync.start();
    const deadline = Date.now() + 5000;
    while (served < LINES.length + 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await sync.stop();
    fs.rmSync(dir, { recursive: true, force: true });
    expect(served).toBeGreaterThan(LINES.length);
    expect(policies).toBe(0);
    expect(errors.some((e) => /without a type and revision/.test(e))).toBe(true);
    expect(errors.some((e) => /snapshot without a policy/.test(e))).toBe(true);
    expect(errors.some((e) => /delta without upsert/.test(e))).toBe(true);
    expect(errors.some((e) => /digest mismatch|invalid|cannot be applied/.test(e))).toBe(true);
  });
});
