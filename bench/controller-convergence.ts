/**
 * Convergence of the controller's sync (`make bench-controller`): time from sending a PUT to every
 * affected agent having the new view, over HTTPS (a CA and certificate made for the run), with the
 * simulated agents (ControllerSync clients that accept every view: cache file, state report) in a
 * few child processes so their CPU is not the controller's. Cases:
 *   figure8   2 hosts (Figure 8), every change reaches both
 *   fleet200  200 hosts, one virtual network with a port on each host: every PUT reaches all 200
 *   fleet1000 1000 hosts, 100,000 ports (100 per host): 1000 virtual networks of 100 ports spread
 *             over 10 hosts each (10 per host), so each host is in 10 networks and a PUT of a port
 *             reaches the 10 hosts of its network; the policy is loaded straight into the store
 *             before the controller starts, the measured changes are REST PUTs like the others
 *             (checked by change-scoped validation, change-scope.ts)
 * Writes bench/results/controller-latest.json ({cases: [{name, hosts, ports, p50Ms, p99Ms, ...}]})
 * with the controller process's memory, CPU and event-loop delay beside each case, and for the
 * big case the time one full (whole-policy) validation of the same change takes, for comparison.
 * The machine may be shared: the figures are what this run saw.
 * Run: node --import tsx bench/controller-convergence.ts [rounds=30] [only-case] (one case replaces
 * its entry in the results file and keeps the others)
 */
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { controllerRequest } from '../src/agent/controller-http.js';
import { ControllerSync } from '../src/agent/controller-sync.js';
import { viewDigest } from '../src/agent/controller-sync-protocol.js';
import { checkPut } from '../src/controller/changes.js';
import { PolicyIndex } from '../src/controller/policy-index.js';
import type { PolicyAt } from '../src/controller/changes.js';
import { ControllerServer } from '../src/controller/server.js';
import { SqliteStore } from '../src/controller/sqlite-store.js';
import { makeTestPki } from '../src/lab/pki.js';
import { figure8Policy } from '../src/policy/figure8.js';
import { parsePolicy } from '../src/policy/validate.js';

const TOKEN = 'bench-token-0123456789abcdef';
const AGENT_PROCESSES = 4;

type Resource = { name: string } & Record<string, unknown>;

interface Scenario {
  name: string;
  hosts: string[];
  ports: number;
  /** Everything, loaded into the store before the controller starts. */
  seed: () => { kind: 'hosts' | 'virtualNetworks' | 'networkInterfaces'; item: Resource }[];
  /** The i-th change: a PUT, and the hosts whose view it changes. */
  change: (i: number) => { kind: string; item: Resource; affected: string[] };
  /** Also time one full (whole-policy) validation of such a change, to set beside the scoped one. */
  timeFullValidation?: boolean;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] as number;
}

const hex = (n: number): string => n.toString(16).padStart(2, '0');
const mac = (n: number): string => `02:00:00:${hex((n >> 16) & 255)}:${hex((n >> 8) & 255)}:${hex(n & 255)}`;
const pa = (i: number): string => `172.${16 + (i >> 8)}.${i & 255}.1`;

function figure8(): Scenario {
  const policy = figure8Policy();
  return {
    name: 'figure8',
    hosts: ['host1', 'host2'],
    ports: policy.networkInterfaces.length,
    seed: () => (['hosts', 'virtualNetworks', 'networkInterfaces'] as const).flatMap((kind) => (policy[kind] as unknown as Resource[]).map((item) => ({ kind, item }))),
    // contoso has a port on each host: every change reaches both
    change: (i) => ({ kind: 'networkInterfaces', item: { ...(policy.networkInterfaces[1] as unknown as Resource), ipAddress: `10.1.1.${20 + (i % 200)}` }, affected: ['host1', 'host2'] }),
  };
}

function fleet200(): Scenario {
  const hosts = Array.from({ length: 200 }, (_, i) => `host${i + 1}`);
  const nic = (i: number, ip: number): Resource => ({ name: `fleet-${i + 1}`, host: `host${i + 1}`, virtualNetwork: 'fleet', subnet: 's1', macAddress: mac(i), ipAddress: `10.20.${ip >> 8}.${ip & 255}` });
  return {
    name: 'fleet200',
    hosts,
    ports: 200,
    seed: () => [
      ...hosts.map((host, i) => ({ kind: 'hosts' as const, item: { name: host, providerAddresses: [pa(i)] } })),
      { kind: 'virtualNetworks' as const, item: { name: 'fleet', addressPrefixes: ['10.20.0.0/16'], subnets: [{ name: 's1', vsid: 9001, addressPrefix: '10.20.0.0/16' }] } },
      ...hosts.map((_, i) => ({ kind: 'networkInterfaces' as const, item: nic(i, 10 + i) })),
    ],
    change: (i) => ({ kind: 'networkInterfaces', item: nic(i % 200, 1000 + i), affected: hosts }),
  };
}

