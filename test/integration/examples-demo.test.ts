/**
 * Every policy in examples/ runs through `switchyard demo --policy` as a user would run it, and
 * passes with none of its probes blocked by the example's own policy (a policy that blocks them
 * gets the rule and the port named: lab-cmd.test.ts checks that on a standing lab, which is
 * cheaper than one more demo). The demos run two at a time (each in its own uniquely tagged
 * namespaces, one worker per agent, 1 s of iperf3) to keep the file short.
 */
import { describe, expect, it } from 'vitest';
import { execFile, spawn } from 'node:child_process';
import os from 'node:os';
import { namespacesWithTag } from '../../src/lab/topology.js';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT_ONLY } from '../helpers/prerequisites.js';

const BIN = path.resolve('bin/switchyard.js');
const EXAMPLES = fs.readdirSync('examples').filter((f) => /\.ya?ml$/.test(f)).sort();

// two demos at a time: more make agents wait for the CPU longer than anything is worth
let running = 0;
const waiting: (() => void)[] = [];
async function withSlot<T>(fn: () => Promise<T>): Promise<T> {
  if (running >= 2) await new Promise<void>((r) => waiting.push(r));
  running++;
  try {
    return await fn();
  } finally {
    running--;
    waiting.shift()?.();
  }
}

const demo = (policy: string) => withSlot(() => demoNow(policy));

/** Runs the demo and sends SIGINT once its output matches `at`; what it printed and how it ended. */
function interruptedDemo(at: RegExp): Promise<{ code: number | null; signal: string | null; out: string; err: string }> {
  return new Promise((resolve) => {
    // the old spelling --iperf-seconds on purpose: it must keep working
    const child = spawn(process.execPath, [BIN, 'demo', '--iperf-seconds', '1'], { env: { ...process.env, SWITCHYARD_WORKERS: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let sent = false;
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (!sent && at.test(out)) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('exit', (code, signal) => resolve({ code, signal, out, err }));
  });
}

function demoNow(policy: string): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, 'demo', '--policy', policy, '--seconds', '1'],
      { env: { ...process.env, SWITCHYARD_WORKERS: '1' }, timeout: 240_000 },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, out: stdout + stderr }),
    );
  });
}

describe('examples/ through switchyard demo --policy', ROOT_ONLY, () => {
  it('lists the examples', () => {
    expect(EXAMPLES).toContain('figure8-acl.yaml');
  });

  for (const f of EXAMPLES) {
    it.concurrent(`${f} passes the demo, nothing blocked by its own policy`, { timeout: 300_000 }, async () => {
      const r = await demo(path.join('examples', f));
      expect(r.out, r.out).toMatch(/\ndemo: OK\n?$/);
      expect(r.code).toBe(0);
      expect(r.out).not.toContain('blocked by policy');
      expect(r.out).not.toContain('the policy drops');
    });
  }

  // where one SIGINT in eight was once lost and the demo ran on to OK
  it.concurrent('SIGINT right after "agent host1 up": the demo stops, says so, and leaves nothing', { timeout: 300_000 }, async () => {
    const r = await withSlot(() => interruptedDemo(/agent host1 up/));
    const tag = /namespaces tagged (\w+)/.exec(r.out)?.[1];
    expect(tag).toBeDefined();
    expect(r.out).not.toContain('demo: OK');
    expect(r.code).toBe(130);
    expect(r.err.trim().split('\n').pop()).toBe('demo: interrupted; removed everything it had made');
    expect(await namespacesWithTag(tag!)).toEqual([]);
    expect(fs.readdirSync(os.tmpdir()).filter((d) => d.startsWith(`${tag!}-`))).toEqual([]);
  });
});
