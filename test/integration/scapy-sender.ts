/**
 * A long-lived scapy process in a namespace (scapy/isolation-sender.py) that sends the frames a
 * test describes as scapy expressions: loading scapy costs about a second, so a test file starts
 * one per sending namespace and reuses it.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawn } from 'node:child_process';

const SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'scapy', 'isolation-sender.py');

export interface ScapySender {
  /** Sends the frames (scapy expressions, evaluated with scapy's names) in order. */
  send(frames: string[]): Promise<void>;
  stop(): void;
}

/**
 * `l2`: frames written onto `iface` (sendp); `l3`: IP datagrams routed by the namespace (send).
 */
export async function startScapySender(ns: string, mode: { l2: string } | 'l3'): Promise<ScapySender> {
  const args = mode === 'l3' ? [SCRIPT, 'l3'] : [SCRIPT, 'l2', mode.l2];
  // /usr/bin/python3: Debian's scapy is installed for that interpreter only (FACTS.md)
  // spawned here rather than with lab/run.ts spawnIn, which closes stdin
  const child = spawn('ip', ['netns', 'exec', ns, '/usr/bin/python3', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let buf = '';
  let err = '';
  const waiters: ((line: string) => void)[] = [];
  let gone = false;
  child.stdin.on('error', () => undefined); // EPIPE after an exit is reported by next()
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  child.stdout.on('data', (d: Buffer) => {
    buf += d.toString();
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      waiters.shift()?.(line);
    }
  });
  const next = (): Promise<string> =>
    new Promise((resolve, reject) => {
      if (gone) reject(new Error(`scapy sender in ${ns} exited: ${err.trim()}`));
      else waiters.push(resolve);
    });
  child.once('exit', () => {
    gone = true;
    for (const w of waiters.splice(0)) w(`error: scapy sender in ${ns} exited: ${err.trim()}`);
  });
  const ready = await Promise.race([next(), new Promise<string>((r) => setTimeout(() => r('error: no ready after 30 s'), 30_000))]);
  if (ready !== 'ready') {
    child.kill('SIGKILL');
    throw new Error(`scapy sender in ${ns}: ${ready} ${err.trim()}`);
  }
  return {
    send: async (frames) => {
      const answer = next();
      child.stdin.write(`${JSON.stringify({ frames })}\n`);
      const line = await answer;
      if (line !== `sent ${frames.length}`) throw new Error(`scapy sender in ${ns}: ${line}`);
    },
    stop: () => {
      if (!gone) child.kill('SIGKILL');
    },
  };
}
