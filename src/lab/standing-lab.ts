/**
 * A lab that stays up (`switchyard lab up|status|down`, in the manner of containerlab or
 * mininet): Figure 8's hosts and router (topology.ts), the policy's tenant namespaces, and one
 * agent per host (optionally a controller in the router namespace) running detached. Every
 * namespace is made here, from the caller's mount namespace, so anyone can enter it with
 * `ip netns exec`; the agents only adopt them (policy.ts). What is made is recorded first
 * (lab-state.ts), so `down` removes exactly that, whatever state the agents are in.
 */
import fs from 'node:fs';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Policy } from '../policy/types.js';
import { controlRequest } from '../agent/control-client.js';
import { createFigure8Lab, namespacesWithTag, removeNamespaces } from './topology.js';
import { policyForLab } from './policy.js';
import { createTenantNamespaces, writePolicy } from './agents.js';
import { run, runIn, sleep } from './run.js';
import { isOurs, spawnDetached, stopDaemon } from './daemons.js';
import { LAB_ROOT, labDir, labSocket, readLabState, writeLabState, type LabAgentRecord, type LabState } from './lab-state.js';

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/switchyard.js');
/** The lab's fixed underlay (topology.ts): a policy's hosts must use these PAs. */
const LAB_HOSTS: Record<string, string> = { host1: '192.168.1.10', host2: '192.168.2.20' };
const CONTROLLER_ADDR = '192.168.1.1';
const CONTROLLER_PORT = 8080;

export interface LabUpOptions {
  name: string;
  policy: Policy;
  policySource: string;
  controller?: boolean;
  /** Aborting stops `up` at its next step; it then removes what it made. */
  signal?: AbortSignal;
  /** Progress lines for the user. */
  say?: (line: string) => void;
  root?: string;
}

/** What a policy must satisfy to run on the lab's two hosts; every problem, one per line. */
export function labPolicyProblems(policy: Policy): string[] {
  const out: string[] = [];
  for (const h of policy.hosts) {
    const pa = LAB_HOSTS[h.name];
    if (pa === undefined) out.push(`host ${h.name}: the lab has hosts ${Object.keys(LAB_HOSTS).join(' and ')} only`);
    else if (h.providerAddresses.length !== 1 || h.providerAddresses[0] !== pa) out.push(`host ${h.name}: the lab gives it provider address ${pa} (policy says ${h.providerAddresses.join(', ')})`);
  }
  return out;
}

function checkAbort(signal?: AbortSignal): void {
  if (signal?.aborted) throw new Error('interrupted');
}

