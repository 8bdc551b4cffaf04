/**
 * Prometheus metrics for an agent (`--metrics ADDR:PORT`, served at /metrics with prom-client).
 * On each scrape it asks the agent for the same counters `ctl stats` prints and exposes them as
 * counters with labels: switchyard_frames_total{counter=...}, switchyard_drops_total{reason=...},
 * switchyard_port_total{port=...,counter=...}. Reading costs nothing on the fast path: the
 * counters are arrays the dataplane already keeps.
 */
import http from 'node:http';
import { Counter, Gauge, Registry } from 'prom-client';

export interface StatsSnapshot {
  host: string;
  generation: number;
  counters: Record<string, number>;
  drops: Record<string, number>;
  ports: Record<string, Record<string, number>>;
}

export function createMetricsRegistry(stats: () => Promise<StatsSnapshot>): Registry {
  const registry = new Registry();
  const set = (c: Counter<string>, labels: Record<string, string>, v: number) => {
    // prom-client counters only go up; reset-and-inc mirrors the dataplane's own totals
    c.remove(labels);
    c.inc(labels, v);
  };
  let pending: Promise<StatsSnapshot> | undefined;
  const latest = () => (pending ??= stats().finally(() => (pending = undefined)));
  new Counter({
    name: 'switchyard_frames_total',
    help: 'Dataplane counters by name (frames, bytes, flow table, ARP, routing), as ctl stats shows them',
    labelNames: ['host', 'counter'],
    registers: [registry],
    async collect() {
      const s = await latest();
      for (const [k, v] of Object.entries(s.counters)) set(this, { host: s.host, counter: k }, v);
    },
  });
  new Counter({
    name: 'switchyard_drops_total',
    help: 'Frames dropped, by reason',
    labelNames: ['host', 'reason'],
    registers: [registry],
    async collect() {
      const s = await latest();
      for (const [k, v] of Object.entries(s.drops)) set(this, { host: s.host, reason: k }, v);
    },
  });
  new Counter({
    name: 'switchyard_port_total',
    help: 'Per-port counters (rx/tx frames and bytes, drops, ACL denies)',
    labelNames: ['host', 'port', 'counter'],
    registers: [registry],
    async collect() {
      const s = await latest();
      for (const [port, cs] of Object.entries(s.ports)) for (const [k, v] of Object.entries(cs)) set(this, { host: s.host, port, counter: k }, v);
    },
  });
  new Gauge({
    name: 'switchyard_policy_generation',
    help: 'Generation of the policy snapshot in force',
    labelNames: ['host'],
    registers: [registry],
    async collect() {
      const s = await latest();
      this.set({ host: s.host }, s.generation);
    },
  });
  return registry;
}

/** Serves /metrics on addr:port; resolves with the server once listening. */
export async function startMetricsServer(addr: string, port: number, registry: Registry): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end('see /metrics\n');
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (err: Error) => res.writeHead(503).end(`${err.message}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, addr, () => resolve());
  });
  return server;
}
