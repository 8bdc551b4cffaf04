// The agent's sync client against a controller (or something posing as one) that sends a line
// without end, and a policy cache whose directory has a planted symlink (issue 16).
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { ControllerSync } from '../../src/agent/controller-sync.js';
import { sortView, viewDigest } from '../../src/agent/controller-sync-protocol.js';
import { figure8Policy } from '../../src/policy/figure8.js';
import { checkPrivateDir, writeFileSafely } from '../../src/agent/safe-file.js';

const servers: http.Server[] = [];
const dirs: string[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-trust-'));
  dirs.push(d);
  return d;
}

async function listen(handler: http.RequestListener): Promise<number> {
  const server = http.createServer(handler);
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return (server.address() as { port: number }).port;
}

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500 && !check(); i++) await new Promise((r) => setTimeout(r, 20));
  if (!check()) throw new Error(`never: ${what}`);
}

describe('controller sync: bounded lines', () => {
  it('drops a stream whose line never ends, counts it, and reconnects', async () => {
    let requests = 0;
    let sentChars = 0;
    const port = await listen((req, res) => {
      requests++;
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      res.write('{"type":"snapshot","revision":1,"digest":"');
      const chunk = 'x'.repeat(16 * 1024);
      // an endless line: write whenever the socket takes more, until the client goes
      const pump = (): void => {
        while (!res.destroyed && !req.destroyed) {
          sentChars += chunk.length;
          if (!res.write(chunk)) {
            res.once('drain', pump);
            return;
          }
        }
      };
      res.on('error', () => undefined);
      pump();
    });
    const sync = new ControllerSync({
      controller: `http://127.0.0.1:${port}`, host: 'host1', cacheFile: path.join(tempDir(), 'c.json'),
      maxLineLength: 256 * 1024, minBackoffMs: 5, maxBackoffMs: 20,
    });
    const errors: string[] = [];
    sync.on('error', (e) => errors.push(e.message));
    await sync.start();
    await until(() => requests >= 2, 'a reconnect after the endless line');
    await sync.stop();
    expect(sync.counters.lineTooLong).toBeGreaterThanOrEqual(1);
    expect(errors[0]).toBe('controller sent a line longer than 262144 characters: stream dropped');
    expect(sentChars).toBeGreaterThan(256 * 1024);
  });
});

describe('policy cache: written safely', () => {
  it('does not follow a symlink planted at the temp name, and leaves its target alone', async () => {
    const view = sortView(figure8Policy());
    const digest = viewDigest(view);
    const port = await listen((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      res.write(JSON.stringify({ type: 'snapshot', revision: 7, digest, policy: view, heartbeatMs: 5000 }) + '\n');
    });
    const dir = tempDir();
    const victimDir = tempDir();
    const victim = path.join(victimDir, 'passwd');
    fs.writeFileSync(victim, 'root:x:0:0\n');
    const cacheFile = path.join(dir, 'host1.policy.json');
    // the names an attacker can guess: today's `<cache>.tmp`
    fs.symlinkSync(victim, `${cacheFile}.tmp`);
    const sync = new ControllerSync({ controller: `http://127.0.0.1:${port}`, host: 'host1', cacheFile, minBackoffMs: 5, maxBackoffMs: 20 });
    sync.on('error', () => undefined);
    sync.on('policy', (_policy, revision) => sync.accepted(revision));
    await sync.start();
    await until(() => fs.existsSync(cacheFile), 'the cache file');
    await sync.stop();
    expect(fs.readFileSync(victim, 'utf8')).toBe('root:x:0:0\n');
    const cached = JSON.parse(fs.readFileSync(cacheFile, 'utf8')) as { revision: number };
    expect(cached.revision).toBe(7);
    expect(fs.statSync(cacheFile).mode & 0o777).toBe(0o600);
    // the planted link is still a link (never written through), and no temp file is left
    expect(fs.lstatSync(`${cacheFile}.tmp`).isSymbolicLink()).toBe(true);
    expect(fs.readdirSync(dir).sort()).toEqual(['host1.policy.json', 'host1.policy.json.tmp']);
  });

  it('refuses a cache directory others can write, or one that is a symlink', async () => {
    const open = tempDir();
    fs.chmodSync(open, 0o777);
    await expect(writeFileSafely(path.join(open, 'c.json'), '{}')).rejects.toThrow(/writable by group or others \(mode 777\)/);
    expect(fs.readdirSync(open)).toEqual([]);
    const real = tempDir();
    const link = path.join(tempDir(), 'link');
    fs.symlinkSync(real, link);
    await expect(checkPrivateDir(link)).rejects.toThrow(/is not a directory \(a symlink\?\)/);
    // a missing directory is made private
    const fresh = path.join(tempDir(), 'a', 'b');
    await writeFileSafely(path.join(fresh, 'c.json'), '{}');
    expect(fs.statSync(fresh).mode & 0o777).toBe(0o700);
  });
});
