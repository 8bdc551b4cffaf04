/**
 * What the demo, tests and benchmarks measure inside tenant namespaces: ping, a UDP marker that
 * proves which namespace a datagram reached (the tenants share addresses, so only the payload
 * tells them apart), and iperf3.
 */
import { run, runIn, spawnIn, sleep } from './run.js';

export interface PingResult {
  sent: number;
  received: number;
  /** Round-trip times in ms, one per reply. */
  rtts: number[];
}

export async function ping(ns: string, addr: string, count = 3, intervalS = 0.2, timeoutS = 1): Promise<PingResult> {
  const r = await runIn(ns, 'ping', ['-n', '-c', String(count), '-i', String(intervalS), '-W', String(timeoutS), addr], {
    allowFail: true,
    timeoutMs: (count * (intervalS + timeoutS) + 5) * 1000,
  });
  const m = /(\d+) packets transmitted, (\d+) received/.exec(r.stdout);
  const rtts = [...r.stdout.matchAll(/time=([\d.]+) ms/g)].map((x) => Number(x[1]));
  return { sent: m ? Number(m[1]) : count, received: m ? Number(m[2]) : 0, rtts };
}

const LISTENER = `
const s = require('dgram').createSocket('udp4');
const got = [];
s.on('message', (m) => got.push(m.toString()));
s.on('error', (e) => { console.error(e.message); process.exit(1); });
s.bind(PORT, () => console.log('ready'));
const end = () => { console.log(JSON.stringify(got)); process.exit(0); };
process.on('SIGTERM', end);
setTimeout(end, MS);
`;

/** Listens on UDP `port` in `ns` for `ms`; resolves with the payloads received. */
export async function udpListen(ns: string, port: number, ms: number): Promise<{ ready: Promise<void>; done: Promise<string[]>; stop(): void }> {
  const child = spawnIn(ns, process.execPath, ['-e', LISTENER.replace('PORT', String(port)).replace('MS', String(ms))]);
  let out = '';
  let err = '';
  let readyResolve!: () => void;
  let readyReject!: (e: Error) => void;
  const ready = new Promise<void>((res, rej) => {
    readyResolve = res;
    readyReject = rej;
  });
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    if (out.includes('ready')) readyResolve();
  });
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const done = new Promise<string[]>((resolve, reject) => {
    child.on('exit', () => {
      const last = out.trim().split('\n').pop() ?? '[]';
      const fail = new Error(`udp listener in ${ns} failed: ${(err || out).trim()}`);
      readyReject(fail);
      try {
        resolve(JSON.parse(last) as string[]);
      } catch {
        reject(fail);
      }
    });
  });
  done.catch(() => undefined); // the caller may still be awaiting `ready`; it sees the error there
  // stop(): report what arrived now, before `ms` ran out (SIGTERM: the listener prints and exits)
  return { ready, done, stop: () => child.kill('SIGTERM') };
}

/** Sends `count` datagrams with `payload` from `ns` to addr:port. */
export async function udpSend(ns: string, addr: string, port: number, payload: string, count = 5): Promise<void> {
  const js = `const s=require('dgram').createSocket('udp4');let n=0;const t=setInterval(()=>{s.send(${JSON.stringify(payload)},${port},${JSON.stringify(addr)});if(++n>=${count}){clearInterval(t);setTimeout(()=>s.close(),50);}},50);`;
  await runIn(ns, process.execPath, ['-e', js]);
}

/** Sends one marker from each sender and reports which markers each listener got. */
export async function isolationCheck(
  pairs: { from: string; to: string; addr: string; marker: string }[],
  port = 7777,
): Promise<{ ns: string; got: string[] }[]> {
  // the listeners stay until every sender is done (each sender is a node process: on a loaded
  // machine that start-up alone takes a second), then get a moment for the last datagrams
  const listeners = await Promise.all(pairs.map(async (p) => ({ ns: p.to, l: await udpListen(p.to, port, 30_000) })));
  await Promise.all(listeners.map((x) => x.l.ready));
  await Promise.all(pairs.map((p) => udpSend(p.from, p.addr, port, p.marker, 3)));
  await sleep(300);
  for (const x of listeners) x.l.stop();
  return Promise.all(listeners.map(async (x) => ({ ns: x.ns, got: [...new Set(await x.l.done)] })));
}

export interface IperfResult {
  gbps: number;
  retransmits?: number;
  /** CPU of the client and of the server process (iperf3's own getrusage, user + system, which
   * takes in the softirq work done in their syscalls): fractions of one core over the run. */
  cpu?: { client: number; server: number };
}

