/**
 * Runs `switchyard controller` inside a lab namespace (the router's, so every host reaches it
 * over the underlay), and `switchyard ctl apply|get|delete` against it, as an operator would:
 * HTTPS with a certificate from a CA made for the run (pki.ts), the admin token for ctl, and a
 * host token per agent (`switchyard controller token create`).
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import { makeTestPki } from './pki.js';
import { runIn, spawnIn, waitFor, type RunResult } from './run.js';

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/switchyard.js');

export interface RunningController {
  url: string;
  ns: string;
  token: string;
  tokenFile: string;
  store: string;
  /** The CA that signed the controller's certificate. */
  caFile: string;
  child: ChildProcess;
  /** Environment for an agent of `host`: its own host token (made once per run) and the CA. */
  agentEnv(host: string): Promise<NodeJS.ProcessEnv>;
  /** SIGTERM and wait. */
  stop(): Promise<void>;
  /** SIGKILL: a crash. */
  kill(): Promise<void>;
  /** `switchyard ctl <args> --controller URL --token-file F` inside the namespace. */
  ctl(args: string[]): Promise<RunResult>;
}

/** `store`: the controller's --store (default a SQLite file in `dir`); with an etcd store the host
 * tokens go to a SQLite --token-store file in `dir`. */
export async function startController(ns: string, addr: string, port: number, dir: string, opts: { store?: string } = {}): Promise<RunningController> {
  const tokenFile = path.join(dir, 'token');
  if (!fs.existsSync(tokenFile)) fs.writeFileSync(tokenFile, `lab-${Math.random().toString(36).slice(2)}\n`, { mode: 0o600 });
  const token = fs.readFileSync(tokenFile, 'utf8').trim();
  const etcd = opts.store?.startsWith('etcd://') === true;
  const store = opts.store ?? path.join(dir, 'controller.db');
  // the SQLite file that holds the host tokens: the store itself, or one beside an etcd store
  const tokenStore = etcd ? path.join(dir, 'tokens.db') : store;
  const url = `https://${addr}:${port}`;
  const pkiDir = path.join(dir, 'pki');
  if (!fs.existsSync(path.join(pkiDir, 'controller.crt'))) {
    fs.mkdirSync(pkiDir, { recursive: true, mode: 0o700 });
    makeTestPki(pkiDir, [addr]);
  }
  const caFile = path.join(pkiDir, 'ca.crt');
  const tls = ['--tls-cert', path.join(pkiDir, 'controller.crt'), '--tls-key', path.join(pkiDir, 'controller.key')];
  const child = spawnIn(ns, process.execPath, [BIN, 'controller', '--listen', `${addr}:${port}`, '--store', store, ...(etcd ? ['--token-store', tokenStore] : []), '--token-file', tokenFile, ...tls]);
  const log = fs.createWriteStream(path.join(dir, 'controller.log'), { flags: 'a' });
  child.stdout!.pipe(log);
  child.stderr!.pipe(log);
  let exited = false;
  child.on('exit', () => (exited = true));
  const end = async (sig: NodeJS.Signals) => {
    if (exited) return;
    const gone = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill(sig);
    await gone;
  };
  const c: RunningController = {
    url,
    ns,
    token,
    tokenFile,
    store,
    caFile,
    child,
    stop: () => end('SIGTERM'),
    kill: () => end('SIGKILL'),
    ctl: (args) => runIn(ns, process.execPath, [BIN, 'ctl', ...args, '--controller', url, '--token-file', tokenFile, '--ca-file', caFile], { allowFail: true }),
    agentEnv: async (host) => {
      const hostTokenFile = path.join(dir, `${host}.token`);
      if (!fs.existsSync(hostTokenFile)) {
        const made = await runIn(undefined, process.execPath, [BIN, 'controller', 'token', 'create', '--store', tokenStore, '--host', host]);
        fs.writeFileSync(hostTokenFile, made.stdout, { mode: 0o600 });
      }
      return { SWITCHYARD_TOKEN: fs.readFileSync(hostTokenFile, 'utf8').trim(), SWITCHYARD_CA: caFile };
    },
  };
  await waitFor(
    async () => {
      if (exited) throw new Error(`controller exited; see ${path.join(dir, 'controller.log')}`);
      return (await c.ctl(['get', 'hosts'])).code === 0;
    },
    15_000,
    'the controller to answer',
  );
  return c;
}
