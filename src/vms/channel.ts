/**
 * The command channel into a guest. qemu exposes the virtio-serial port "switchyard.cmd" as a Unix
 * socket on the host; in the guest scripts/vm/guest/runner.mjs (a systemd service) reads one JSON
 * request per line and answers one JSON line with the same id:
 *   {"id":1,"cmd":"ip -br addr","timeoutMs":30000} -> {"id":1,"code":0,"stdout":"...","stderr":"...","ms":12}
 *   {"id":2,"ping":true}                            -> {"id":2,"pong":true,"uptime":12.3}
 * Commands run as root with bash; the runner kills a command at its timeout (code 124).
 */
import net from 'node:net';

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

export interface ExecOptions {
  /** The guest kills the command after this long (default 60 s). */
  timeoutMs?: number;
  /** Resolve with a non-zero exit code instead of rejecting. */
  allowFail?: boolean;
}

interface Pending {
  resolve: (v: Record<string, unknown>) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

export class CommandChannel {
  private sock?: net.Socket;
  private pending = new Map<number, Pending>();
  private nextId = 1;

  /** `name` labels errors (the VM's name). */
  constructor(
    readonly name: string,
    readonly socketPath: string,
  ) {}

  get connected(): boolean {
    return !!this.sock;
  }

  /** Connects to qemu's socket; false while qemu has not created it yet. */
  connect(): Promise<boolean> {
    return new Promise((resolve) => {
      const s = net.connect(this.socketPath);
      s.once('error', () => resolve(false));
      s.once('connect', () => {
        s.removeAllListeners('error');
        s.on('error', () => undefined);
        this.sock = s;
        let buf = '';
        s.on('data', (d: Buffer) => {
          buf += d.toString();
          let i;
          while ((i = buf.indexOf('\n')) >= 0) {
            this.onLine(buf.slice(0, i));
            buf = buf.slice(i + 1);
          }
        });
        s.on('close', () => {
          if (this.sock === s) this.sock = undefined;
        });
        resolve(true);
      });
    });
  }

  private onLine(line: string): void {
    let msg: Record<string, unknown>;
    try {
      msg = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    const id = typeof msg.id === 'number' ? msg.id : -1;
    const q = this.pending.get(id);
    if (q) {
      this.pending.delete(id);
      clearTimeout(q.timer);
      q.resolve(msg);
    }
  }

  /** Sends one request and waits (at most `timeoutMs`) for the answer with its id. */
  request(body: Record<string, unknown>, timeoutMs: number): Promise<Record<string, unknown>> {
    const sock = this.sock;
    if (!sock) return Promise.reject(new Error(`${this.name}: command channel not connected`));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${this.name}: no answer in ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      sock.write(`${JSON.stringify({ id, ...body })}\n`);
    });
  }

  /** True when the guest's runner answers a ping within `timeoutMs`. */
  async ping(timeoutMs: number): Promise<boolean> {
    try {
      return !!(await this.request({ ping: true }, timeoutMs)).pong;
    } catch {
      return false;
    }
  }

  /** Runs `cmd` with bash in the guest (as root). Rejects on a non-zero exit unless allowFail. */
  async exec(cmd: string, o: ExecOptions = {}): Promise<ExecResult> {
    const timeoutMs = o.timeoutMs ?? 60_000;
    const r = await this.request({ cmd, timeoutMs }, timeoutMs + 15_000);
    const res: ExecResult = { code: Number(r.code ?? 1), stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? ''), ms: Number(r.ms ?? 0) };
    if (res.code !== 0 && !o.allowFail) {
      throw new Error(`${this.name}: \`${cmd.length > 200 ? cmd.slice(0, 200) + '...' : cmd}\` exited ${res.code}: ${(res.stderr || res.stdout).trim().slice(-1500)}`);
    }
    return res;
  }

  /** Rejects every request still waiting (qemu is gone). */
  failAll(why: string): void {
    for (const [, q] of this.pending) {
      clearTimeout(q.timer);
      q.reject(new Error(why));
    }
    this.pending.clear();
  }

  close(): void {
    this.sock?.destroy();
    this.sock = undefined;
  }
}
