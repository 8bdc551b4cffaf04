// The distributed router in namespaces: two subnets of one virtual network route to each other
// across hosts and on one host (without touching the underlay), TTL drops by one, the gateway
// answers ping, and nothing routes into another virtual network with the same prefixes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import fs from 'node:fs';
import { controlRequest } from '../../src/agent/control-client.js';
import { ping } from '../../src/lab/probes.js';
import { runIn } from '../../src/lab/run.js';
import type { Policy } from '../../src/policy/types.js';
import { startFigure8, type Figure8Run } from './lab-helpers.js';
import { ROOT_ONLY } from '../helpers/prerequisites.js';

/** examples/two-subnets.yaml plus a second tenant that owns 10.1.2.99 in its own network. */
function routedPolicy(): Policy {
  const p = parse(fs.readFileSync(new URL('../../examples/two-subnets.yaml', import.meta.url), 'utf8')) as Policy;
  p.virtualNetworks.push({
    name: 'fabrikam',
    addressPrefixes: ['10.1.0.0/16'],
    subnets: [{ name: 's2', vsid: 6002, addressPrefix: '10.1.2.0/24', encapsulation: 'vxlan' }],
  });
  p.networkInterfaces.push({
    name: 'fabrikam-db',
    host: 'host1',
    virtualNetwork: 'fabrikam',
    subnet: 's2',
    macAddress: '02:00:00:00:62:99',
    ipAddress: '10.1.2.99',
    netns: 'fabrikam-db',
  });
  p.accessControlLists ??= [];
  return p;
}

interface Stats {
  counters: Record<string, number>;
  drops: Record<string, number>;
}

describe('distributed router between subnets', ROOT_ONLY, () => {
  let r: Figure8Run;
  beforeAll(async () => {
    r = await startFigure8({ policy: routedPolicy() });
  }, 60_000);
  afterAll(async () => {
    await r?.teardown();
  });
  const stats = async (i: number) => (await controlRequest(r.agents[i]!.socket, { op: 'stats' })) as Stats;

  it('routes across hosts: web (s1, host2) -> sql (s2, host1), TTL - 1', async () => {
    const out = await runIn(r.ns('contoso-web'), 'ping', ['-n', '-c', '3', '-i', '0.2', '-W', '1', '10.1.2.11'], { allowFail: true });
    expect(out.stdout).toMatch(/3 received/);
    // sql's reply starts at 64 and crosses the router once
    expect(out.stdout).toMatch(/ttl=63/);
  });

  it('routes on one host without using the underlay', async () => {
    const before = await stats(0);
    const p = await ping(r.ns('contoso-app'), '10.1.2.11', 5, 0.1);
    expect(p.received).toBe(5);
    const after = await stats(0);
    expect(after.counters['routed']! - before.counters['routed']!).toBeGreaterThanOrEqual(10);
    // the tenants' own IPv6 multicast (router solicitations, MLD) may cross the underlay meanwhile,
    // but not the 10 routed echo frames
    expect(after.counters['uplink-tx-frames']! - before.counters['uplink-tx-frames']!).toBeLessThan(5);
    const flows = (await controlRequest(r.agents[0]!.socket, { op: 'dump-flows', port: 'contoso-app' })) as { match: { dstIp?: string; proto?: number }; action: string }[];
    const echo = flows.find((f) => f.match.proto === 1 && f.match.dstIp === '10.1.2.11');
    expect(echo?.action).toMatch(/contoso-sql/);
    expect(echo?.action).not.toMatch(/vxlan|nvgre/);
  });

  it('answers ping on the gateway address', async () => {
    const p = await ping(r.ns('contoso-web'), '10.1.1.1', 2);
    expect(p.received).toBe(2);
  });

  it('never routes into another virtual network', async () => {
    const before = await stats(1);
    const p = await ping(r.ns('contoso-web'), '10.1.2.99', 2);
    expect(p.received).toBe(0);
    const after = await stats(1);
    expect(after.drops['no-route']! - before.drops['no-route']!).toBeGreaterThanOrEqual(2);
    // and the other tenant still reaches its own address
    const f = await ping(r.ns('fabrikam-db'), '10.1.2.1', 1);
    expect(f.received).toBe(1);
  });
});
