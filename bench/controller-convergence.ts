/**
 * Convergence of the controller's sync: time from a PUT being acknowledged to every agent's
 * ControllerSync having emitted the new view, with 2 clients (Figure 8) and with 200 simulated
 * clients in this one process (200 hosts, one virtual network with a port on each host, so every
 * PUT changes every host's view). Prints median and p99 (and the PUT round trip).
 * Run: npx tsx bench/controller-convergence.ts [rounds2=200] [rounds200=40]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { ControllerSync } from '../src/agent/controller-sync.js';
import { ControllerServer } from '../src/controller/server.js';
import { SqliteStore } from '../src/controller/sqlite-store.js';
import { figure8Policy } from '../src/policy/figure8.js';

const TOKEN = 'bench-token';

async function put(url: string, kind: string, name: string, body: unknown): Promise<{ revision: number }> {
  const response = await fetch(`${url}/networking/v1/${kind}/${name}`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const reply = (await response.json()) as { revision: number };
  if (!response.ok) throw new Error(`PUT ${kind}/${name}: ${response.status} ${JSON.stringify(reply)}`);
  return reply;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] as number;
}

const fmt = (ms: number): string => `${ms.toFixed(2)} ms`;

interface Scenario {
  name: string;
  seed: (url: string) => Promise<void>;
  hosts: string[];
  /** The i-th change: a PUT that changes every host's view. */
  change: (url: string, i: number) => Promise<{ revision: number }>;
  rounds: number;
}

async function run(scenario: Scenario, dir: string): Promise<void> {
  const server = new ControllerServer({ store: new SqliteStore(path.join(dir, `${scenario.name}.db`)), token: TOKEN, heartbeatMs: 2000 });
  const { url } = await server.listen('127.0.0.1', 0);
  await scenario.seed(url);
  const seen = new Map<ControllerSync, number>();
  let waiting: { revision: number; resolve: () => void } | undefined;
  let done = 0;
  const syncs = scenario.hosts.map((host) => {
    const sync = new ControllerSync({ controller: url, host, cacheFile: path.join(dir, 'cache', scenario.name, `${host}.json`) });
    sync.on('policy', (_policy, revision) => {
      seen.set(sync, revision);
      if (waiting !== undefined && revision >= waiting.revision && ++done === syncs.length) waiting.resolve();
    });
    return sync;
  });
  await Promise.all(syncs.map((sync) => sync.start()));
  const initial = server.store.revision();
  while ([...seen.values()].filter((revision) => revision >= initial).length < syncs.length) await new Promise((r) => setTimeout(r, 20));

  const converge: number[] = [];
  const ack: number[] = [];
  for (let i = 0; i < scenario.rounds; i++) {
    done = 0;
    let resolve!: () => void;
    const all = new Promise<void>((r) => (resolve = r));
    const sent = performance.now();
    // The target revision is not known until the ack; views that arrive earlier are counted then.
    waiting = { revision: Number.POSITIVE_INFINITY, resolve };
    const { revision } = await scenario.change(url, i);
    const acked = performance.now();
    waiting = { revision, resolve };
    done = [...seen.values()].filter((r) => r >= revision).length;
    if (done < syncs.length) await all;
    converge.push(performance.now() - acked);
    ack.push(acked - sent);
    await new Promise((r) => setTimeout(r, 20));
  }
  converge.sort((a, b) => a - b);
  ack.sort((a, b) => a - b);
  console.log(
    `${scenario.name}: ${syncs.length} sync clients, ${scenario.rounds} PUTs\n` +
      `  PUT acknowledged -> all clients have the new view: median ${fmt(percentile(converge, 0.5))}, p99 ${fmt(percentile(converge, 0.99))}, max ${fmt(converge[converge.length - 1] as number)}\n` +
      `  PUT round trip (validate + fsync'd commit):        median ${fmt(percentile(ack, 0.5))}, p99 ${fmt(percentile(ack, 0.99))}`,
  );
  await Promise.all(syncs.map((sync) => sync.stop()));
  await server.close();
}

async function main(): Promise<void> {
  const rounds2 = Number(process.argv[2] ?? 200);
  const rounds200 = Number(process.argv[3] ?? 40);
  const dir = mkdtempSync(path.join(tmpdir(), 'switchyard-bench-'));
  try {
    const figure8 = figure8Policy();
    await run(
      {
        name: 'figure8',
        hosts: ['host1', 'host2'],
        rounds: rounds2,
        seed: async (url) => {
          for (const kind of ['hosts', 'virtualNetworks', 'networkInterfaces'] as const) for (const item of figure8[kind]) await put(url, kind, item.name, item);
        },
        // contoso has a port on each host: every change reaches both.
        change: (url, i) => put(url, 'networkInterfaces', 'contoso-web', { ...figure8.networkInterfaces[1], ipAddress: `10.1.1.${20 + (i % 200)}` }),
      },
      dir,
    );
    const hosts = Array.from({ length: 200 }, (_, i) => `host${i + 1}`);
    const nic = (i: number, ip: number) => ({ name: `fleet-${i + 1}`, host: `host${i + 1}`, virtualNetwork: 'fleet', subnet: 's1', macAddress: `02:00:00:01:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`, ipAddress: `10.20.${ip >> 8}.${ip & 255}` });
    await run(
      {
        name: 'fleet200',
        hosts,
        rounds: rounds200,
        seed: async (url) => {
          for (const [i, host] of hosts.entries()) await put(url, 'hosts', host, { providerAddresses: [`172.16.${i >> 8}.${(i & 255) + 1}`] });
          await put(url, 'virtualNetworks', 'fleet', { addressPrefixes: ['10.20.0.0/16'], subnets: [{ name: 's1', vsid: 9001, addressPrefix: '10.20.0.0/16' }] });
          for (let i = 0; i < hosts.length; i++) await put(url, 'networkInterfaces', `fleet-${i + 1}`, nic(i, 10 + i));
        },
        change: (url, i) => put(url, 'networkInterfaces', `fleet-${(i % 200) + 1}`, nic(i % 200, 1000 + i)),
      },
      dir,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
