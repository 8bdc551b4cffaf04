/**
 * `switchyard capture` when the open fails: a filter libpcap cannot parse is named in the error,
 * an unknown device too, the exit status says it failed, the process ends normally (the cap
 * package's handle of a failed open used to abort the process in uv_poll_stop), and no file is
 * left. Runs in a namespace of its own on its loopback device.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT_ONLY } from '../helpers/prerequisites.js';
import { newTag, removeNamespaces } from '../../src/lab/topology.js';
import { run } from '../../src/lab/run.js';

const BIN = path.resolve('bin/switchyard.js');

interface Exit { code: number | null; signal: string | null; stdout: string; stderr: string }

/** node with `args` in namespace `ns`: how it ended (a signal, e.g. SIGABRT, or an exit code) and what it said. */
function nodeIn(ns: string, args: string[]): Promise<Exit> {
  return new Promise((resolve) => {
    execFile('ip', ['netns', 'exec', ns, process.execPath, ...args], { timeout: 60_000 }, (err, stdout, stderr) => {
      const e = err as (Error & { code?: number | string; signal?: string }) | null;
      resolve({ code: e ? (typeof e.code === 'number' ? e.code : null) : 0, signal: e?.signal ?? null, stdout, stderr });
    });
  });
}

const captureIn = (ns: string, args: string[]) => nodeIn(ns, [BIN, 'capture', ...args]);

describe('switchyard capture: a failed open', ROOT_ONLY, () => {
  const ns = `${newTag('sycap')}-ns`;
  let dir = '';
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-capture-'));
    await run('ip', ['netns', 'add', ns]);
    await run('ip', ['netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up']);
  });
  afterAll(async () => {
    await removeNamespaces([ns]);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('names a filter libpcap cannot parse, fails with status 1, does not abort, leaves no file', async () => {
    const file = path.join(dir, 'bad-filter.pcap');
    const r = await captureIn(ns, ['--dev', 'lo', '--filter', 'udp port', '-w', file]);
    expect(r.signal).toBeNull();
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('filter "udp port" on lo');
    expect(r.stderr).not.toMatch(/Assertion|uv_poll_stop|Aborted|core dumped/);
    expect(fs.existsSync(file)).toBe(false);
  });

  it('names a device that is not there, fails with status 1, does not abort', async () => {
    const file = path.join(dir, 'no-dev.pcap');
    const r = await captureIn(ns, ['--dev', 'nosuch0', '--filter', 'udp port 4789', '-w', file]);
    expect(r.signal).toBeNull();
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/cannot open nosuch0: .*(No such device|doesn't exist)/);
    expect(r.stderr).not.toMatch(/Assertion|uv_poll_stop|Aborted|core dumped/);
    expect(fs.existsSync(file)).toBe(false);
  });

  it('survives garbage collection after a failed open (the handle that aborted in uv_poll_stop)', async () => {
    const file = path.join(dir, 'gc.pcap');
    const mod = path.resolve('dist/io/capture.js');
    const js = `import(${JSON.stringify(mod)}).then(async ({ Capture }) => {
      try { new Capture({ device: 'lo', filter: 'udp port', file: ${JSON.stringify(file)} }); } catch (e) { console.log('error: ' + e.message); }
      for (let i = 0; i < 3; i++) { globalThis.gc(); await new Promise((r) => setTimeout(r, 50)); }
      console.log('alive');
    })`;
    const r = await nodeIn(ns, ['--expose-gc', '-e', js]);
    expect(r.stdout).toContain('error: capture: filter "udp port" on lo');
    expect(r.signal).toBeNull();
    expect(r.stdout).toContain('alive');
    expect(r.code).toBe(0);
  });

  it('still captures with a good filter (the same path up to the open)', async () => {
    const file = path.join(dir, 'good.pcap');
    const r = await captureIn(ns, ['--dev', 'lo', '--filter', 'udp port 4789', '-w', file, '--seconds', '1']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('capturing on lo (udp port 4789)');
    expect(fs.statSync(file).size).toBe(24); // the pcap file header, no frames
  });
});
