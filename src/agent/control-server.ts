/**
 * Serves the control protocol on a Unix socket. Requests are answered by a handler the agent
 * supplies; a malformed line gets an error reply, never a crash. A client may half-close after
 * its request (`echo ... | nc -U`): its answers are still written before the connection ends.
 * A socket file that a live agent still answers on is not taken over.
 *
 * Who may connect: the socket is 0600 (root only) whatever the umask, or 0660 with `group`: it
 * is bound inside a fresh 0700 directory, given its mode (and group) there, then renamed into
 * place, so there is no moment at which it is reachable with the umask's mode.
 *
 * Bounded per client: at most MAX_PENDING requests of a connection are answered at a time, and a
 * connection whose replies are not read (the socket's write buffer is full) is not read either
 * until it drains; so a client that pipelines requests and never reads stops being read instead
 * of making the agent queue replies without end. At most MAX_CONNECTIONS connections at once.
 */
import net from 'node:net';
import fs from 'node:fs';
import path from 'node:path';
import type { ControlRequest, ControlResponse } from './control-protocol.js';

export type ControlHandler = (req: ControlRequest) => Promise<unknown> | unknown;

const MAX_LINE = 1 << 20;
/** Requests of one connection being answered at once. */
export const MAX_PENDING = 8;
export const MAX_CONNECTIONS = 64;

export interface ControlServer {
  /** Stops listening and ends every open connection (a held connection must not block shutdown). */
  close(): Promise<void>;
}

export interface ControlServerOptions {
  /** Group id that may connect too (socket 0660); default: none (0600). */
  group?: number;
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

/** A group name from /etc/group, or a numeric gid, as a gid. */
export function resolveGroup(group: string): number {
  if (/^[0-9]+$/.test(group)) return Number(group);
  for (const line of fs.readFileSync('/etc/group', 'utf8').split('\n')) {
    const [name, , gid] = line.split(':');
    if (name === group && gid !== undefined && /^[0-9]+$/.test(gid)) return Number(gid);
  }
  throw new Error(`no group ${JSON.stringify(group)} in /etc/group`);
}

export async function startControlServer(socketPath: string, handler: ControlHandler, opts: ControlServerOptions = {}): Promise<ControlServer> {
  const dir = path.dirname(socketPath);
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  if (fs.existsSync(socketPath)) {
    if (await socketIsLive(socketPath)) throw new Error(`another agent already serves ${socketPath} (stop it, or give --socket another path)`);
    fs.unlinkSync(socketPath); // a stale socket from a killed agent
  }
  const conns = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (conn) => {
    if (conns.size >= MAX_CONNECTIONS) {
      conn.end(JSON.stringify({ ok: false, error: `too many control connections (${MAX_CONNECTIONS})` }) + '\n');
      conn.on('error', () => conn.destroy());
      return;
    }
    conns.add(conn);
    let buf = '';
    let pending = 0;
    let ended = false;
    const maybeEnd = () => {
      if (ended && pending === 0 && buf.indexOf('\n') < 0 && !conn.destroyed) conn.end();
    };
    /** Takes the complete lines there is room for; reads more only while there is room. */
    const pump = () => {
      if (conn.destroyed) return;
      let nl: number;
      while (pending < MAX_PENDING && !conn.writableNeedDrain && (nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        pending++;
        void answer(line).then((r) => {
          reply(conn, r);
          pending--;
          pump();
          maybeEnd();
        });
      }
      const waiting = buf.indexOf('\n') >= 0;
      if (!waiting && buf.length > MAX_LINE) {
        reply(conn, { ok: false, error: 'request too large' });
        buf = '';
        conn.end();
        return;
      }
      if (waiting || pending >= MAX_PENDING || conn.writableNeedDrain) conn.pause();
      else if (conn.isPaused()) conn.resume();
    };
    conn.setEncoding('utf8');
    conn.on('error', () => conn.destroy());
    conn.on('close', () => conns.delete(conn));
    conn.on('drain', pump);
    conn.on('end', () => {
      ended = true;
      maybeEnd();
    });
    conn.on('data', (chunk: string) => {
      buf += chunk;
      pump();
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
  // bound where no one else can reach it, given its mode, then moved into place
  const privateDir = fs.mkdtempSync(path.join(dir, '.sy-'));
  const bound = path.join(privateDir, 's');
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(bound, () => resolve());
    });
    if (opts.group !== undefined) fs.chownSync(bound, -1, opts.group);
    fs.chmodSync(bound, opts.group !== undefined ? 0o660 : 0o600);
    fs.renameSync(bound, socketPath);
  } catch (err) {
    server.close();
    throw err;
  } finally {
    fs.rmSync(privateDir, { recursive: true, force: true });
  }
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