async function waitUntil(check: () => Promise<boolean>, ms: number, what: string, signal?: AbortSignal): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    checkAbort(signal);
    if (await check()) return;
    await sleep(150);
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`);
}

function logTail(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8').trim().split('\n').slice(-5).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Pings an agent's control socket. */
export async function agentAnswers(socket: string): Promise<boolean> {
  try {
    return (await controlRequest(socket, { op: 'ping' }, 1000)) === 'pong';
  } catch {
    return false;
  }
}

/**
 * Builds the lab and starts its agents; on any failure (or abort) removes what it made, keeps the
 * logs in a temp directory and names it in the error.
 */
export async function labUp(o: LabUpOptions): Promise<LabState> {
  const root = o.root ?? LAB_ROOT;
  const say = o.say ?? (() => undefined);
  const problems = labPolicyProblems(o.policy);
  if (problems.length) throw new Error(`this policy does not fit the lab:\n  ${problems.join('\n  ')}`);
  if (readLabState(o.name, root)) throw new Error(`lab ${o.name} is up already: \`switchyard lab status\` shows it, \`switchyard lab down\` removes it`);
  const stray = await namespacesWithTag(o.name);
  if (stray.length) throw new Error(`namespaces ${stray.join(', ')} exist but lab ${o.name} has no record: not made by \`lab up\`, so left alone; pick another --name`);
  const dir = labDir(o.name, root);
  // a directory left without a record (an `up` killed before its first write): nothing in it is live
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  const tenantNs = (nic: string) => `${o.name}-${nic}`;
  const labPolicy = policyForLab(o.policy, tenantNs);
  const state: LabState = {
    name: o.name,
    createdAt: new Date().toISOString(),
    namespaces: [`${o.name}-rt`, `${o.name}-h1`, `${o.name}-h2`, ...labPolicy.networkInterfaces.flatMap((n) => (n.netns ? [n.netns] : []))],
    policyFile: path.join(dir, 'policy.yaml'),
    policySource: o.policySource,
    router: `${o.name}-rt`,
    agents: [],
    tenants: labPolicy.networkInterfaces.flatMap((n) => (n.netns && n.ipAddress !== undefined && n.virtualNetwork !== undefined ? [{ nic: n.name, ns: n.netns, ip: n.ipAddress, host: n.host, virtualNetwork: n.virtualNetwork }] : [])),
    complete: false,
  };
  writeLabState(state, root);
  try {
    say(`building hosts host1 (PA 192.168.1.10) and host2 (PA 192.168.2.20) joined by router ${state.router}`);
    const lab = await createFigure8Lab({ tag: o.name });
    checkAbort(o.signal);
    writePolicy(dir, labPolicy);
    await createTenantNamespaces(labPolicy, Object.keys(LAB_HOSTS));
    checkAbort(o.signal);
    let env: NodeJS.ProcessEnv | undefined;
    if (o.controller) {
      const tokenFile = path.join(dir, 'token');
      fs.writeFileSync(tokenFile, `${randomBytes(16).toString('hex')}\n`, { mode: 0o600 });
      const url = `http://${CONTROLLER_ADDR}:${CONTROLLER_PORT}`;
      const log = path.join(dir, 'controller.log');
      const store = path.join(dir, 'controller.db');
      say(`controller in ${state.router} at ${url}`);
      const d = spawnDetached(state.router, process.execPath, [BIN, 'controller', '--listen', `${CONTROLLER_ADDR}:${CONTROLLER_PORT}`, '--store', store, '--token-file', tokenFile], log);
      state.controller = { pid: d.pid, ns: state.router, log, url, tokenFile };
      writeLabState(state, root);
      await waitUntil(
        async () => {
          if (d.exited()) throw new Error(`the controller exited:\n${logTail(log)}`);
          const r = await runIn(state.router, process.execPath, ['-e', `fetch(${JSON.stringify(`${url}/networking/v1`)}).then((r)=>process.exit(r.status<500?0:1),()=>process.exit(1))`], { allowFail: true });
          return r.code === 0;
        },
        20_000,
        'the controller to answer',
        o.signal,
      );
      const applied = await runIn(state.router, process.execPath, [BIN, 'ctl', 'apply', '-f', state.policyFile, '--controller', url, '--token-file', tokenFile], { allowFail: true });
      if (applied.code !== 0) throw new Error(`ctl apply failed: ${applied.stderr.trim() || applied.stdout.trim()}`);
      env = { ...process.env, SWITCHYARD_TOKEN: fs.readFileSync(tokenFile, 'utf8').trim() };
    }
    for (const h of lab.hosts) {
      if (!labPolicy.hosts.some((x) => x.name === h.name)) continue;
      checkAbort(o.signal);
      const socket = labSocket(o.name, h.name, root);
      const log = path.join(dir, `${h.name}.log`);
      const from = state.controller ? ['--controller', state.controller.url, '--cache', path.join(dir, `${h.name}.policy.json`)] : ['--policy', state.policyFile];
      const d = spawnDetached(h.ns, process.execPath, [BIN, 'agent', ...from, '--host', h.name, '--socket', socket, '--state-dir', path.join(dir, `${h.name}.state`)], log, env);
      const rec: LabAgentRecord = { host: h.name, pa: h.pa, ns: h.ns, pid: d.pid, socket, log };
      state.agents.push(rec);
      writeLabState(state, root);
      await waitUntil(
        async () => {
          if (d.exited()) throw new Error(`agent ${h.name} exited:\n${logTail(log)}`);
          return agentAnswers(socket);
        },
        30_000,
        `agent ${h.name} to answer on ${socket}`,
        o.signal,
      );
      say(`agent ${h.name} up in ${h.ns} (pid ${d.pid}, log ${log})`);
    }
    state.complete = true;
    writeLabState(state, root);
    return state;
  } catch (err) {
    // an interrupt is the user's choice: nothing is kept; a failure keeps the logs to read
    const kept = o.signal?.aborted ? undefined : keepLogs(dir, o.name);
    await labDown(o.name, root);
    if (o.signal?.aborted) throw new Error('interrupted; removed everything it had made', { cause: err });
    throw new Error(`${(err as Error).message}${kept ? `\nlogs kept in ${kept}` : ''}`, { cause: err });
  }
}

