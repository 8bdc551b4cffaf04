/**
 * The ceiling of NVGRE through a raw IP socket here (issue 13): `bench/tap-floor/gre-blast.c` sends
 * prebuilt NVGRE packets (1450-byte inner frames) from host1's raw GRE socket as fast as sendmmsg
 * goes, and counts what host2's raw socket receives, in the Figure 8 lab; each round runs the
 * kernel's VXLAN tcp-1 first, and the ratio is taken within the round. No TAP, no tenant TCP, no
 * segmentation or checksum: any NVGRE path through a raw socket does all of this and more.
 * Root. `npx tsx bench/gre-floor.ts [seconds=4] [rounds=3] [--json]`
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { withKernel } from '../src/cli/bench.js';
import { run } from '../src/lab/run.js';
import { createFigure8Lab } from '../src/lab/topology.js';
import { figure8Policy } from '../src/policy/figure8.js';

const json = process.argv.includes('--json');
const argv = process.argv.slice(2).filter((a) => a !== '--json');
const seconds = Number(argv[0] ?? 4);
const rounds = Number(argv[1] ?? 3);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gre-floor-'));
const bin = path.join(dir, 'gre-blast');
await run('gcc', ['-O2', '-Wall', '-o', bin, path.join(import.meta.dirname, 'tap-floor', 'gre-blast.c')]);

function blast(args: string[]): Promise<{ bytes: number; cpu: number; wall: number }> {
  return new Promise((resolve, reject) => {
    const p = spawn(bin, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.once('exit', () => {
      try {
        resolve(JSON.parse(out) as { bytes: number; cpu: number; wall: number });
      } catch {
        reject(new Error(`gre-blast ${args[0]} gave ${out}`));
      }
    });
  });
}

const median = (v: number[]) => [...v].sort((x, y) => x - y)[Math.floor(v.length / 2)] ?? NaN;
const ratios: number[] = [];
const gbps: number[] = [];
try {
  for (let i = 0; i < rounds; i++) {
    const k = await withKernel(figure8Policy(), seconds, new Set(['tcp1']));
    const lab = await createFigure8Lab();
    try {
      const [h1, h2] = lab.hosts;
      const recv = blast(['recv', h2.ns, String(seconds + 1)]);
      await new Promise((r) => setTimeout(r, 300));
      const sent = await blast(['send', h1.ns, h1.pa, h2.pa, String(seconds)]);
      const got = await recv;
      const g = (got.bytes * 8) / 1e9 / sent.wall;
      gbps.push(g);
      ratios.push(g / k.tcp1);
      (json ? console.error : console.log)(
        `round ${i + 1}: kernel VXLAN tcp-1 ${k.tcp1.toFixed(2)} Gbit/s | raw GRE delivered ${g.toFixed(2)} Gbit/s of inner frames (${(g / k.tcp1).toFixed(3)}x), sent ${((sent.bytes * 8) / 1e9 / sent.wall).toFixed(2)}, sender cpu ${(sent.cpu / sent.wall).toFixed(2)} core`,
      );
    } finally {
      await lab.destroy();
    }
  }
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
if (json) console.log(JSON.stringify({ rounds, seconds, medians: { 'raw GRE delivered / kernel VXLAN tcp-1': median(ratios), 'raw GRE delivered Gbit/s': median(gbps) } }));
else console.log(`median: raw GRE ${median(gbps).toFixed(2)} Gbit/s delivered, ${median(ratios).toFixed(3)}x the kernel's VXLAN tcp-1 (runs ${ratios.map((r) => r.toFixed(3)).join(', ')})`);
