/**
 * Processes of a standing lab: started detached (own session, output to a log file) so they
 * outlive the `lab up` that started them and a Ctrl-C in its terminal; found again later by pid,
 * and stopped only when /proc shows the command line they were started with (a pid the kernel
 * has since given to another process is left alone).
 */
import fs from 'node:fs';
import { spawn, type ChildProcess } from 'node:child_process';
import { sleep } from './run.js';

export interface Detached {
  child: ChildProcess;
  pid: number;
  /** True once the process has exited (while this process still watches it). */
  exited(): boolean;
}

/**
 * Starts `cmd args` in namespace `ns` (`ip netns exec` execs the command itself, so the pid is
 * the command's), in a session of its own, stdout and stderr appended to `log`.
 */
export function spawnDetached(ns: string, cmd: string, args: string[], log: string, env?: NodeJS.ProcessEnv): Detached {
  const fd = fs.openSync(log, 'a', 0o640);
  try {
    const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { detached: true, stdio: ['ignore', fd, fd], env: env ?? process.env });
    if (child.pid === undefined) throw new Error(`could not start ${cmd} in ${ns}`);
    let gone = false;
    child.on('exit', () => (gone = true));
    child.on('error', () => (gone = true));
    child.unref();
    return { child, pid: child.pid, exited: () => gone };
  } finally {
    fs.closeSync(fd);
  }
}

/** The process's command line, or undefined when there is no such process. */
function cmdline(pid: number): string | undefined {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    return undefined;
  }
}

/** True when `pid` runs and its command line contains `mark` (a path only this lab uses). */
export function isOurs(pid: number, mark: string): boolean {
  const c = cmdline(pid);
  if (c === undefined) return false;
  // a zombie (exited, not yet reaped) has an empty command line: not running
  return c.includes(mark);
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. Only if it is ours. */
export async function stopDaemon(pid: number, mark: string, graceMs = 5000): Promise<'stopped' | 'killed' | 'not-running'> {
  if (!isOurs(pid, mark)) return 'not-running';
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return 'not-running';
  }
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!isOurs(pid, mark)) return 'stopped';
    await sleep(100);
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    /* gone meanwhile */
  }
  for (let i = 0; i < 50 && isOurs(pid, mark); i++) await sleep(100);
  return 'killed';
}
