/**
 * A throwaway etcd (Debian's etcd-server) for tests: one or three members on loopback, free ports,
 * a temp data dir per member; `stop()` kills the members this helper started (by pid) and removes
 * the data. `kill(i)` takes one member down as a crash would. With `ns`, the members run inside
 * that network namespace (its loopback: e.g. a lab's router, where its controller runs) and their
 * health is asked from inside it.
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

export const haveEtcd = spawnSync('etcd', ['--version'], { stdio: 'ignore' }).status === 0;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

export interface EtcdCluster {
  /** Client URLs, one per member (http://127.0.0.1:PORT, or https:// with TLS). */
  urls: string[];
  /** `etcd://127.0.0.1:P1,127.0.0.1:P2,...` (etcds:// with TLS) for `--store`. */
  spec: string;
  /** Kill member `index` with SIGKILL and wait for it to exit. */
  kill(index: number): Promise<void>;
  stop(): Promise<void>;
}

/** Serve clients over TLS with this certificate; with `clientCa`, require client certificates signed by it. */
export interface EtcdTls {
  cert: string;
  key: string;
  /** CA of the member certificates (for the health check). */
  ca: string;
  clientCa?: string;
  /** The client certificate the health check shows when client certificates are required. */
  client?: { cert: string; key: string };
}

async function healthy(url: string, tls?: EtcdTls, ns?: string): Promise<boolean> {
  if (ns !== undefined) {
    // from inside the namespace (a plain health check over http)
    const r = spawnSync('ip', ['netns', 'exec', ns, 'curl', '-sf', '--max-time', '1', `${url}/health`], { encoding: 'utf8' });
    return r.status === 0 && /"health":"true"/.test(r.stdout);
  }
  if (tls !== undefined) {
    return new Promise((resolve) => {
      const client = tls.client === undefined ? {} : { cert: readFileSync(tls.client.cert), key: readFileSync(tls.client.key) };
      const request = https.get(`${url}/health`, { ca: readFileSync(tls.ca), ...client, timeout: 1000 }, (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          try {
            resolve(response.statusCode === 200 && (JSON.parse(Buffer.concat(chunks).toString()) as { health?: string }).health === 'true');
          } catch {
            resolve(false);
          }
        });
      });
      request.on('timeout', () => request.destroy());
      request.on('error', () => resolve(false));
    });
  }
  try {
    const response = await fetch(`${url}/health`, { signal: AbortSignal.timeout(1000) });
    return response.ok && ((await response.json()) as { health?: string }).health === 'true';
  } catch {
    return false;
  }
}

/** `tls`: serve clients over TLS; `ns`: run the members inside that namespace (plain http only). */
export async function startEtcd(members = 1, tls?: EtcdTls, opts: { ns?: string } = {}): Promise<EtcdCluster> {
  const ns = opts.ns;
  if (ns !== undefined && tls !== undefined) throw new Error('startEtcd: a namespace and TLS together are not supported');
  const scheme = tls === undefined ? 'http' : 'https';
  const tlsArgs = tls === undefined ? [] : ['--cert-file', tls.cert, '--key-file', tls.key, ...(tls.clientCa === undefined ? [] : ['--client-cert-auth', '--trusted-ca-file', tls.clientCa])];
  const dir = mkdtempSync(path.join(tmpdir(), 'switchyard-etcd-'));
  const ports: { client: number; peer: number }[] = [];
  for (let i = 0; i < members; i++) ports.push({ client: await freePort(), peer: await freePort() });
  const token = `sy-${process.pid}-${Date.now()}`;
  const initialCluster = ports.map((p, i) => `m${i}=http://127.0.0.1:${p.peer}`).join(',');
  // `ip netns exec` execs etcd itself: the child's pid is the member's
  const children: (ChildProcess | undefined)[] = ports.map((p, i) =>
    spawn(
      ns === undefined ? 'etcd' : 'ip',
      [
        ...(ns === undefined ? [] : ['netns', 'exec', ns, 'etcd']),
        '--name', `m${i}`,
        '--data-dir', path.join(dir, `m${i}`),
        '--listen-client-urls', `${scheme}://127.0.0.1:${p.client}`,
        '--advertise-client-urls', `${scheme}://127.0.0.1:${p.client}`,
        ...tlsArgs,
        '--listen-peer-urls', `http://127.0.0.1:${p.peer}`,
        '--initial-advertise-peer-urls', `http://127.0.0.1:${p.peer}`,
        '--initial-cluster', initialCluster,
        '--initial-cluster-token', token,
        '--initial-cluster-state', 'new',
        // small timings: a lone test machine, elections in well under a second
        '--heartbeat-interval', '50',
        '--election-timeout', '500',
        '--log-level', 'error',
      ],
      { stdio: 'ignore' },
    ),
  );
  const urls = ports.map((p) => `${scheme}://127.0.0.1:${p.client}`);
  const killOne = async (index: number): Promise<void> => {
    const child = children[index];
    children[index] = undefined;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGKILL');
    await exited;
  };
  const stop = async (): Promise<void> => {
    for (let i = 0; i < children.length; i++) await killOne(i);
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 20_000;
  for (;;) {
    const states = await Promise.all(urls.map((url) => healthy(url, tls, ns)));
    if (states.every(Boolean)) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`etcd did not become healthy on ${urls.join(', ')}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { urls, spec: `etcd${tls === undefined ? '' : 's'}://${urls.map((url) => url.slice(`${scheme}://`.length)).join(',')}`, kill: killOne, stop };
}