function fleet1000(): Scenario {
  const HOSTS = 1000;
  const VNETS = 1000;
  const PORTS = 100; // per virtual network, 10 on each of 10 hosts
  const hosts = Array.from({ length: HOSTS }, (_, i) => `h${i}`);
  const hostOf = (v: number, j: number): number => (v + (j % 10) * 100) % HOSTS;
  const nic = (v: number, j: number, ip = 10 + j): Resource => ({
    name: `t${v}-p${j}`,
    host: `h${hostOf(v, j)}`,
    virtualNetwork: `t${v}`,
    subnet: 's',
    macAddress: mac(v * PORTS + j),
    ipAddress: `10.${v >> 8}.${v & 255}.${ip}`,
  });
  return {
    name: 'fleet1000',
    timeFullValidation: true,
    hosts,
    ports: VNETS * PORTS,
    seed: () => [
      ...hosts.map((host, i) => ({ kind: 'hosts' as const, item: { name: host, providerAddresses: [pa(i)] } })),
      ...Array.from({ length: VNETS }, (_, v) => ({
        kind: 'virtualNetworks' as const,
        item: { name: `t${v}`, addressPrefixes: [`10.${v >> 8}.${v & 255}.0/24`], subnets: [{ name: 's', vsid: 5000 + v, addressPrefix: `10.${v >> 8}.${v & 255}.0/24` }] },
      })),
      ...Array.from({ length: VNETS * PORTS }, (_, n) => ({ kind: 'networkInterfaces' as const, item: nic(Math.floor(n / PORTS), n % PORTS) })),
    ],
    change: (i) => {
      const v = (i * 37) % VNETS;
      const j = i % PORTS;
      return { kind: 'networkInterfaces', item: nic(v, j, 200 + (i % 50)), affected: Array.from({ length: 10 }, (_, k) => `h${hostOf(v, k)}`) };
    },
  };
}

// ---- simulated agents (child processes) ----

interface AgentsMessage {
  type: 'ready' | 'applied';
  host?: string;
  revision?: number;
}

async function agentsMain(): Promise<void> {
  const config = JSON.parse(process.env.SY_BENCH_AGENTS as string) as { url: string; hosts: string[]; ca: string; dir: string };
  const ca = readFileSync(config.ca);
  const syncs: ControllerSync[] = [];
  let pending = config.hosts.length;
  for (const host of config.hosts) {
    // hundreds of agents share two cores here: the schema check each real agent makes on its own
    // host is left out (SY_BENCH_VALIDATE=1 puts it back); the digest is still checked
    const validateViews = process.env.SY_BENCH_VALIDATE === '1';
    const sync = new ControllerSync({ controller: config.url, host, token: TOKEN, ca, validateViews, cacheFile: path.join(config.dir, `${host}.json`), maxBackoffMs: 2000 });
    let first = true;
    sync.on('policy', (_policy, revision) => {
      // an agent that applies every view: the time it has it is the time it is applied
      process.send?.({ type: 'applied', host, revision } satisfies AgentsMessage);
      sync.accepted(revision);
      if (first && --pending === 0) process.send?.({ type: 'ready' } satisfies AgentsMessage);
      first = false;
    });
    sync.on('error', () => undefined);
    syncs.push(sync);
    await sync.start();
  }
  process.on('message', (message: { type: string }) => {
    if (message.type === 'stop') void Promise.all(syncs.map((sync) => sync.stop())).then(() => process.exit(0));
  });
}

// ---- the controller side ----

interface CaseResult {
  name: string;
  hosts: number;
  ports: number;
  rounds: number;
  affectedPerPut: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  putAckP50Ms: number;
  putAckP99Ms: number;
  startupMs: number;
  controllerRssMb: number;
  controllerHeapMb: number;
  controllerCpuPercent: number;
  viewsBuiltPerPut: number;
  /** How the change went in: 'rest' (an HTTPS PUT with the admin token). */
  writePath: string;
  /** Event-loop delay of the controller process during the rounds (perf_hooks.monitorEventLoopDelay). */
  loopDelayP50Ms: number;
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
  /** One validation of such a change against the whole policy (what a PUT cost before change-scoped validation). */
  fullValidateMs?: number;
  /** The same change checked by change-scoped validation. */
  scopedValidateMs?: number;
  /** Whole-policy PUTs (PUT /networking/v1/policy, one port changed): validated in the piscina pool, then inline. */
  wholePolicyPuts?: WholePut[];
  /** What starting the controller costs its event loop, and what moving it to a worker would copy. */
  startWork?: StartWork;
}

