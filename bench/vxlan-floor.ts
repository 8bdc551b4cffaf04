/**
 * The floor of a userspace VXLAN host (issue 13), against the kernel's VXLAN and switchyard in one
 * run: `bench/tap-floor/vxlan-floor.c` (C, one tenant, one peer, no engine) on both hosts of the
 * Figure 8 lab, in its `plain` mode (no offloads: a frame per datagram, what a ping does) and its
 * `tgso` mode (a TSO super-frame sent whole as one UDP-tunnel GSO packet through an uplink TAP,
 * received whole: no segmentation and no checksum in userspace). Each round runs, one after
 * another: the kernel's VXLAN (tcp-1, tcp-4, ping RTT), each floor mode, switchyard and switchyard
 * `--no-offload`; `bound`: two tenants without offloads on one veth, no dataplane at all (what a
 * tenant without TSO can send, the ceiling of every `--no-offload` path); `peer`: the kernel-peer
 * set-up of `make bench` (host2 the kernel's VXLAN, its tenant `tx off`) with host1 the kernel, the
 * tgso floor, and switchyard, host1 -> host2. Root.
 * `npx tsx bench/vxlan-floor.ts [seconds=4] [rounds=3] [cases=plain,pbatch,tgso,sy,bound,peer] [--json]`
 * (`--json`: a last line with the medians, for `make bench`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { withKernel, withKernelPeer, withSwitchyard } from '../src/cli/bench.js';
import { kernelVxlanHost } from '../src/lab/kernel-vxlan.js';
import { iperf3, ping } from '../src/lab/probes.js';
import { run, runIn } from '../src/lab/run.js';
import { createFigure8Lab, type LabHost } from '../src/lab/topology.js';
import { figure8Policy } from '../src/policy/figure8.js';

const json = process.argv.includes('--json');
const argv = process.argv.slice(2).filter((a) => a !== '--json');
const seconds = Number(argv[0] ?? 4);
const rounds = Number(argv[1] ?? 3);
const cases = (argv[2] ?? 'plain,pbatch,tgso,sy,bound,peer').split(',');
const modes = cases.filter((c) => c === 'plain' || c === 'tgso' || c === 'pbatch');
const withSy = cases.includes('sy');

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vxlan-floor-'));
const bin = path.join(dir, 'vxlan-floor');
await run('gcc', ['-O2', '-Wall', '-o', bin, path.join(import.meta.dirname, 'tap-floor', 'vxlan-floor.c'), '-l:liburing.a']);

const median = (v: number[]) => [...v].sort((x, y) => x - y)[Math.floor(v.length / 2)] ?? NaN;

interface Fig {
  tcp1: number;
  tcp4: number;
  rttUs: number;
  cpuPerGB?: number;
}

/** Starts the floor for the tenant namespace `t` on host `h` (peer `other`) and addresses it. */
async function startFloor(t: string, h: { ns: string; pa: string }, other: { pa: string }, addr: string, mode: string): Promise<Floor> {
  await run('ip', ['netns', 'add', t]);
  await runIn(t, 'ip', ['link', 'set', 'lo', 'up']);
  const p = spawn(bin, [t, h.ns, h.pa, other.pa, '5001', mode], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  p.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  for (let k = 0; !out.includes('ready'); k++) {
    if (k > 100 || p.exitCode !== null) throw new Error(`vxlan-floor did not start: ${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  await runIn(t, 'ip', ['link', 'set', 'eth0', 'mtu', '1450', 'up']);
  // a super-frame plus the 50 bytes of VXLAN must stay a valid IPv4 packet (64 KB)
  await runIn(t, 'ip', ['link', 'set', 'eth0', 'gso_max_size', '64000']);
  await runIn(t, 'ip', ['addr', 'add', addr, 'dev', 'eth0']);
  if (mode === 'tgso') {
    // the uplink TAP's packets are the host's own (source: its PA), routed out of the underlay
    await runIn(h.ns, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1', 'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.default.rp_filter=0']);
    await runIn(h.ns, 'ip', ['link', 'set', 'sytg0', 'up']);
    await runIn(h.ns, 'sysctl', ['-qw', 'net.ipv4.conf.sytg0.accept_local=1', 'net.ipv4.conf.sytg0.rp_filter=0']);
  }
  return { p, out: () => out };
}

async function stopFloors(fs: Floor[]): Promise<{ bytes: number; cpu: number }[]> {
  for (const f of fs) f.p.kill('SIGTERM');
  await Promise.all(fs.map((f) => new Promise((res) => (f.p.exitCode !== null ? res(null) : f.p.once('exit', res)))));
  return fs.map((f) => JSON.parse(f.out().slice(f.out().indexOf('{'))) as { bytes: number; cpu: number });
}

/** Two tenants without offloads on one veth pair (MTU 1450): no dataplane between them at all. */
async function noOffloadBound(): Promise<number> {
  const a = `vfb${process.pid}a`;
  const b = `vfb${process.pid}b`;
  try {
    for (const n of [a, b]) await run('ip', ['netns', 'add', n]);
    await runIn(a, 'ip', ['link', 'add', 'eth0', 'mtu', '1450', 'type', 'veth', 'peer', 'name', 'eth0', 'mtu', '1450', 'netns', b]);
    for (const [n, addr] of [[a, '10.1.1.12/24'], [b, '10.1.1.11/24']] as const) {
      await runIn(n, 'ip', ['link', 'set', 'lo', 'up']);
      await runIn(n, 'ip', ['addr', 'add', addr, 'dev', 'eth0']);
      await runIn(n, 'ip', ['link', 'set', 'eth0', 'up']);
      await runIn(n, 'ethtool', ['-K', 'eth0', 'tx', 'off', 'tso', 'off', 'gso', 'off', 'gro', 'off'], { allowFail: true });
    }
    return (await iperf3(b, a, '10.1.1.11', seconds)).gbps;
  } finally {
    for (const n of [a, b]) await run('ip', ['netns', 'del', n], { allowFail: true });
  }
}

type Floor = { p: ChildProcess; out: () => string };

/** A Figure 8 lab for floors: `fn` gets its hosts and tenant namespaces and the floors it starts;
 * the floors and the lab go when it returns or throws. */
async function withFloorLab<T>(fn: (l: { h1: LabHost; h2: LabHost; sql: string; web: string; floors: Floor[] }) => Promise<T>): Promise<T> {
  const lab = await createFigure8Lab();
  const floors: Floor[] = [];
  try {
    const [h1, h2] = lab.hosts;
    return await fn({ h1, h2, sql: lab.tenantNs('contoso-sql'), web: lab.tenantNs('contoso-web'), floors });
  } finally {
    for (const f of floors) if (f.p.exitCode === null) f.p.kill('SIGKILL');
    await lab.destroy();
  }
}

/** The kernel-peer set-up with the tgso floor on host1: host1 (sql) -> host2 (web, kernel, tx off). */
async function floorToKernelPeer(): Promise<number> {
  return withFloorLab(async ({ h1, h2, sql, web, floors }) => {
    floors.push(await startFloor(sql, h1, h2, '10.1.1.11/24', 'tgso'));
    const nic = figure8Policy().networkInterfaces.find((n) => n.name === 'contoso-web')!;
    await kernelVxlanHost(h2.ns, h2.pa, [h1.pa], [{ ns: web, mac: nic.macAddress, ip: '10.1.1.12', prefixLen: 24, vni: 5001 }]);
    await ping(web, '10.1.1.11', 3, 0.2);
    return (await iperf3(web, sql, '10.1.1.12', seconds)).gbps;
  });
}

async function rtt(ns: string, addr: string): Promise<number> {
  const p = await ping(ns, addr, 200, 0.01, 1);
  return median(p.rtts) * 1000;
}

/** As make bench: iperf3 servers in sql (host1), clients in web (host2). */
async function floorRun(mode: string): Promise<Fig> {
  return withFloorLab(async ({ h1, h2, sql, web, floors }) => {
    floors.push(await startFloor(sql, h1, h2, '10.1.1.11/24', mode));
    floors.push(await startFloor(web, h2, h1, '10.1.1.12/24', mode));
    await ping(web, '10.1.1.11', 3, 0.2);
    const tcp1 = (await iperf3(sql, web, '10.1.1.11', seconds)).gbps;
    const tcp4 = (await iperf3(sql, web, '10.1.1.11', seconds, ['-P', '4'])).gbps;
    const r = await rtt(web, '10.1.1.11');
    const stats = await stopFloors(floors);
    const cpu = stats.reduce((a, st) => a + st.cpu, 0);
    const gb = Math.max(...stats.map((st) => st.bytes)) / 1e9;
    return { tcp1, tcp4, rttUs: r, cpuPerGB: cpu / gb };
  });
}

const rows: Record<string, number[]> = {};
const add = (k: string, v: number) => (rows[k] ??= []).push(v);
const policy = figure8Policy();
try {
  for (let i = 0; i < rounds; i++) {
    const k = await withKernel(policy, seconds, new Set(['tcp1', 'tcp4', 'rtt']));
    add('kernel tcp-1 Gbit/s', k.tcp1);
    add('kernel tcp-4 Gbit/s', k.tcp4);
    add('kernel rtt us', k.rttMedianUs);
    const line = [`round ${i + 1}: kernel ${k.tcp1.toFixed(2)} / ${k.tcp4.toFixed(2)} Gbit/s ${k.rttMedianUs.toFixed(0)} us`];
    for (const m of modes) {
      const f = await floorRun(m);
      add(`floor ${m} tcp-1 ratio`, f.tcp1 / k.tcp1);
      add(`floor ${m} tcp-4 ratio`, f.tcp4 / k.tcp4);
      add(`floor ${m} rtt - kernel us`, f.rttUs - k.rttMedianUs);
      add(`floor ${m} cpu-s/GB (both hosts)`, f.cpuPerGB ?? NaN);
      line.push(`floor ${m} ${f.tcp1.toFixed(2)} (${(f.tcp1 / k.tcp1).toFixed(3)}x) / ${f.tcp4.toFixed(2)} ${f.rttUs.toFixed(0)} us, ${f.cpuPerGB?.toFixed(2)} cpu-s/GB`);
    }
    if (withSy) {
      for (const [name, args] of [['switchyard', []], ['switchyard --no-offload', ['no-offload']]] as const) {
        const s = await withSwitchyard(policy, seconds, [...args], name, new Set(['tcp1', 'tcp4', 'rtt']));
        add(`${name} tcp-1 ratio`, s.tcp1 / k.tcp1);
        add(`${name} tcp-4 ratio`, s.tcp4 / k.tcp4);
        add(`${name} rtt - kernel us`, s.rttMedianUs - k.rttMedianUs);
        line.push(`${name} ${s.tcp1.toFixed(2)} (${(s.tcp1 / k.tcp1).toFixed(3)}x) / ${s.tcp4.toFixed(2)} ${s.rttMedianUs.toFixed(0)} us`);
      }
    }
    if (cases.includes('bound')) {
      const b = await noOffloadBound();
      add('bound: tenants without offload, one veth, tcp-1 ratio', b / k.tcp1);
      line.push(`no-offload bound ${b.toFixed(2)} (${(b / k.tcp1).toFixed(3)}x)`);
    }
    if (cases.includes('peer')) {
      const kk = (await withKernelPeer(policy, seconds, 'kernel')).toHost2;
      const fl = await floorToKernelPeer();
      const sy = (await withKernelPeer(policy, seconds, 'switchyard')).toHost2;
      add('kernel peer: floor tgso -> kernel ratio', fl / kk);
      add('kernel peer: switchyard -> kernel ratio', sy / kk);
      line.push(`to kernel peer: kernel ${kk.toFixed(2)}, floor ${fl.toFixed(2)} (${(fl / kk).toFixed(3)}x), switchyard ${sy.toFixed(2)} (${(sy / kk).toFixed(3)}x)`);
    }
    (json ? console.error : console.log)(line.join(' | '));
  }
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
if (json) {
  console.log(JSON.stringify({ rounds, seconds, medians: Object.fromEntries(Object.entries(rows).map(([k, v]) => [k, median(v)])), runs: rows }));
} else {
  console.log('medians over the rounds:');
  for (const [k, v] of Object.entries(rows)) console.log(`  ${k.padEnd(40)} ${median(v).toFixed(3)}   (${v.map((x) => x.toFixed(3)).join(', ')})`);
}
