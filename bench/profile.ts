/**
 * Where the time goes during one iperf3 TCP stream through switchyard (Figure 8 lab; web on host2
 * sends, sql on host1 receives):
 *   npx tsx bench/profile.ts [cpu|strace|perf|top|cost|all] [seconds] [nvgre] [-- agent args]
 * (nvgre: examples/nvgre.yaml, the same tenants over NVGRE, instead of Figure 8's VXLAN).
 * cpu: agents run with --cpu-prof, then bench/cpuprofile-top.ts summarises each side.
 * strace: `strace -c -f` on each agent for the middle of the run (slows the run: its Gbit/s is not
 * a figure). perf: `perf stat` on each agent (task-clock, context switches, cycles if the PMU is there).
 * perfrec: `perf record` of each agent (all threads, JS symbols from --perf-basic-prof) and the
 * share of its CPU per symbol, kernel and JS alike: the per-frame cost breakdown of the README.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { figure8Policy } from '../src/policy/figure8.js';
import { createFigure8Lab } from '../src/lab/topology.js';
import { policyForLab } from '../src/lab/policy.js';
import { loadPolicyFile } from '../src/policy/load.js';
import type { Policy } from '../src/policy/types.js';
import { createTenantNamespaces, makeRunDir, startAgent, writePolicy, type RunningAgent } from '../src/lab/agents.js';
import { iperf3, ping } from '../src/lab/probes.js';
import { controlRequest } from '../src/agent/control-client.js';
import { run, sleep } from '../src/lab/run.js';
import { summarise } from './cpuprofile-top.js';

const argv = process.argv.slice(2);
const dash = argv.indexOf('--');
const agentArgs = dash >= 0 ? argv.slice(dash + 1) : [];
const pos = dash >= 0 ? argv.slice(0, dash) : argv;
const mode = pos[0] ?? 'all';
const seconds = Number(pos[1] ?? 6);
const overNvgre = pos[2] === 'nvgre';
const ROLE: Record<string, string> = { host1: 'receiver (host1, iperf3 server)', host2: 'sender (host2, iperf3 client)' };

type Kind = 'cpu' | 'strace' | 'perf' | 'top' | 'cost' | 'perfrec';

/** utime+stime of a whole process, in seconds (`which`: only user or only system time). */
function procCpu(pid: number, which: 'all' | 'user' | 'sys' = 'all'): number {
  const st = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
  return ((which === 'sys' ? 0 : Number(f[11])) + (which === 'user' ? 0 : Number(f[12]))) / 100;
}


/** utime+stime ticks of every task (thread) on the machine, by "pid comm", and the machine's busy/total ticks. */
function cpuSnapshot(): { procs: Map<string, number>; busy: number; total: number } {
  const procs = new Map<string, number>();
  for (const pid of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    let tasks: string[];
    try {
      tasks = fs.readdirSync(`/proc/${pid}/task`);
    } catch {
      continue;
    }
    for (const t of tasks) {
      try {
        const st = fs.readFileSync(`/proc/${pid}/task/${t}/stat`, 'utf8');
        const comm = st.slice(st.indexOf('(') + 1, st.lastIndexOf(')'));
        const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
        const k = `${pid} ${comm}`;
        procs.set(k, (procs.get(k) ?? 0) + Number(f[11]) + Number(f[12]));
      } catch {
        /* gone */
      }
    }
  }
  const cpu = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const idle = cpu[3] + cpu[4];
  const total = cpu.reduce((a, b) => a + b, 0);
  return { procs, busy: total - idle, total };
}

function cpuDiff(a: ReturnType<typeof cpuSnapshot>, b: ReturnType<typeof cpuSnapshot>, seconds: number, names: Map<string, string>): string {
  const hz = 100;
  const rows: [string, number][] = [];
  for (const [k, v] of b.procs) {
    const d = v - (a.procs.get(k) ?? 0);
    if (d > 0) rows.push([names.get(k.split(' ')[0]) ?? k, d / hz / seconds]);
  }
  rows.sort((x, y) => y[1] - x[1]);
  const cores = os.cpus().length;
  const out = [`machine busy ${(((b.busy - a.busy) / (b.total - a.total)) * cores).toFixed(2)} of ${cores} cores (incl. softirq/irq time not owned by a task)`];
  for (const [k, c] of rows.slice(0, 12)) out.push(`  ${c.toFixed(2)} cores  ${k}`);
  return out.join('\n');
}