interface StartWork {
  /** Loading the policy index from the store (every resource parsed from JSON). */
  indexLoadMs: number;
  /** Distinct host views (hosts with the same networks share one). */
  views: number;
  /** Building each distinct view and its digest once, all together and the largest single one. */
  viewsTotalMs: number;
  viewMaxMs: number;
  /** structuredClone of the whole policy: the least a worker building views would need copied to it. */
  policyCloneMs: number;
}

/** Time the controller's start-up work on this event loop, from the same store (the hub's is done already). */
function startWork(store: SqliteStore, hosts: string[]): StartWork {
  let t = performance.now();
  const index = new PolicyIndex(store);
  const indexLoadMs = performance.now() - t;
  const sets = new Map<string, string[]>();
  for (const host of hosts) {
    const vnets = index.vnetsOf(host).sort();
    sets.set(vnets.join('\n'), vnets);
  }
  let viewsTotalMs = 0;
  let viewMaxMs = 0;
  for (const vnets of sets.values()) {
    t = performance.now();
    viewDigest(index.view(vnets));
    const ms = performance.now() - t;
    viewsTotalMs += ms;
    viewMaxMs = Math.max(viewMaxMs, ms);
  }
  const policy = index.policy();
  t = performance.now();
  structuredClone(policy);
  const policyCloneMs = performance.now() - t;
  const round = (ms: number): number => Math.round(ms * 10) / 10;
  return { indexLoadMs: round(indexLoadMs), views: sets.size, viewsTotalMs: round(viewsTotalMs), viewMaxMs: round(viewMaxMs), policyCloneMs: round(policyCloneMs) };
}

interface WholePut {
  validation: 'inline' | 'pool (first: thread start)' | 'pool';
  bodyMb: number;
  putMs: number;
  changed: number;
  loopDelayP50Ms: number;
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
}

/** PUT a prepared JSON text (made before timing: the driver shares this event loop). */
function putText(url: URL, text: Buffer, ca: Buffer): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const request = https.request(url, { method: 'PUT', ca, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', 'content-length': String(text.length) }, timeout: 300_000 });
    request.on('error', reject);
    request.on('response', (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
    });
    request.end(text);
  });
}

/**
 * The whole policy as it is stored now with one port changed, PUT to /networking/v1/policy with
 * the controller's validation inline and then in its piscina pool: round trip and event-loop
 * delay while it runs (the controller's loop, which here is also the driver's).
 */
async function wholePolicyPuts(server: ControllerServer, url: string, ca: Buffer, scenario: Scenario, from: number): Promise<WholePut[]> {
  const out: WholePut[] = [];
  // inline last: a loop held for seconds may make agents reconnect, which must not land in the pool's figures
  const modes: WholePut['validation'][] = ['pool (first: thread start)', 'pool', 'inline'];
  for (const [i, validation] of modes.entries()) {
    const change = scenario.change(from + i);
    const policy = server.hub.current().policy;
    const doc = { ...policy, networkInterfaces: policy.networkInterfaces.map((nic) => (nic.name === change.item.name ? change.item : nic)) };
    const text = Buffer.from(JSON.stringify(doc));
    server.validator.pooled = validation !== 'inline';
    await new Promise((r) => setTimeout(r, 200));
    const loop = monitorEventLoopDelay({ resolution: 10 });
    loop.enable();
    const t = performance.now();
    const reply = await putText(new URL('/networking/v1/policy', url), text, ca);
    const putMs = performance.now() - t;
    loop.disable();
    if (reply.status !== 200) throw new Error(`whole-policy PUT: ${reply.status} ${reply.text.slice(0, 300)}`);
    const round = (ms: number): number => Math.round(ms * 10) / 10;
    out.push({
      validation,
      bodyMb: Math.round((text.length / 2 ** 20) * 10) / 10,
      putMs: Math.round(putMs),
      changed: (JSON.parse(reply.text) as { changed: number }).changed,
      loopDelayP50Ms: round(loop.percentile(50) / 1e6),
      loopDelayP99Ms: round(loop.percentile(99) / 1e6),
      loopDelayMaxMs: round(loop.max / 1e6),
    });
  }
  server.validator.pooled = true;
  return out;
}

