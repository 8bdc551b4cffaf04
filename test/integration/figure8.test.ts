// Figure 8 across two switchyard hosts: reachability inside each tenant, isolation between
// tenants with the same addresses, ARP for an unknown address unanswered, TCP transfer, counters.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { controlRequest } from '../../src/agent/control-client.js';
import { iperf3, isolationCheck, ping } from '../../src/lab/probes.js';
import { runIn } from '../../src/lab/run.js';
import { startFigure8, type Figure8Run } from './lab-helpers.js';
import { ROOT_ONLY } from '../helpers/prerequisites.js';
import { NEEDS_PROMTOOL, promtoolCheckMetrics } from '../helpers/promtool.js';

describe('Figure 8 over VXLAN between two switchyard agents', ROOT_ONLY, () => {
  let run: Figure8Run;
  beforeAll(async () => {
    run = await startFigure8({ agentArgs: ['--metrics', '127.0.0.1:9477', '--workers', '2'] });
  }, 60_000);
  afterAll(async () => {
    await run?.teardown();
  });

  it('pings inside each tenant across hosts', async () => {
    for (const t of ['contoso', 'fabrikam']) {
      const r = await ping(run.ns(`${t}-web`), '10.1.1.11', 3);
      expect(r.received, `${t} ping`).toBe(3);
    }
  });

  it('keeps tenants with overlapping addresses apart', async () => {
    const got = await isolationCheck([
      { from: run.ns('contoso-web'), to: run.ns('contoso-sql'), addr: '10.1.1.11', marker: 'c' },
      { from: run.ns('fabrikam-web'), to: run.ns('fabrikam-sql'), addr: '10.1.1.11', marker: 'f' },
    ]);
    expect(got.map((g) => g.got)).toEqual([['c'], ['f']]);
  });

  it('answers no ARP for an address the policy does not know', async () => {
    const ns = run.ns('contoso-web');
    const r = await runIn(ns, 'ping', ['-n', '-c', '1', '-W', '1', '10.1.1.99'], { allowFail: true });
    expect(r.code).not.toBe(0);
    const neigh = await runIn(ns, 'ip', ['neigh', 'show', '10.1.1.99']);
    expect(neigh.stdout).not.toMatch(/lladdr/);
    // the known address is resolved to the MAC the policy gives
    const known = await runIn(ns, 'ip', ['neigh', 'show', '10.1.1.11']);
    const mac = run.policy.networkInterfaces.find((n) => n.name === 'contoso-sql')!.macAddress;
    expect(known.stdout).toContain(mac);
  });

  it('carries a TCP transfer (iperf3)', async () => {
    const r = await iperf3(run.ns('contoso-sql'), run.ns('contoso-web'), '10.1.1.11', 2);
    expect(r.gbps).toBeGreaterThan(0.001);
  });

  const scrape = () => runIn(run.lab.hosts[0].ns, process.execPath, ['-e', "fetch('http://127.0.0.1:9477/metrics').then(async (r) => console.log(await r.text()))"]);

  it('serves the same counters to Prometheus', async () => {
    const out = await scrape();
    expect(out.stdout).toMatch(/switchyard_port_frames_total\{host="host1",port="contoso-sql",direction="rx"\} [1-9]/);
    expect(out.stdout).toMatch(/switchyard_bytes_total\{host="host1",path="uplink",direction="tx"\} [1-9]/);
    expect(out.stdout).toContain('switchyard_drops_total{host="host1",reason="malformed"}');
    expect(out.stdout).toMatch(/switchyard_uft_entries\{host="host1"\} [1-9]/);
    expect(out.stdout).toMatch(/switchyard_conntrack_entries_limit\{host="host1"\} [1-9]/);
  });

  it('serves metrics by the book (promtool check metrics on the running agent\'s endpoint)', NEEDS_PROMTOOL, async () => {
    const lint = await promtoolCheckMetrics((await scrape()).stdout);
    expect(`${lint.stdout}${lint.stderr}`.trim()).toBe('');
    expect(lint.code).toBe(0);
  });

  it('counts frames per port and drops per reason', async () => {
    const stats = (await controlRequest(run.agents[0]!.socket, { op: 'stats' })) as {
      counters: Record<string, number>;
      ports: Record<string, Record<string, number>>;
    };
    expect(Object.keys(stats.ports).sort()).toEqual(['contoso-sql', 'fabrikam-sql']);
    expect(stats.ports['contoso-sql']!['rx-frames']).toBeGreaterThan(0);
    expect(stats.ports['contoso-sql']!['tx-frames']).toBeGreaterThan(0);
    expect(stats.counters['uplink-rx-frames']).toBeGreaterThan(0);
    expect(stats.counters['uplink-tx-frames']).toBeGreaterThan(0);
  });
});
