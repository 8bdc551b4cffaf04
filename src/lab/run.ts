/**
 * Running host commands (ip, iperf3, ping, tcpdump) for the lab: the demo, the integration tests
 * and the benchmarks build their topologies with these. Errors carry the command and its stderr.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';

export interface RunResult {
  stdout: string;
  stderr: string;
  code: number;
}

/** Runs a command; rejects with the command line and stderr unless `allowFail`. */
export function run(cmd: string, args: string[], opts: { allowFail?: boolean; timeoutMs?: number; input?: string } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { timeout: opts.timeoutMs ?? 60_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as NodeJS.ErrnoException).code === 'number' ? Number((err as NodeJS.ErrnoException).code) : 1) : 0;
      if (err && !opts.allowFail) {
        reject(new Error(`${cmd} ${args.join(' ')} failed: ${stderr.trim() || err.message}`));
        return;
      }
      resolve({ stdout, stderr, code });
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** Runs a command inside network namespace `ns` (or the current one when undefined). */
export function runIn(ns: string | undefined, cmd: string, args: string[], opts: { allowFail?: boolean; timeoutMs?: number } = {}): Promise<RunResult> {
  return ns ? run('ip', ['netns', 'exec', ns, cmd, ...args], opts) : run(cmd, args, opts);
}

/** Starts a long-running command in `ns`; the caller stops it. */
export function spawnIn(ns: string | undefined, cmd: string, args: string[], env?: NodeJS.ProcessEnv): ChildProcess {
  const argv = ns ? ['netns', 'exec', ns, cmd, ...args] : args;
  return spawn(ns ? 'ip' : cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: env ?? process.env });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `check` until it returns true or `timeoutMs` passes. */
export async function waitFor(check: () => Promise<boolean> | boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await sleep(100);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}