async function run(scenario: Scenario, rounds: number, dir: string, pki: ReturnType<typeof makeTestPki>): Promise<CaseResult> {
  const storeFile = path.join(dir, `${scenario.name}.db`);
  const store = new SqliteStore(storeFile);
  // stored as a PUT would store them: normalised by the schema (so a whole-policy PUT of the same
  // resources finds them unchanged)
  const seed = scenario.seed();
  const normalised = parsePolicy({
    hosts: seed.filter((s) => s.kind === 'hosts').map((s) => s.item),
    virtualNetworks: seed.filter((s) => s.kind === 'virtualNetworks').map((s) => s.item),
    networkInterfaces: seed.filter((s) => s.kind === 'networkInterfaces').map((s) => s.item),
  });
  if (!normalised.ok) throw new Error(`bench policy invalid: ${normalised.errors.slice(0, 3).map((e) => `${e.path}: ${e.message}`).join('; ')}`);
  store.batch(() => {
    for (const kind of ['hosts', 'virtualNetworks', 'networkInterfaces'] as const) {
      for (const item of normalised.policy[kind] as unknown as Resource[]) store.put(kind, item.name, item);
    }
  });
  const server = new ControllerServer({ store, token: TOKEN, heartbeatMs: 5000, tls: { cert: readFileSync(pki.cert), key: readFileSync(pki.key) }, sync: { maxStreams: 4096 } });
  const { url } = await server.listen('127.0.0.1', 0);
  const ca = readFileSync(pki.caCert);
  const started = performance.now();

  // host -> the newest revision it applied
  const applied = new Map<string, number>();
  let waiting: { revision: number; hosts: string[]; resolve: () => void } | undefined;
  const check = (): void => {
    if (waiting !== undefined && waiting.hosts.every((host) => (applied.get(host) ?? 0) >= waiting!.revision)) {
      const done = waiting;
      waiting = undefined;
      done.resolve();
    }
  };
  const per = Math.ceil(scenario.hosts.length / AGENT_PROCESSES);
  const children: ChildProcess[] = [];
  const ready: Promise<void>[] = [];
  for (let p = 0; p * per < scenario.hosts.length; p++) {
    const hosts = scenario.hosts.slice(p * per, (p + 1) * per);
    const cacheDir = path.join(dir, 'cache', scenario.name, String(p));
    mkdirSync(cacheDir, { recursive: true });
    const child = fork(fileURLToPath(import.meta.url), ['agents'], { env: { ...process.env, SY_BENCH_AGENTS: JSON.stringify({ url, hosts, ca: pki.caCert, dir: cacheDir }) }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    children.push(child);
    ready.push(
      new Promise<void>((resolve, reject) => {
        child.on('message', (message: AgentsMessage) => {
          if (message.type === 'ready') resolve();
          else if (message.host !== undefined && message.revision !== undefined) {
            applied.set(message.host, Math.max(applied.get(message.host) ?? 0, message.revision));
            check();
          }
        });
        child.once('exit', (code) => reject(new Error(`agents process exited ${code}`)));
      }),
    );
  }
  await Promise.all(ready);
  const startupMs = performance.now() - started;
  await new Promise((r) => setTimeout(r, 500));

  const converge: number[] = [];
  const ack: number[] = [];
  const viewsBefore = server.hub.stats().viewsBuilt;
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  const cpuBefore = process.cpuUsage();
  const wallBefore = performance.now();
  let affected = 0;
  for (let i = 0; i < rounds; i++) {
    const change = scenario.change(i);
    affected = change.affected.length;
    let resolve!: () => void;
    const all = new Promise<void>((r) => (resolve = r));
    const sent = performance.now();
    const reply = await controllerRequest(new URL(`/networking/v1/${change.kind}/${change.item.name}`, url), 'PUT', change.item, { token: TOKEN, ca, timeoutMs: 120_000 });
    if (reply.status >= 300) throw new Error(`PUT ${change.kind}/${change.item.name}: ${reply.status} ${reply.text.slice(0, 300)}`);
    const revision = (JSON.parse(reply.text) as { revision: number }).revision;
    const acked = performance.now();
    waiting = { revision, hosts: change.affected, resolve };
    check();
    await all;
    converge.push(performance.now() - sent);
    ack.push(acked - sent);
    await new Promise((r) => setTimeout(r, 50));
  }
  const cpu = process.cpuUsage(cpuBefore);
  const wall = performance.now() - wallBefore;
  loop.disable();
  const memory = process.memoryUsage();
  const viewsBuilt = server.hub.stats().viewsBuilt - viewsBefore;
  // before anything that holds the loop for seconds (agents reconnect after 15 s without a message)
  const wholePuts = scenario.timeFullValidation === true ? await wholePolicyPuts(server, url, ca, scenario, rounds + 1) : undefined;
  let validation: { fullValidateMs: number; scopedValidateMs: number } | undefined;
  if (scenario.timeFullValidation === true) {
    const change = scenario.change(rounds);
    const current = server.hub.current();
    const timed = (at: PolicyAt): number => {
      const t = performance.now();
      const check = checkPut(at, change.kind as 'networkInterfaces', change.item.name, change.item);
      if (!check.ok) throw new Error(`validation refused the bench change: ${check.message}`);
      return Math.round((performance.now() - t) * 100) / 100;
    };
    const whole = { policy: current.policy, revision: current.revision };
    validation = { fullValidateMs: timed(whole), scopedValidateMs: timed(current) };
  }
  const start = scenario.timeFullValidation === true ? startWork(store, scenario.hosts) : undefined;
  for (const child of children) child.send({ type: 'stop' });
  await Promise.all(children.map((child) => new Promise((r) => (child.exitCode !== null ? r(undefined) : child.once('exit', r)))));
  await server.close();
  converge.sort((a, b) => a - b);
  ack.sort((a, b) => a - b);
  const round = (ms: number): number => Math.round(ms * 10) / 10;
  return {
    name: scenario.name,
    hosts: scenario.hosts.length,
    ports: scenario.ports,
    rounds,
    affectedPerPut: affected,
    p50Ms: round(percentile(converge, 0.5)),
    p99Ms: round(percentile(converge, 0.99)),
    maxMs: round(converge[converge.length - 1] as number),
    putAckP50Ms: round(percentile(ack, 0.5)),
    putAckP99Ms: round(percentile(ack, 0.99)),
    startupMs: Math.round(startupMs),
    controllerRssMb: Math.round(memory.rss / 2 ** 20),
    controllerHeapMb: Math.round(memory.heapUsed / 2 ** 20),
    controllerCpuPercent: Math.round(((cpu.user + cpu.system) / 1000 / wall) * 1000) / 10,
    viewsBuiltPerPut: Math.round((viewsBuilt / rounds) * 10) / 10,
    writePath: 'rest',
    loopDelayP50Ms: round(loop.percentile(50) / 1e6),
    loopDelayP99Ms: round(loop.percentile(99) / 1e6),
    loopDelayMaxMs: round(loop.max / 1e6),
    ...validation,
    ...(wholePuts === undefined ? {} : { wholePolicyPuts: wholePuts }),
    ...(start === undefined ? {} : { startWork: start }),
  };
}

async function main(): Promise<void> {
  const rounds = Number(process.argv[2] ?? 30);
  const only = process.argv[3];
  const dir = mkdtempSync(path.join(tmpdir(), 'switchyard-bench-'));
  const cases: CaseResult[] = [];
  try {
    const pki = makeTestPki(dir);
    for (const scenario of [figure8(), fleet200(), fleet1000()]) {
      if (only !== undefined && scenario.name !== only) continue;
      const result = await run(scenario, rounds, dir, pki);
      cases.push(result);
      console.log(JSON.stringify(result));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const out = path.join(path.dirname(fileURLToPath(import.meta.url)), 'results', 'controller-latest.json');
  const note =
    'HTTPS PUT sent (admin token) -> every affected agent (sync client in a child process) has the view; controller memory/CPU/event-loop delay of the bench process (controller + driver); shared machine: noisy';
  // one case run on its own replaces that case in the file and keeps the others (each has its date)
  let kept: (CaseResult & { date?: string })[] = [];
  if (only !== undefined && existsSync(out)) kept = (JSON.parse(readFileSync(out, 'utf8')) as { cases: CaseResult[] }).cases.filter((c) => c.name !== only);
  const date = new Date().toISOString();
  const all = [...kept, ...cases.map((c) => ({ ...c, date }))].sort((a, b) => a.hosts - b.hosts);
  writeFileSync(out, `${JSON.stringify({ date, note, cases: all }, null, 2)}\n`);
  console.log(`wrote ${out}`);
}

if (process.argv[2] === 'agents') await agentsMain();
else await main();
