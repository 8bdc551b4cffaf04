/**
 * How long an agent takes from a new process to forwarding (what an agent restart costs: issue
 * 20's fault drill "agent restarted" asks for forwarding within 2 s). A Figure 8 lab; host2's agent
 * (three ports, the drill's policy shape) is started and stopped `RUNS` times, and each start is
 * timed from the spawn to its control socket answering, with the agent's own figures from its
 * 'agent forwarding' line (wall time since its process started, CPU time of all its threads).
 *
 *   node --import tsx bench/agent-start.ts [RUNS] [BIN ...]
 *
 * Several BINs (e.g. bin/switchyard.js of an older checkout) are run in turn, interleaved, so a
 * before/after comparison sees the same machine load; the medians are printed per BIN.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { controlRequest } from '../src/agent/control-client.js';
import { createTenantNamespaces, makeRunDir, writePolicy } from '../src/lab/agents.js';
import { policyForLab } from '../src/lab/policy.js';
import { spawnIn, sleep } from '../src/lab/run.js';
import { createFigure8Lab } from '../src/lab/topology.js';
import { figure8Policy } from '../src/policy/figure8.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const runs = Number(process.argv[2] ?? 5);
const bins = process.argv.slice(3).length ? process.argv.slice(3) : [path.resolve(here, '../bin/switchyard.js')];

interface Sample {
  socketMs: number;
  sinceStartMs: number;
  cpuMs: number;
}

async function startOnce(bin: string, ns: string, policyFile: string, dir: string, n: number): Promise<Sample> {
  const socket = path.join(dir, `host2-${n}.sock`);
  const spawnedAt = Date.now();
  const child = spawnIn(ns, process.execPath, [bin, 'agent', '--policy', policyFile, '--host', 'host2', '--socket', socket, '--state-dir', path.join(dir, 'host2.state'), '--workers', '1']);
  let log = '';
  child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  child.stdout!.on('data', () => undefined);
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  let socketMs = NaN;
  for (const deadline = Date.now() + 60_000; Date.now() < deadline; ) {
    if (child.exitCode !== null) throw new Error(`agent exited: ${log.slice(-1000)}`);
    const up = await controlRequest(socket, { op: 'ping' }, 500).then(
      (r) => r === 'pong',
      () => false,
    );
    if (up) {
      socketMs = Date.now() - spawnedAt;
      break;
    }
    await sleep(20);
  }
  const own = /"sinceStartMs":(\d+),"cpuMs":(\d+)/.exec(log);
  child.kill('SIGTERM');
  await exited;
  return { socketMs, sinceStartMs: own ? Number(own[1]) : NaN, cpuMs: own ? Number(own[2]) : NaN };
}

const median = (xs: number[]): number => {
  const s = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  return s.length ? s[Math.floor((s.length - 1) / 2)]! : NaN;
};

const lab = await createFigure8Lab();
try {
  const dir = makeRunDir(lab.tag);
  // a third port on host2, as in the fault drills (contoso-app)
  const base = figure8Policy();
  base.networkInterfaces.push({ name: 'contoso-app', host: 'host2', virtualNetwork: 'contoso', subnet: 's1', macAddress: '02:00:00:00:50:13', ipAddress: '10.1.1.13', netns: 'contoso-app' });
  const policy = policyForLab(base, lab.tenantNs);
  await createTenantNamespaces(policy, ['host2']);
  const file = writePolicy(dir, policy);
  const samples = new Map<string, Sample[]>(bins.map((b) => [b, []]));
  for (let i = 0; i < runs; i++) {
    for (const bin of bins) {
      const s = await startOnce(bin, lab.hosts[1].ns, file, dir, i);
      samples.get(bin)!.push(s);
      console.log(`${bin}: control socket up ${s.socketMs} ms after the spawn; forwarding ${s.sinceStartMs} ms after the process started, ${s.cpuMs} ms CPU`);
    }
  }
  for (const [bin, s] of samples) {
    console.log(`median of ${s.length}, ${bin}: socket up ${median(s.map((x) => x.socketMs))} ms, forwarding ${median(s.map((x) => x.sinceStartMs))} ms after start, ${median(s.map((x) => x.cpuMs))} ms CPU`);
  }
} finally {
  await lab.destroy();
}
