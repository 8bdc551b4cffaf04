// The TAP steering program must load while signals rain on the loading thread (root). The
// verifier gives up with EAGAIN when a signal is pending; V8's CPU profiler sends its thread
// SIGPROF every sampling interval, so `node --cpu-prof` could not start an agent with two ports
// (native-bindings/src/steer.cc blocks signals for the load). A child node, profiled at a 50 us
// interval, opens a TAP in a namespace of this test's own and loads the program 40 times.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tapSteeringProgram } from '../../src/io/steering.js';
import { netnsAdd, netnsDelete } from '../../src/io/netdev.js';
import { runIn } from '../../src/lab/run.js';
import { ROOT_ONLY } from '../helpers/prerequisites.js';

const ADDON = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../native-bindings/build/Release/switchyard_native.node');

describe('TAP steering program under a CPU profiler', ROOT_ONLY, () => {
  const ns = `sysig${process.pid % 100000}`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-sig-'));
  beforeAll(async () => {
    await netnsAdd(ns);
  });
  afterAll(async () => {
    await netnsDelete(ns).catch(() => undefined);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('loads every time with SIGPROF every 50 us', async () => {
    const prog = Buffer.from(tapSteeringProgram(2)).toString('hex');
    const script = `
      const n = require(${JSON.stringify(ADDON)});
      const insns = Buffer.from(${JSON.stringify(prog)}, 'hex');
      const q = n.tapOpen('sysig0', { multiQueue: true });
      let ok = 0;
      const errs = [];
      for (let i = 0; i < 40; i++) {
        try { n.tapSetSteeringEbpf(q.fd, insns); ok++; } catch (e) { errs.push(e.code + ' ' + e.message.slice(0, 80)); }
      }
      n.close(q.fd);
      console.log(JSON.stringify({ ok, errs: errs.slice(0, 3) }));`;
    const r = await runIn(ns, process.execPath, ['--cpu-prof', `--cpu-prof-dir=${dir}`, '--cpu-prof-interval=50', '-e', script]);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { ok: number; errs: string[] };
    expect(out.errs).toEqual([]);
    expect(out.ok).toBe(40);
  });
});
