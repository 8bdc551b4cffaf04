/**
 * Serves the control protocol on a Unix socket. Requests are answered by a handler the agent
 * supplies; a malformed line gets an error reply, never a crash. A client may half-close after
 * its request (`echo ... | nc -U`): its answers are still written before the connection ends.
 * A socket file that a live agent still answers on is not taken over.
 */
import net from 'node:net';
import fs from 'node:fs';
import path from 'node:path';
import type { ControlRequest, ControlResponse } from './control-protocol.js';

export type ControlHandler = (req: ControlRequest) => Promise<unknown> | unknown;

const MAX_LINE = 1 << 20;

export interface ControlServer {
  /** Stops listening and ends every open connection (a held connection must not block shutdown). */
  close(): Promise<void>;
}

/** True when something accepts connections on the socket file. */
function socketIsLive(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.createConnection(socketPath);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}

export async function startControlServer(socketPath: string, handler: ControlHandler): Promise<ControlServer> {
  fs.mkdirSync(path.dirname(socketPath), { recursive: true });
  if (fs.existsSync(socketPath)) {
    if (await socketIsLive(socketPath)) throw new Error(`another agent already serves ${socketPath} (stop it, or give --control another path)`);
    fs.unlinkSync(socketPath); // a stale socket from a killed agent
  }
  const conns = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (conn) => {
    conns.add(conn);
    let buf = '';
    let pending = 0;
    let ended = false;
    const maybeEnd = () => {
      if (ended && pending === 0 && !conn.destroyed) conn.end();
    };
    conn.setEncoding('utf8');
    conn.on('error', () => conn.destroy());
    conn.on('close', () => conns.delete(conn));
    conn.on('end', () => {
      ended = true;
      maybeEnd();
    });
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
        pending++;
        void answer(line).then((r) => {
          reply(conn, r);
          pending--;
          maybeEnd();
        });
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
  return {
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of conns) c.destroy();
        server.close(() => resolve());
      }),
  };
}

function reply(conn: net.Socket, r: ControlResponse): void {
  if (!conn.destroyed && conn.writable) conn.write(JSON.stringify(r) + '\n');
}
