/**
 * Starts switchyard agents as child processes inside host namespaces (as a user would: the
 * `switchyard agent` command), waits until each answers on its control socket, and stops them.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import { stringify } from 'yaml';
import type { Policy } from '../policy/types.js';
import { controlRequest } from '../agent/control-client.js';
import { run, spawnIn, waitFor } from './run.js';

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/switchyard.js');

export interface RunningAgent {
  host: string;
  ns: string;
  socket: string;
  child: ChildProcess;
  log: string[];
  stop(): Promise<void>;
}

/** A temp directory for one lab run: the policy file, control sockets, logs. */
export function makeRunDir(tag: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `${tag}-`));
}

/**
 * Creates the tenant namespaces the policy names for `hosts` (with loopback up). An agent started
 * with `ip netns exec` runs in a private mount namespace, where an `ip netns add` of its own would
 * not be visible to anyone else, so the lab makes them from outside first and the policy says
 * `netnsMode: adopt` (policyForLab): the agent adds its ports to them and leaves them standing.
 */
export async function createTenantNamespaces(policy: Policy, hosts: string[]): Promise<void> {
  for (const n of policy.networkInterfaces) {
    if (!n.netns || !hosts.includes(n.host)) continue;
    await run('ip', ['netns', 'add', n.netns], { allowFail: true });
    await run('ip', ['-n', n.netns, 'link', 'set', 'lo', 'up'], { allowFail: true });
  }
}

export function writePolicy(dir: string, policy: Policy): string {
  const f = path.join(dir, 'policy.yaml');
  fs.writeFileSync(f, stringify(policy));
  return f;
}

/**
 * Starts `switchyard agent` for `host` in namespace `ns`. `source` is a policy file, or
 * `{ controller, cache }` to take the policy from a controller.
 */
export async function startAgent(
  ns: string,
  host: string,
  source: string | { controller: string; cache: string },
  dir: string,
  extraArgs: string[] = [],
  env?: NodeJS.ProcessEnv,
): Promise<RunningAgent> {
  const socket = path.join(dir, `${host}.sock`);
  const from = typeof source === 'string' ? ['--policy', source] : ['--controller', source.controller, '--cache', source.cache];
  // SY_AGENT_NODE_ARGS: node flags for the agents only, e.g. `--cpu-prof --cpu-prof-dir=DIR` (Node 20
  // refuses --cpu-prof in NODE_OPTIONS, so they go on the command line)
  const nodeArgs = (process.env.SY_AGENT_NODE_ARGS ?? '').split(' ').filter(Boolean);
  // the record of what the agent made stays in this run's directory (not /run/switchyard/<host>,
  // which agents of other labs of the same host name would share)
  const state = ['--state-dir', path.join(dir, `${host}.state`)];
  const child = spawnIn(ns, process.execPath, [...nodeArgs, BIN, 'agent', ...from, '--host', host, '--socket', socket, ...state, ...extraArgs], env ? { ...process.env, ...env } : undefined);
  const log: string[] = [];
  const logFile = fs.createWriteStream(path.join(dir, `${host}.log`), { flags: 'a' });
  child.stdout!.on('data', (d: Buffer) => logFile.write(d));
  child.stderr!.on('data', (d: Buffer) => {
    logFile.write(d);
    log.push(d.toString());
  });
  let exited = false;
  child.on('exit', () => (exited = true));
  const agent: RunningAgent = {
    host,
    ns,
    socket,
    child,
    log,
    stop: async () => {
      if (exited) return;
      const gone = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await gone;
      clearTimeout(t);
      logFile.end();
    },
  };
  try {
    await waitFor(
      async () => {
        if (exited) throw new Error(`agent ${host} exited: ${log.join('').slice(-2000)}`);
        try {
          return (await controlRequest(socket, { op: 'ping' }, 1000)) === 'pong';
        } catch {
          return false;
        }
      },
      60_000,
      `agent ${host} to come up`,
    );
  } catch (err) {
    await agent.stop();
    throw err;
  }
  return agent;
}
