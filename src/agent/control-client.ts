/** Client side of the control protocol (used by `switchyard ctl` and tests). */
import net from 'node:net';
import type { ControlRequest, ControlResponse } from './control-protocol.js';

export function controlRequest(socketPath: string, req: ControlRequest, timeoutMs = 5000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const conn = net.createConnection(socketPath);
    let buf = '';
    const timer = setTimeout(() => {
      conn.destroy();
      reject(new Error(`no answer from ${socketPath} within ${timeoutMs} ms`));
    }, timeoutMs);
    conn.setEncoding('utf8');
    conn.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const hint = err.code === 'ENOENT' || err.code === 'ECONNREFUSED' ? ' (is the agent running? is --host right?)' : '';
      reject(new Error(`cannot reach agent at ${socketPath}: ${err.code ?? err.message}${hint}`));
    });
    conn.on('connect', () => conn.write(JSON.stringify(req) + '\n'));
    conn.on('data', (chunk: string) => {
      buf += chunk;
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      conn.end();
      let res: ControlResponse;
      try {
        res = JSON.parse(buf.slice(0, nl)) as ControlResponse;
      } catch {
        reject(new Error('agent sent a malformed reply'));
        return;
      }
      if (res.ok) resolve(res.result);
      else reject(new Error(res.error));
    });
  });
}
