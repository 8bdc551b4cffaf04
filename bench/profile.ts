/**
 * Where the time goes during one iperf3 TCP stream through switchyard (Figure 8 lab; web on host2
 * sends, sql on host1 receives):
 *   npx tsx bench/profile.ts [cpu|strace|perf|all] [seconds] [-- agent args]
 * cpu: agents run with --cpu-prof, then bench/cpuprofile-top.ts summarises each side.
 * strace: `strace -c -f` on each agent for the middle of the run (slows the run: its Gbit/s is not
 * a figure). perf: `perf stat` on each agent (task-clock, context switches, cycles if the PMU is there).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { figure8Policy } from '../src/policy/figure8.js';
import { createFigure8Lab } from '../src/cli/lab/topology.js';
import { policyForLab } from '../src/cli/lab/policy.js';
import { createTenantNamespaces, makeRunDir, startAgent, writePolicy, type RunningAgent } from '../src/cli/lab/agents.js';
import { iperf3, ping } from '../src/cli/lab/probes.js';
import { run, sleep } from '../src/cli/lab/run.js';
import { summarise } from './cpuprofile-top.js';

const argv = process.argv.slice(2);
const dash = argv.indexOf('--');
const agentArgs = dash >= 0 ? argv.slice(dash + 1) : [];
const pos = dash >= 0 ? argv.slice(0, dash) : argv;
const mode = pos[0] ?? 'all';
const seconds = Number(pos[1] ?? 6);
const ROLE: Record<string, string> = { host1: 'receiver (host1, iperf3 server)', host2: 'sender (host2, iperf3 client)' };

async function once(kind: 'cpu' | 'strace' | 'perf'): Promise<void> {
  const lab = await createFigure8Lab({ tag: undefined });
  const agents: RunningAgent[] = [];
  const profDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-prof-'));
  const saved = process.env.SY_AGENT_NODE_ARGS;
  try {
    const p = policyForLab(figure8Policy(), lab.tenantNs);
    const dir = makeRunDir(lab.tag);
    const file = writePolicy(dir, p);
    await createTenantNamespaces(p, lab.hosts.map((h) => h.name));
    for (const h of lab.hosts) {
      if (kind === 'cpu') process.env.SY_AGENT_NODE_ARGS = `--cpu-prof --cpu-prof-dir=${profDir} --cpu-prof-name=${h.name}.cpuprofile --cpu-prof-interval=250`;
      agents.push(await startAgent(h.ns, h.name, file, dir, agentArgs));
    }
    if (saved === undefined) delete process.env.SY_AGENT_NODE_ARGS;
    else process.env.SY_AGENT_NODE_ARGS = saved;
    const web = lab.tenantNs('contoso-web');
    const sql = lab.tenantNs('contoso-sql');
    await ping(web, '10.1.1.11', 3, 0.2);
    const tput = iperf3(sql, web, '10.1.1.11', seconds);
    const window = Math.max(1, seconds - 3);
    let side: Promise<string[]> = Promise.resolve([]);
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
    const texts = await side;
    console.log(`iperf3 tcp-1 ${r.gbps.toFixed(2)} Gbit/s (${kind}${kind === 'cpu' ? '' : ': slowed by the tool'}), retransmits ${r.retransmits}`);
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

for (const k of mode === 'all' ? (['cpu', 'strace', 'perf'] as const) : [mode as 'cpu' | 'strace' | 'perf']) await once(k);
