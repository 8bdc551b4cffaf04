// fast-check fuzz of the control socket (issue 16): random bytes, random and truncated JSON lines,
// clients that go away mid-request or never read. The server answers every complete line with
// one JSON reply ({ok, ...}), never crashes, and keeps answering other clients.
import fc from 'fast-check';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startControlServer, type ControlServer } from '../../src/agent/control-server.js';
import { controlRequest } from '../../src/agent/control-client.js';

let dir = '';
let socket = '';
let server: ControlServer;
let handled = 0;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-ctl-fuzz-'));
  socket = path.join(dir, 'agent.sock');
  server = await startControlServer(socket, (req) => {
    handled++;
    if (req.op === 'ping') return 'pong';
    if (req.op === 'stats') return { big: 'y'.repeat(20_000) };
    throw new Error(`unknown op "${req.op}"`);
  });
});
afterAll(async () => {
  await server.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const request = fc.oneof(
  fc.constantFrom('{"op":"ping"}', '{"op":"stats"}', '{"op":"trace","port":"p"}', '{}', 'null', '[]', '"op"', '{"op":1}'),
  fc.json(),
  fc.string({ maxLength: 200 }),
  fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b).toString('latin1')),
);

/** One client: sends its lines (the last maybe cut short), then reads, half-closes or vanishes. */
const client = fc.record({
  lines: fc.array(request.map((r) => r.replace(/\n/g, ' ')), { minLength: 1, maxLength: 30 }),
  truncateLast: fc.nat({ max: 20 }),
  ending: fc.constantFrom('read', 'destroy', 'never-read'),
});

function exchange(c: { lines: string[]; truncateLast: number; ending: string }): Promise<{ replies: string[]; complete: number }> {
  return new Promise((resolve, reject) => {
    const conn = net.createConnection(socket);
    const last = c.lines[c.lines.length - 1]!;
    const cut = c.truncateLast > 0 && c.truncateLast < last.length;
    const body = c.lines.slice(0, -1).map((l) => l + '\n').join('') + (cut ? last.slice(0, c.truncateLast) : last + '\n');
    const complete = c.lines.length - (cut ? 1 : 0);
    let buf = '';
    conn.setEncoding('utf8');
    conn.on('error', reject);
    conn.on('data', (d: string) => (buf += d));
    conn.on('connect', () => {
      if (c.ending === 'never-read') conn.pause();
      conn.write(body);
      if (c.ending === 'destroy') {
        conn.destroy();
        resolve({ replies: [], complete: 0 });
      } else if (c.ending === 'never-read') {
        setImmediate(() => {
          conn.destroy();
          resolve({ replies: [], complete: 0 });
        });
      } else {
        conn.end();
      }
    });
    conn.on('end', () => resolve({ replies: buf.split('\n').filter((l) => l !== ''), complete }));
  });
}

describe('control socket fuzz', () => {
  it('every complete line gets one JSON reply; the server keeps answering', async () => {
    await fc.assert(
      fc.asyncProperty(client, async (c) => {
        const { replies, complete } = await exchange(c);
        if (c.ending === 'read') {
          expect(replies.length).toBe(complete);
          for (const r of replies) {
            const parsed = JSON.parse(r) as { ok: unknown; error?: unknown };
            expect(typeof parsed.ok).toBe('boolean');
            if (parsed.ok === false) expect(typeof parsed.error).toBe('string');
          }
        }
        expect(await controlRequest(socket, { op: 'ping' })).toBe('pong');
      }),
      { numRuns: 150, seed: 16 },
    );
    expect(handled).toBeGreaterThan(150);
  });
});
