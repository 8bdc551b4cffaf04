/**
 * Runs `switchyard controller` inside a lab namespace (the router's, so every host reaches it
 * over the underlay), and `switchyard ctl apply|get|delete` against it, as an operator would.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import { runIn, spawnIn, waitFor, type RunResult } from './run.js';

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/switchyard.js');

export interface RunningController {
  url: string;
  ns: string;
  token: string;
  tokenFile: string;
  store: string;
  child: ChildProcess;
  /** SIGTERM and wait. */
  stop(): Promise<void>;
  /** SIGKILL: a crash. */
  kill(): Promise<void>;
  /** `switchyard ctl <args> --controller URL --token-file F` inside the namespace. */
  ctl(args: string[]): Promise<RunResult>;
}

export async function startController(ns: string, addr: string, port: number, dir: string): Promise<RunningController> {
  const tokenFile = path.join(dir, 'token');
  if (!fs.existsSync(tokenFile)) fs.writeFileSync(tokenFile, `lab-${Math.random().toString(36).slice(2)}\n`, { mode: 0o600 });
  const token = fs.readFileSync(tokenFile, 'utf8').trim();
  const store = path.join(dir, 'controller.db');
  const url = `http://${addr}:${port}`;
  const child = spawnIn(ns, process.execPath, [BIN, 'controller', '--listen', `${addr}:${port}`, '--store', store, '--token-file', tokenFile]);
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
    child,
    stop: () => end('SIGTERM'),
    kill: () => end('SIGKILL'),
    ctl: (args) => runIn(ns, process.execPath, [BIN, 'ctl', ...args, '--controller', url, '--token-file', tokenFile], { allowFail: true }),
  };
  await waitFor(
    async () => {
      if (exited) throw new Error(`controller exited; see ${path.join(dir, 'controller.log')}`);
      const r = await runIn(ns, process.execPath, ['-e', `fetch(${JSON.stringify(url + '/networking/v1')},{headers:{authorization:'Bearer ${token}'}}).then((r)=>process.exit(r.ok?0:1),()=>process.exit(1))`], { allowFail: true });
      return r.code === 0;
    },
    15_000,
    'the controller to answer',
  );
  return c;
}
