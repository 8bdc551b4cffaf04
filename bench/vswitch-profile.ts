/**
 * Where the time goes on the virtual switch's bench paths (issue 14): TCP (iperf3, one stream)
 * port to port and port to host on the Internal switch, and NAT'd to the outside namespace,
 * each beside the kernel bridge doing the same in the same run. Root.
 *   npx tsx bench/vswitch-profile.ts [cost|perfrec] [seconds] [rounds] [-- agent args]
 * cost: per case and round, Gbit/s of switchyard and of the kernel bridge, the agent's CPU
 *   seconds per GB carried (all threads; user/sys), the two iperf3 ends' CPU per GB (iperf3's
 *   getrusage: their syscalls with the softirq work done in them) in both set-ups, and the
 *   worker's wake-ups (frames and microseconds per wake-up, from `ctl stats`). On a CPU-bound
 *   2-core guest the Gbit/s ratio follows the ratio of the total CPU per GB (ends, plus the agent
 *   for switchyard); CPU per GB holds up under other load on the machine, Gbit/s does not.
 * perfrec: `perf record` of the agent (all threads) during each switchyard case: the share of
 *   its CPU by symbol, kernel and JS (--perf-basic-prof).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { controlRequest } from '../src/agent/control-client.js';
import { iperf3, type IperfResult } from '../src/lab/probes.js';
import { run, sleep } from '../src/lab/run.js';
import { INT_HOST, OUT_PEER, addressVms, createSwitchLab, switchLabPolicy } from '../src/lab/vswitch.js';
import { kernelBridgeLab } from '../src/lab/vswitch-bench.js';

const argv = process.argv.slice(2);
const dash = argv.indexOf('--');
const agentArgs = dash >= 0 ? argv.slice(dash + 1) : [];
const pos = dash >= 0 ? argv.slice(0, dash) : argv;
const mode = pos[0] ?? 'cost';
const seconds = Number(pos[1] ?? 5);
const rounds = Number(pos[2] ?? 1);

type Case = 'p2p' | 'p2host' | 'nat';
const CASES: Case[] = ['p2p', 'p2host', 'nat'];

function procCpu(pid: number, which: 'all' | 'user' = 'all'): number {
  const st = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + (which === 'user' ? 0 : Number(f[12]))) / 100;
}


/** Voluntary and involuntary context switches of every thread of `pid`. */
function ctxSwitches(pid: number): [number, number] {
  let v = 0, nv = 0;
  for (const t of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      const st = fs.readFileSync(`/proc/${pid}/task/${t}/status`, 'utf8');
      v += Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(st)?.[1] ?? 0);
      nv += Number(/^nonvoluntary_ctxt_switches:\s+(\d+)/m.exec(st)?.[1] ?? 0);
    } catch {
      /* gone */
    }
  }
  return [v, nv];
}

interface Shape {
  c: string;
  d: string;
  host: string;
  out: string;
}

function target(s: Shape, k: Case): [string, string, string] {
  if (k === 'p2p') return [s.d, s.c, '172.30.0.11'];
  if (k === 'p2host') return [s.host, s.c, INT_HOST];
  return [s.out, s.c, OUT_PEER];
}

async function tcp(s: Shape, k: Case): Promise<IperfResult> {
  const [srv, cli, addr] = target(s, k);
  try {
    return await iperf3(srv, cli, addr, seconds);
  } catch {
    return await iperf3(srv, cli, addr, seconds);
  }
}

/** CPU seconds of both iperf3 ends per GB carried. */
function endsPerGB(r: IperfResult): number {
  return r.cpu === undefined || r.gbps === 0 ? NaN : ((r.cpu.client + r.cpu.server) * seconds) / ((r.gbps * seconds) / 8);
}

async function kernelBridge(): Promise<{ shape: Shape; destroy(): Promise<void> }> {
  const kb = await kernelBridgeLab();
  return { shape: { c: kb.c, d: kb.d, host: kb.h, out: kb.o }, destroy: kb.destroy };
}

type Workers = { wakeups?: number; 'wakeup-frames'?: number; 'wakeup-us'?: number }[];
interface Stats {
  wake: [number, number, number];
  /** vm-c's rx frames and bytes (the sender's port: data super-frames and nothing else of size). */
  crx: [number, number];
  counters: Record<string, number>;
  drops: number;
}
async function stats(socket: string): Promise<Stats> {
  const r = (await controlRequest(socket, { op: 'stats' })) as { workers: Workers; ports: Record<string, Record<string, number>>; counters: Record<string, number>; drops: Record<string, number> };
  let w = 0, f = 0, u = 0;
  for (const x of r.workers) {
    w += x.wakeups ?? 0;
    f += x['wakeup-frames'] ?? 0;
    u += x['wakeup-us'] ?? 0;
  }
  const c = r.ports['vm-c'] ?? {};
  return { wake: [w, f, u], crx: [c['rx-frames'] ?? 0, c['rx-bytes'] ?? 0], counters: r.counters, drops: Object.values(r.drops).reduce((a, b) => a + b, 0) };
}
const delta = (a: Stats, b: Stats, k: string): number => (b.counters[k] ?? 0) - (a.counters[k] ?? 0);

