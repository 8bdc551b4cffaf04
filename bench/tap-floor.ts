/**
 * The floor of a switch whose ports are TAPs (issues 13 and 14), against the kernel bridge and
 * switchyard in one run: `bench/tap-floor/tap-floor.c` (C, no engine) moves every frame between two
 * TAPs with one read and one write, the least any userspace TAP switch does; each round runs one
 * iperf3 TCP stream port to port on the kernel bridge (veth ports), on the C floor in each of its
 * modes, and on switchyard's Internal switch, one after another, so a ratio within a round shares
 * the machine's load. Root. `npx tsx bench/tap-floor.ts [seconds=5] [rounds=3] [modes=sys/1,uring/1,uring/2] [--json]`
 * (`--json`: a last line with the medians, for `make bench`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { iperf3, ping } from '../src/lab/probes.js';
import { run, runIn } from '../src/lab/run.js';
import { newTag, removeNamespaces } from '../src/lab/topology.js';
import { kernelBridgeLab } from '../src/lab/vswitch-bench.js';
import { addressVms, createSwitchLab, switchLabPolicy } from '../src/lab/vswitch.js';

const json = process.argv.includes('--json');
const argv = process.argv.slice(2).filter((a) => a !== '--json');
const seconds = Number(argv[0] ?? 5);
const rounds = Number(argv[1] ?? 3);
const modes = (argv[2] ?? 'sys/1,uring/1,uring/2').split(',');

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tap-floor-'));
const bin = path.join(dir, 'tap-floor');
await run('gcc', ['-O2', '-Wall', '-o', bin, path.join(import.meta.dirname, 'tap-floor', 'tap-floor.c'), '-l:liburing.a', '-lpthread']);

interface FloorRun {
  gbps: number;
  cpuPerGB: number;
  framesPerWakeup: number;
  bytesPerFrame: number;
}

/** One iperf3 stream a -> b through the C floor in `mode` ("sys/1"): a fresh process per run. */
async function floor(a: string, b: string, mode: string): Promise<FloorRun> {
  const [io, threads] = mode.split('/') as [string, string];
  const p: ChildProcess = spawn(bin, [a, b, 'eth0', io, threads], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  p.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((r) => p.once('exit', () => r()));
  try {
    for (let i = 0; !out.includes('ready'); i++) {
      if (i > 100 || p.exitCode !== null) throw new Error(`tap-floor did not start: ${out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    for (const [ns, addr] of [[a, '172.30.0.10/24'], [b, '172.30.0.11/24']] as const) {
      await runIn(ns, 'ip', ['link', 'set', 'eth0', 'mtu', '1450', 'up']);
      await runIn(ns, 'ip', ['addr', 'add', addr, 'dev', 'eth0']);
    }
    // the TAPs came up a moment ago: the first ARP exchange before iperf3's connect
    await ping(a, '172.30.0.11', 3, 0.2);
    const r = await iperf3(b, a, '172.30.0.11', seconds);
    p.kill('SIGTERM');
    await exited;
    const s = JSON.parse(out.slice(out.indexOf('{'))) as { frames: number; bytes: number; wakeups: number; cpu: number };
    return { gbps: r.gbps, cpuPerGB: s.cpu / (s.bytes / 1e9), framesPerWakeup: s.frames / Math.max(1, s.wakeups), bytesPerFrame: s.bytes / Math.max(1, s.frames) };
  } finally {
    if (p.exitCode === null) p.kill('SIGKILL');
    await exited;
  }
}

const tag = newTag('tf');
const fa = `${tag}-a`;
const fb = `${tag}-b`;
const kb = await kernelBridgeLab();
const lab = await createSwitchLab();
const rows: Record<string, number[]> = {};
const add = (k: string, v: number) => (rows[k] ??= []).push(v);
try {
  for (const n of [fa, fb]) {
    await run('ip', ['netns', 'add', n]);
    await runIn(n, 'ip', ['link', 'set', 'lo', 'up']);
  }
  await lab.start(switchLabPolicy());
  await addressVms(lab);
  for (let i = 0; i < rounds; i++) {
    const bridge = (await iperf3(kb.d, kb.c, '172.30.0.11', seconds)).gbps;
    add('kernel bridge', bridge);
    const line = [`round ${i + 1}: bridge ${bridge.toFixed(2)}`];
    for (const m of modes) {
      const f = await floor(fa, fb, m);
      add(`floor ${m}`, f.gbps / bridge);
      add(`floor ${m} cpu-s/GB`, f.cpuPerGB);
      add(`floor ${m} frames/wake-up`, f.framesPerWakeup);
      add(`floor ${m} bytes/frame`, f.bytesPerFrame);
      line.push(`floor ${m} ${f.gbps.toFixed(2)} (${(f.gbps / bridge).toFixed(3)}x, ${f.cpuPerGB.toFixed(2)} cpu-s/GB, ${f.framesPerWakeup.toFixed(1)} frames/wake-up, ${Math.round(f.bytesPerFrame)} B/frame)`);
    }
    const sy = (await iperf3(lab.ns('vm-d'), lab.ns('vm-c'), '172.30.0.11', seconds)).gbps;
    add('switchyard', sy / bridge);
    line.push(`switchyard ${sy.toFixed(2)} (${(sy / bridge).toFixed(3)}x)`);
    (json ? console.error : console.log)(line.join(' | '));
  }
} finally {
  await lab.destroy();
  await kb.destroy();
  await removeNamespaces([fa, fb]);
  fs.rmSync(dir, { recursive: true, force: true });
}
const med = (v: number[]) => [...v].sort((x, y) => x - y)[Math.floor(v.length / 2)]!;
if (json) {
  console.log(JSON.stringify({ rounds, seconds, medians: Object.fromEntries(Object.entries(rows).map(([k, v]) => [k, med(v)])), runs: rows }));
} else {
  console.log('medians (ratios to the kernel bridge in the same round):');
  for (const [k, v] of Object.entries(rows)) console.log(`  ${k.padEnd(34)} ${med(v).toFixed(3)}   (${v.map((x) => x.toFixed(3)).join(', ')})`);
}
