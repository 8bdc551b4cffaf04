/**
 * Prometheus metrics for an agent (`--metrics ADDR:PORT`, served at /metrics with prom-client).
 * On each scrape it asks the agent for the same counters `ctl stats` prints (one control request
 * per scrape, shared by every metric) and maps each to its metric through the table in
 * metric-names.ts. Reading costs nothing on the fast path: the counters are arrays the dataplane
 * already keeps.
 */
import http from 'node:http';
import { Counter, Gauge, Registry } from 'prom-client';
import {
  AGENT_FIELD_METRICS,
  DROPS_METRIC,
  GLOBAL_COUNTER_METRICS,
  METRIC_FAMILIES,
  PORT_COUNTER_METRICS,
  VHOST_METRICS,
  type CounterMapping,
} from './metric-names.js';

/** A vhost-user port's part of `ctl stats` (io/vhost.ts status()). */
export interface VhostStatsJson {
  port: string;
  connected?: boolean;
  connects?: number;
  disconnects?: number;
  ringsReady?: number;
  ringsBroken?: number;
  counters?: Record<string, number>;
}

export interface StatsSnapshot {
  host: string;
  generation: number;
  counters: Record<string, number>;
  drops: Record<string, number>;
  ports: Record<string, Record<string, number>>;
  failedPorts?: number;
  offloadFallbacks?: number;
  nicFanoutFallbacks?: number;
  vhostUser?: VhostStatsJson[];
}

export interface Sample {
  labels: Record<string, string>;
  value: number;
}

/** The samples of every metric for one `ctl stats` answer, by metric name. Counters the table
 * does not know are left out (the unit test keeps the table complete). */
export function samplesOf(s: StatsSnapshot): Map<string, Sample[]> {
  const out = new Map<string, Sample[]>();
  const put = (m: CounterMapping | undefined, labels: Record<string, string>, v: number | undefined) => {
    if (!m || v === undefined || !Number.isFinite(v)) return;
    let list = out.get(m.metric);
    if (!list) out.set(m.metric, (list = []));
    list.push({ labels: { host: s.host, ...labels, ...m.labels }, value: v * (m.scale ?? 1) });
  };
  for (const [k, v] of Object.entries(s.counters)) put(GLOBAL_COUNTER_METRICS[k], {}, v);
  for (const [reason, v] of Object.entries(s.drops)) put({ metric: DROPS_METRIC }, { reason }, v);
  for (const [port, cs] of Object.entries(s.ports)) for (const [k, v] of Object.entries(cs)) put(PORT_COUNTER_METRICS[k], { port }, v);
  put(AGENT_FIELD_METRICS.generation, {}, s.generation);
  put(AGENT_FIELD_METRICS.failedPorts, {}, s.failedPorts);
  put(AGENT_FIELD_METRICS.offloadFallbacks, {}, s.offloadFallbacks);
  put(AGENT_FIELD_METRICS.nicFanoutFallbacks, {}, s.nicFanoutFallbacks);
  for (const v of s.vhostUser ?? []) {
    const port = { port: v.port };
    put(VHOST_METRICS.connected, port, v.connected === undefined ? undefined : Number(v.connected));
    put(VHOST_METRICS.connects, port, v.connects);
    put(VHOST_METRICS.disconnects, port, v.disconnects);
    put(VHOST_METRICS.ringsReady, port, v.ringsReady);
    put(VHOST_METRICS.ringsBroken, port, v.ringsBroken);
    for (const [k, n] of Object.entries(v.counters ?? {})) put(VHOST_METRICS[k], port, n);
  }
  return out;
}

export function createMetricsRegistry(stats: () => Promise<StatsSnapshot>): Registry {
  const registry = new Registry();
  // every metric's collect() of one scrape runs at once (Registry.metrics: Promise.all) and shares
  // one stats request
  let pending: Promise<Map<string, Sample[]>> | undefined;
  const latest = () => (pending ??= stats().then(samplesOf).finally(() => (pending = undefined)));
  for (const f of METRIC_FAMILIES) {
    const config = { name: f.name, help: f.help, labelNames: ['host', ...f.labels], registers: [registry] };
    if (f.type === 'counter') {
      new Counter({
        ...config,
        async collect() {
          const samples = (await latest()).get(f.name) ?? [];
          // prom-client counters only go up: reset-and-inc mirrors the dataplane's own totals
          // (and forgets label sets that went away, e.g. a removed port)
          this.reset();
          for (const x of samples) this.inc(x.labels, x.value);
        },
      });
    } else {
      new Gauge({
        ...config,
        async collect() {
          const samples = (await latest()).get(f.name) ?? [];
          this.reset();
          for (const x of samples) this.set(x.labels, x.value);
        },
      });
    }
  }
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
