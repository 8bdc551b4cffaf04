// Who can talk to the agent's control socket, and what one client can make it hold (issue 16):
// the socket is 0600 whatever the umask (0660 with a group), and a client that pipelines large
// requests and never reads its replies does not grow the agent (measured: RSS of the server's
// process stays within a bound while the client keeps trying).
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { controlRequest } from '../../src/agent/control-client.js';

const CHILD = path.resolve(import.meta.dirname, '../helpers/control-server-child.ts');
const children: ChildProcess[] = [];
const dirs: string[] = [];
const sockets: net.Socket[] = [];

afterEach(() => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const c of children.splice(0)) c.kill('SIGKILL');
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

async function serve(replyBytes: number, umask: string, gid?: number): Promise<{ socket: string; pid: number }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-ctl-'));
  dirs.push(dir);
  const socket = path.join(dir, 'agent.sock');
  const args = ['--import', 'tsx', CHILD, socket, String(replyBytes), umask, ...(gid === undefined ? [] : [String(gid)])];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  const pid = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /ready (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`control server exited ${code}`)));
  });
  return { socket, pid };
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m![1]) / 1024;
}

describe('control socket', () => {
  it('is 0600 even with umask 000, and 0660 with the configured group', async () => {
    const { socket } = await serve(16, '000');
    const st = fs.lstatSync(socket);
    expect(st.isSocket()).toBe(true);
    expect((st.mode & 0o777).toString(8)).toBe('600');
    expect(await controlRequest(socket, { op: 'ping' })).toBe('pong');
    // nothing left beside the socket (the private directory it was bound in is gone)
    expect(fs.readdirSync(path.dirname(socket))).toEqual(['agent.sock']);
    const grouped = await serve(16, '000', 4242);
    const g = fs.lstatSync(grouped.socket);
    expect((g.mode & 0o777).toString(8)).toBe('660');
    expect(g.gid).toBe(4242);
  });

  it('a client that pipelines requests and never reads does not grow the server', async () => {
    const replyKb = 64;
    const { socket, pid } = await serve(replyKb * 1024, '022');
    const before = rssMb(pid);
    const conn = net.createConnection(socket);
    sockets.push(conn);
    await new Promise<void>((r) => conn.once('connect', () => r()));
    conn.pause(); // never reads a reply
    const line = JSON.stringify({ op: 'trace', port: 'p', direction: 'out', spec: { proto: 'icmp' } }) + '\n';
    const total = 4000; // answered in full, 4000 replies of 64 KB would be 250 MB
    let written = 0;
    let peak = before;
    // write as fast as the socket takes it; a server that stops reading stops taking it
    while (written < total) {
      if (!conn.write(line)) {
        const drained = await new Promise<boolean>((resolve) => {
          const t = setTimeout(() => resolve(false), 1000);
          conn.once('drain', () => {
            clearTimeout(t);
            resolve(true);
          });
        });
        peak = Math.max(peak, rssMb(pid));
        if (!drained) break;
      }
      written++;
    }
    for (let i = 0; i < 10; i++) {
      await new Promise((r) => setTimeout(r, 100));
      peak = Math.max(peak, rssMb(pid));
    }
    console.log(`control server RSS: ${before.toFixed(1)} MB before, peak ${peak.toFixed(1)} MB; ${written} of ${total} requests taken`);
    expect(peak - before).toBeLessThan(40);
    expect(written).toBeLessThan(total);
    // the stuck client holds no one else up
    expect(await controlRequest(socket, { op: 'ping' })).toBe('pong');
    // and once it reads, its answers come, whole and in order of completion
    conn.setEncoding('utf8');
    const first = await new Promise<string>((resolve) => {
      let buf = '';
      conn.on('data', (d: string) => {
        buf += d;
        const nl = buf.indexOf('\n');
        if (nl >= 0) resolve(buf.slice(0, nl));
      });
      conn.resume();
    });
    expect((JSON.parse(first) as { ok: boolean; result: { trace: string } }).result.trace.length).toBe(replyKb * 1024);
  });
});