async function nvgrePolicy(): Promise<Policy> {
  const p = await loadPolicyFile(new URL('../examples/nvgre.yaml', import.meta.url).pathname);
  if (!p.ok) throw new Error('examples/nvgre.yaml does not load');
  return p.policy;
}

async function once(kind: Kind): Promise<void> {
  const lab = await createFigure8Lab({ tag: undefined });
  const agents: RunningAgent[] = [];
  const profDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-prof-'));
  const saved = process.env.SY_AGENT_NODE_ARGS;
  try {
    const p = policyForLab(overNvgre ? await nvgrePolicy() : figure8Policy(), lab.tenantNs);
    const dir = makeRunDir(lab.tag);
    const file = writePolicy(dir, p);
    await createTenantNamespaces(p, lab.hosts.map((h) => h.name));
    for (const h of lab.hosts) {
      if (kind === 'cpu') process.env.SY_AGENT_NODE_ARGS = `--cpu-prof --cpu-prof-dir=${profDir} --cpu-prof-name=${h.name}.cpuprofile --cpu-prof-interval=250`;
      if (kind === 'perfrec') process.env.SY_AGENT_NODE_ARGS = '--perf-basic-prof';
      agents.push(await startAgent(h.ns, h.name, file, dir, agentArgs));
    }
    if (saved === undefined) delete process.env.SY_AGENT_NODE_ARGS;
    else process.env.SY_AGENT_NODE_ARGS = saved;
    const web = lab.tenantNs('contoso-web');
    const sql = lab.tenantNs('contoso-sql');
    await ping(web, '10.1.1.11', 3, 0.2);
    const cpu0 = agents.map((a) => procCpu(a.child.pid!));
    const usr0 = agents.map((a) => procCpu(a.child.pid!, 'user'));
    const tput = iperf3(sql, web, '10.1.1.11', seconds);
    const window = Math.max(1, seconds - 3);
    let side: Promise<string[]> = Promise.resolve([]);
    if (kind === 'top') {
      await sleep(1500);
      const names = new Map(agents.map((a) => [String(a.child.pid), `agent ${ROLE[a.host] ?? a.host}`]));
      const a0 = cpuSnapshot();
      await sleep(window * 1000);
      side = Promise.resolve([cpuDiff(a0, cpuSnapshot(), window, names)]);
    }
    if (kind === 'perfrec') {
      await sleep(1500);
      side = Promise.all(
        agents.map(async (a) => {
          const data = path.join(profDir, `${a.host}.perf.data`);
          await run('perf', ['record', '-F', '499', '-g', '-o', data, '-p', String(a.child.pid), '--', 'sleep', String(window)], { allowFail: true, timeoutMs: (window + 20) * 1000 });
          const rep = await run('perf', ['report', '-i', data, '--stdio', '--no-children', '--sort', 'sym', '--percent-limit', '1.5', '-g', 'none'], { allowFail: true, timeoutMs: 120_000 });
          const lines = rep.stdout.split('\n').filter((l) => /^\s+\d/.test(l));
          return `--- perf record ${ROLE[a.host] ?? a.host}, ${window} s (share of the agent's CPU by symbol)\n${lines.join('\n')}\n`;
        }),
      );
    }
    if (kind === 'strace' || kind === 'perf') {
      await sleep(1500);
      side = Promise.all(
        agents.map(async (a) => {
          const pid = String(a.child.pid);
          const r =
            kind === 'strace'
              ? await run('timeout', ['-s', 'INT', String(window), 'strace', '-c', '-f', '-p', pid], { allowFail: true, timeoutMs: (window + 10) * 1000 })
              : await run('perf', ['stat', '-e', 'task-clock,context-switches,cpu-migrations,page-faults,cycles,instructions', '-p', pid, '--', 'sleep', String(window)], { allowFail: true, timeoutMs: (window + 10) * 1000 });
          return `--- ${kind} ${ROLE[a.host] ?? a.host}, ${window} s\n${r.stderr.trim()}\n`;
        }),
      );
    }
    const r = await tput;
    if (kind === 'cost') {
      // agent CPU per gigabyte carried: robust to other load on the machine, unlike Gbit/s
      const gb = (r.gbps * seconds) / 8;
      const cost = agents.map((a, i) => {
        const all = (procCpu(a.child.pid!) - cpu0[i]) / gb;
        const usr = (procCpu(a.child.pid!, 'user') - usr0[i]) / gb;
        return `${a.host === 'host2' ? 'sender' : 'receiver'} ${all.toFixed(3)} cpu-s/GB (user ${usr.toFixed(3)}, sys ${(all - usr).toFixed(3)})`;
      });
      console.log(`COST ${JSON.stringify({ gbps: +r.gbps.toFixed(2), cost })}`);
      // what the cost bought: drops by reason and the TAP I/O batching (frames per io_uring_enter)
      for (const a of agents) {
        const st = (await controlRequest(a.socket, { op: 'stats' })) as { counters: Record<string, number> };
        const c = st.counters;
        const drops = Object.entries(c).filter(([k, v]) => k.startsWith('drop-') && v > 0);
        const enters = c['tap-uring-enters'] ?? 0;
        const perEnter = enters > 0 ? (((c['tap-uring-rx-frames'] ?? 0) + (c['tap-uring-tx-frames'] ?? 0)) / enters).toFixed(1) : '-';
        console.log(`  ${a.host === 'host2' ? 'sender' : 'receiver'}: drops ${JSON.stringify(Object.fromEntries(drops))}, tap frames per io_uring_enter ${perEnter}`);
      }
      // and the kernel's side of the TAPs: frames it dropped because the agent read too slowly
      for (const [name, ns] of [['web', web], ['sql', sql]] as const) {
        const links = JSON.parse((await run('ip', ['netns', 'exec', ns, 'ip', '-j', '-s', 'link', 'show'])).stdout) as { ifname: string; stats64?: { rx: { dropped: number }; tx: { dropped: number } } }[];
        const tap = links.find((l) => l.ifname !== 'lo');
        console.log(`  ${name} ${tap?.ifname}: kernel dropped rx ${tap?.stats64?.rx.dropped}, tx ${tap?.stats64?.tx.dropped}`);
      }
      if (overNvgre) {
        // which path the sender's NVGRE packets took (io/nvgre-tx-ring.ts)
        const s = (await controlRequest(agents.find((a) => a.host === 'host2')!.socket, { op: 'stats' }, 5000)) as { counters: Record<string, number> };
        const c = s.counters;
        console.log(`NVGRE send paths: ring ${c['nvgre-ring-frames'] ?? 0}, ring full ${c['nvgre-ring-full'] ?? 0}, raw fallback ${c['nvgre-ring-fallback'] ?? 0}, uplink tx ${c['uplink-tx-frames'] ?? 0}`);
        if (process.env.SY_PROFILE_RX_STATS === '1') {
          const rx = (await controlRequest(agents.find((a) => a.host === 'host1')!.socket, { op: 'stats' }, 5000)) as { counters: Record<string, number>; drops: Record<string, number> };
          console.log(`receiver: ${JSON.stringify(rx.counters)} drops ${JSON.stringify(rx.drops)}`);
        }
      }
    }
    const texts = await side;
    console.log(`iperf3 tcp-1 ${r.gbps.toFixed(2)} Gbit/s (${kind}${kind === 'cpu' || kind === 'top' || kind === 'cost' ? '' : ': slowed by the tool'}), retransmits ${r.retransmits}`);
    for (const t of texts) console.log(t);
  } finally {
    for (const a of agents) await a.stop().catch(() => undefined);
    await lab.destroy();
  }
  if (kind === 'cpu') {
    for (const h of ['host2', 'host1']) {
      const f = path.join(profDir, `${h}.cpuprofile`);
      if (!fs.existsSync(f)) {
        console.log(`no profile for ${h} in ${profDir}`);
        continue;
      }
      console.log(`--- cpu profile ${ROLE[h]} (${f})`);
      console.log(summarise(JSON.parse(fs.readFileSync(f, 'utf8')), 18));
    }
  }
}

for (const k of mode === 'all' ? (['cpu', 'strace', 'perf', 'top'] as const) : [mode as Kind]) await once(k);