const lab = await createSwitchLab();
const kb = await kernelBridge();
const profDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-vsprof-'));
try {
  if (mode === 'perfrec') process.env.SY_AGENT_NODE_ARGS = '--perf-basic-prof';
  const agent = await lab.start(switchLabPolicy(), agentArgs);
  delete process.env.SY_AGENT_NODE_ARGS;
  await addressVms(lab);
  const sy: Shape = { c: lab.ns('vm-c'), d: lab.ns('vm-d'), host: lab.host, out: lab.out };
  const pid = agent.child.pid!;
  // SY_CHRT=batch|fifo: every agent thread under that scheduling policy (an experiment)
  if (process.env.SY_CHRT === 'batch') await run('chrt', ['-a', '-b', '-p', '0', String(pid)]);
  if (process.env.SY_CHRT === 'fifo') await run('chrt', ['-a', '-f', '-p', '1', String(pid)]);
  for (let r = 0; r < rounds; r++) {
    for (const k of CASES) {
      if (mode === 'perfrec') {
        const data = path.join(profDir, `${k}.perf.data`);
        const t = tcp(sy, k);
        await sleep(1500);
        await run('perf', ['record', '-F', process.env.SY_PERF_HZ ?? '499', '-g', '-o', data, '-p', String(pid), '--', 'sleep', String(Math.max(1, seconds - 3))], { allowFail: true, timeoutMs: (seconds + 20) * 1000 });
        const g = (await t).gbps;
        const rep = await run('perf', ['report', '-i', data, '--stdio', '--no-children', '--sort', 'sym', '--percent-limit', '1.2', '-g', 'none'], { allowFail: true, timeoutMs: 120_000 });
        console.log(`--- ${k}: ${g.toFixed(2)} Gbit/s (slowed by perf); agent CPU by symbol\n${rep.stdout.split('\n').filter((l) => /^\s+\d/.test(l)).join('\n')}`);
        // the per-frame breakdown: inclusive shares of the agent's CPU (perf --children)
        const inc = await run('perf', ['report', '-i', data, '--stdio', '--children', '--sort', 'sym', '-g', 'none', '--percent-limit', '0'], { allowFail: true, timeoutMs: 120_000 });
        const share = (sym: string): number => {
          const line = inc.stdout.split('\n').find((l) => l.trimEnd().endsWith(` ${sym}`));
          return line === undefined ? 0 : Number(/^\s*([\d.]+)%/.exec(line)?.[1] ?? 0);
        };
        const dso = await run('perf', ['report', '-i', data, '--stdio', '--no-children', '--sort', 'dso', '-g', 'none'], { allowFail: true, timeoutMs: 120_000 });
        const kernel = Number(/([\d.]+)%\s+\[kernel\.kallsyms\]/.exec(dso.stdout)?.[1] ?? 0);
        const parts = {
          'TAP read (syscall)': share('ksys_read'),
          '  of it copy to user': share('_copy_to_iter'),
          'TAP write (syscall)': share('ksys_write'),
          '  of it the receiving stack (netif_receive_skb)': share('netif_receive_skb'),
          '  of it copy from user': share('_copy_from_iter'),
          'epoll wait (sleep and wake)': share('do_epoll_wait'),
          'preempted at syscall exit': share('exit_to_user_mode_loop'),
          'paravirt irq enable (everywhere)': share('pvm_irq_enable'),
          'user space (JS, V8, libuv, N-API, libc)': +(100 - kernel).toFixed(2),
        };
        console.log(`BREAKDOWN ${JSON.stringify({ case: k, ...parts })}`);
        continue;
      }
      const s0 = await stats(agent.socket);
      const a0 = procCpu(pid), u0 = procCpu(pid, 'user'), x0 = ctxSwitches(pid);
      const rs = await tcp(sy, k);
      const a1 = procCpu(pid), u1 = procCpu(pid, 'user'), x1 = ctxSwitches(pid);
      const s1 = await stats(agent.socket);
      const w0 = s0.wake, w1 = s1.wake;
      const g = rs.gbps;
      const gb = (g * seconds) / 8;
      const rk = await tcp(kb.shape, k);
      const gk = rk.gbps;
      const dw = w1[0] - w0[0];
      const agentPerGB = (a1 - a0) / gb;
      console.log(
        `ROW ${JSON.stringify({
          round: r, case: k, sy: +g.toFixed(2), kernel: +gk.toFixed(2), ratio: +(g / gk).toFixed(3),
          agentCpuPerGB: +agentPerGB.toFixed(3), agentUserPerGB: +((u1 - u0) / gb).toFixed(3),
          syEndsPerGB: +endsPerGB(rs).toFixed(3), syTotalPerGB: +(endsPerGB(rs) + agentPerGB).toFixed(3), kernelEndsPerGB: +endsPerGB(rk).toFixed(3),
          costRatio: +(endsPerGB(rk) / (endsPerGB(rs) + agentPerGB)).toFixed(3),
          agentCores: +((a1 - a0) / seconds).toFixed(2),
          framesPerWake: dw > 0 ? +((w1[1] - w0[1]) / dw).toFixed(2) : 0, usPerWake: dw > 0 ? +((w1[2] - w0[2]) / dw).toFixed(1) : 0,
          wakeups: dw, csw: x1[0] - x0[0], preempted: x1[1] - x0[1],
          // super-frames cross whole: no userspace segmentation or checksum on these paths
          vmcRxFrames: s1.crx[0] - s0.crx[0], vmcRxBytesPerFrame: Math.round((s1.crx[1] - s0.crx[1]) / Math.max(1, s1.crx[0] - s0.crx[0])),
          tsoSegments: delta(s0, s1, 'tso-segments'), csumFinished: delta(s0, s1, 'csum-finished'), uftMisses: delta(s0, s1, 'uft-misses'), drops: s1.drops - s0.drops,
          load: os.loadavg()[0].toFixed(2),
        })}`,
      );
    }
  }
} finally {
  await lab.destroy();
  await kb.destroy();
  if (process.env.SY_KEEP_PERF) console.log(`perf data kept in ${profDir}`);
  else fs.rmSync(profDir, { recursive: true, force: true });
}
