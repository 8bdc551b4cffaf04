// A running pair of agents takes a policy that changes the encapsulation of one tenant (VXLAN ->
// NVGRE): the uplinks are reopened (the old sockets let go of UDP 4789 first), the tenant's ports
// come back with the NVGRE MTU, and the other tenant's flows keep working throughout.
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { controlRequest } from '../../src/agent/control-client.js';
import { ping } from '../../src/lab/probes.js';
import { runIn, waitFor } from '../../src/lab/run.js';
import { startFigure8, type Figure8Run } from './lab-helpers.js';
import { ROOT_ONLY } from '../helpers/prerequisites.js';

describe('policy reload that changes the encapsulation', ROOT_ONLY, () => {
  let r: Figure8Run;
  beforeAll(async () => {
    r = await startFigure8();
  }, 60_000);
  afterAll(async () => {
    await r?.teardown();
  });

  const generations = () => Promise.all(r.agents.map(async (a) => ((await controlRequest(a.socket, { op: 'stats' })) as { generation: number }).generation));
  let attempts = 0;

  it('moves fabrikam to NVGRE on both hosts while contoso keeps forwarding', async () => {
    if (attempts++ > 0) {
      // a retry (test/helpers/prerequisites.ts) starts from the policy the suite started with
      const before = await generations();
      fs.writeFileSync(r.policyFile, stringify(r.policy));
      for (const a of r.agents) a.child.kill('SIGHUP');
      await waitFor(async () => (await generations()).every((g, i) => g > before[i]!), 15_000, 'the first policy back');
      await waitFor(async () => (await ping(r.ns('fabrikam-web'), '10.1.1.11', 1)).received === 1, 10_000, 'fabrikam over VXLAN again');
    }
    const start = await generations();
    expect((await ping(r.ns('fabrikam-web'), '10.1.1.11', 2)).received).toBe(2);
    const next = structuredClone(r.policy);
    next.virtualNetworks.find((v) => v.name === 'fabrikam')!.subnets[0]!.encapsulation = 'nvgre';
    fs.writeFileSync(r.policyFile, stringify(next));
    // contoso pings right through the reload
    const during = ping(r.ns('contoso-web'), '10.1.1.11', 40, 0.05);
    for (const a of r.agents) a.child.kill('SIGHUP');
    await waitFor(async () => (await generations()).every((g, i) => g > start[i]!), 15_000, 'both agents to apply the new policy');
    const c = await during;
    expect(c.sent - c.received).toBeLessThanOrEqual(2);
    await waitFor(async () => (await ping(r.ns('fabrikam-web'), '10.1.1.11', 1)).received === 1, 10_000, 'fabrikam over NVGRE');
    const link = await runIn(r.ns('fabrikam-sql'), 'ip', ['-o', 'link', 'show']);
    expect(link.stdout).toMatch(/mtu 1458/); // 1500 - 42 (NVGRE)
    const stats = (await controlRequest(r.agents[0]!.socket, { op: 'stats' })) as { drops: Record<string, number> };
    expect(stats.drops['no-uplink'] ?? 0).toBe(0);
    for (const a of r.agents) expect(a.log.join('')).not.toMatch(/policy refused/);
  });
});