/** Copies the lab's logs to a temp directory before `down` removes its directory. */
function keepLogs(dir: string, name: string): string | undefined {
  let logs: string[];
  try {
    logs = fs.readdirSync(dir).filter((f) => f.endsWith('.log') || f === 'policy.yaml');
  } catch {
    return undefined;
  }
  if (!logs.some((f) => f.endsWith('.log'))) return undefined;
  const out = fs.mkdtempSync(path.join(os.tmpdir(), `${name}-failed-`));
  for (const f of logs) fs.copyFileSync(path.join(dir, f), path.join(out, f));
  return out;
}

export interface LabDownReport {
  found: boolean;
  daemons: { what: string; pid: number; result: string }[];
  namespaces: string[];
}

/** Stops the lab's processes and removes its namespaces and directory: what its record names. */
export async function labDown(name: string, root = LAB_ROOT): Promise<LabDownReport> {
  const state = readLabState(name, root);
  const report: LabDownReport = { found: state !== undefined, daemons: [], namespaces: [] };
  if (!state) return report;
  const dir = labDir(name, root);
  // a daemon is recognised by a path only this lab uses on its command line
  for (const a of state.agents) report.daemons.push({ what: `agent ${a.host}`, pid: a.pid, result: await stopDaemon(a.pid, a.socket) });
  if (state.controller) report.daemons.push({ what: 'controller', pid: state.controller.pid, result: await stopDaemon(state.controller.pid, path.join(dir, 'controller.db')) });
  const present = new Set((await run('ip', ['netns', 'list'], { allowFail: true })).stdout.split('\n').map((l) => l.split(' ')[0] ?? ''));
  report.namespaces = state.namespaces.filter((n) => present.has(n));
  // tenants first, hosts and router last: every process still inside is killed with its namespace
  await removeNamespaces([...report.namespaces].reverse());
  fs.rmSync(dir, { recursive: true, force: true });
  return report;
}

export interface LabAgentStatus extends LabAgentRecord {
  running: boolean;
  answers: boolean;
}

export interface LabStatus {
  state: LabState;
  agents: LabAgentStatus[];
  controllerRunning?: boolean;
  /** Namespaces of the record that are missing. */
  missing: string[];
}

export async function labStatus(name: string, root = LAB_ROOT): Promise<LabStatus | undefined> {
  const state = readLabState(name, root);
  if (!state) return undefined;
  const agents = await Promise.all(state.agents.map(async (a) => ({ ...a, running: isOurs(a.pid, a.socket), answers: await agentAnswers(a.socket) })));
  const present = new Set((await run('ip', ['netns', 'list'], { allowFail: true })).stdout.split('\n').map((l) => l.split(' ')[0] ?? ''));
  const st: LabStatus = { state, agents, missing: state.namespaces.filter((n) => !present.has(n)) };
  if (state.controller) st.controllerRunning = isOurs(state.controller.pid, path.join(labDir(name, root), 'controller.db'));
  return st;
}