/** The TCP ports iperf3() picks from (a policy that runs the demo allows these: see examples/figure8-acl.yaml). */
export const IPERF3_PORTS = { first: 5301, last: 5399 };

export function randomIperf3Port(): number {
  return IPERF3_PORTS.first + Math.floor(Math.random() * (IPERF3_PORTS.last - IPERF3_PORTS.first + 1));
}

/**
 * Waits until a TCP socket in `ns` listens on `port` (`ss`), at most `timeoutMs`. A fixed sleep
 * after spawning a server was not enough on a loaded machine: `ip netns exec` and the server's
 * start took over 300 ms, and the client's connection was refused.
 */
export async function waitTcpListening(ns: string, port: number, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const r = await runIn(ns, 'ss', ['-Hltn', `sport = :${port}`], { allowFail: true });
    if (r.code === 0 && r.stdout.trim() !== '') return;
    if (Date.now() > end) throw new Error(`nothing listens on TCP ${port} in ${ns} after ${timeoutMs} ms`);
    await sleep(50);
  }
}

/** iperf3 client in `clientNs` against a one-shot server in `serverNs` at `addr` (on `port`, default a random one of IPERF3_PORTS). */
export async function iperf3(serverNs: string, clientNs: string, addr: string, seconds: number, extra: string[] = [], port = randomIperf3Port()): Promise<IperfResult> {
  const server = spawnIn(serverNs, 'iperf3', ['-s', '-1', '-p', String(port)]);
  try {
    await waitTcpListening(serverNs, port);
    const r = await runIn(clientNs, 'iperf3', ['-c', addr, '-p', String(port), '-t', String(seconds), '-J', ...extra], {
      allowFail: true,
      timeoutMs: (seconds + 20) * 1000,
    });
    let j: {
      end?: { sum_received?: { bits_per_second: number }; sum?: { bits_per_second: number }; sum_sent?: { retransmits?: number }; cpu_utilization_percent?: { host_total: number; remote_total: number } };
      error?: string;
    };
    try {
      j = JSON.parse(r.stdout) as typeof j;
    } catch {
      throw new Error(`iperf3 gave no JSON: ${r.stderr || r.stdout}`);
    }
    if (j.error) throw new Error(`iperf3: ${j.error}`);
    const bps = j.end?.sum_received?.bits_per_second ?? j.end?.sum?.bits_per_second ?? 0;
    const out: IperfResult = { gbps: bps / 1e9 };
    if (j.end?.sum_sent?.retransmits !== undefined) out.retransmits = j.end.sum_sent.retransmits;
    const u = j.end?.cpu_utilization_percent;
    if (u !== undefined) out.cpu = { client: u.host_total / 100, server: u.remote_total / 100 };
    return out;
  } finally {
    server.kill('SIGKILL');
  }
}

/** True when a command exists on PATH. */
export async function haveCommand(cmd: string): Promise<boolean> {
  return (await run('sh', ['-c', `command -v ${cmd}`], { allowFail: true })).code === 0;
}

const TCP_SERVER = `
const s = require('net').createServer((c) => { c.on('error', () => {}); c.end('hello'); });
s.on('error', (e) => { console.error(e.message); process.exit(1); });
s.listen(PORT, () => console.log('ready'));
`;

/** A TCP server on `port` in `ns` that greets and closes each connection; stop() ends it. */
export async function tcpServer(ns: string, port: number): Promise<{ stop(): void }> {
  const child = spawnIn(ns, process.execPath, ['-e', TCP_SERVER.replace('PORT', String(port))]);
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('ready')) resolve();
    });
    child.on('exit', () => reject(new Error(`tcp server in ${ns} exited`)));
  });
  return { stop: () => child.kill('SIGKILL') };
}

/** True when a TCP connection from `ns` to addr:port completes and the greeting arrives in time. */
export async function tcpConnect(ns: string, addr: string, port: number, timeoutMs = 1500): Promise<boolean> {
  const js = `const c=require('net').connect(${port},${JSON.stringify(addr)});let got='';c.on('data',(d)=>got+=d);c.on('end',()=>process.exit(got==='hello'?0:3));c.on('error',()=>process.exit(2));setTimeout(()=>process.exit(4),${timeoutMs});`;
  const r = await runIn(ns, process.execPath, ['-e', js], { allowFail: true, timeoutMs: timeoutMs + 5000 });
  return r.code === 0;
}
