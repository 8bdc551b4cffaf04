/**
 * Serves the control protocol on a Unix socket. Requests are answered by a handler the agent
 * supplies; a malformed line gets an error reply, never a crash.
 */
import net from 'node:net';
import fs from 'node:fs';
import path from 'node:path';
import type { ControlRequest, ControlResponse } from './control-protocol.js';

export type ControlHandler = (req: ControlRequest) => Promise<unknown> | unknown;

const MAX_LINE = 1 << 20;

export async function startControlServer(socketPath: string, handler: ControlHandler): Promise<net.Server> {
  fs.mkdirSync(path.dirname(socketPath), { recursive: true });
  try {
    fs.unlinkSync(socketPath); // a stale socket from a killed agent
  } catch {
    /* none */
  }
  const server = net.createServer((conn) => {
    let buf = '';
    conn.setEncoding('utf8');
    conn.on('error', () => conn.destroy());
    conn.on('data', (chunk: string) => {
      buf += chunk;
      if (buf.length > MAX_LINE) {
        reply(conn, { ok: false, error: 'request too large' });
        conn.end();
        return;
      }
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        void answer(line).then((r) => reply(conn, r));
      }
    });
  });
  async function answer(line: string): Promise<ControlResponse> {
    let req: ControlRequest;
    try {
      req = JSON.parse(line) as ControlRequest;
    } catch {
      return { ok: false, error: 'request is not JSON' };
    }
    if (typeof req !== 'object' || req === null || typeof req.op !== 'string') return { ok: false, error: 'request has no op' };
    try {
      return { ok: true, result: await handler(req) };
    } catch (err) {
      return { ok: false, error: (err as Error).message };
    }
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => resolve());
  });
  server.on('error', () => undefined);
  return server;
}

function reply(conn: net.Socket, r: ControlResponse): void {
  if (!conn.destroyed) conn.write(JSON.stringify(r) + '\n');
}
