// Prometheus exposition of the agent's counters, over real HTTP on loopback.
import { afterAll, describe, expect, it } from 'vitest';
import type http from 'node:http';
import { createMetricsRegistry, startMetricsServer, type StatsSnapshot } from '../../src/agent/metrics.js';

describe('agent metrics', () => {
  let server: http.Server | undefined;
  afterAll(() => server?.close());

  it('exposes counters, drops and per-port counters with labels, current at each scrape', async () => {
    let rx = 10;
    const stats = async (): Promise<StatsSnapshot> => ({
      host: 'host1',
      generation: 3,
      counters: { 'port-rx-frames': rx, 'uft-hits': 7 },
      drops: { malformed: 2, 'acl-deny': 0 },
      ports: { 'contoso-sql': { 'rx-frames': 5, 'tx-bytes': 900 } },
    });
    server = await startMetricsServer('127.0.0.1', 0, createMetricsRegistry(stats));
    const port = (server.address() as { port: number }).port;
    const scrape = async () => (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const first = await scrape();
    expect(first).toContain('switchyard_frames_total{host="host1",counter="port-rx-frames"} 10');
    expect(first).toContain('switchyard_drops_total{host="host1",reason="malformed"} 2');
    expect(first).toContain('switchyard_port_total{host="host1",port="contoso-sql",counter="tx-bytes"} 900');
    expect(first).toContain('switchyard_policy_generation{host="host1"} 3');
    rx = 25;
    expect(await scrape()).toContain('switchyard_frames_total{host="host1",counter="port-rx-frames"} 25');
    expect((await fetch(`http://127.0.0.1:${port}/other`)).status).toBe(404);
  });
});
