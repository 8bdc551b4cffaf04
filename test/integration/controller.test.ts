// The controller in a lab: agents take their policy from it over the underlay, keep forwarding
// while it is down, come back from their on-disk policy when they are killed, converge on changes
// after it restarts, and follow a live migration (a network interface PUT with a new host).
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { controlRequest } from '../../src/agent/control-client.js';
import { createTenantNamespaces, makeRunDir, startAgent, writePolicy, type RunningAgent } from '../../src/lab/agents.js';
import { startController, type RunningController } from '../../src/lab/controller.js';
import { policyForLab } from '../../src/lab/policy.js';
import { ping } from '../../src/lab/probes.js';
import { runIn, waitFor } from '../../src/lab/run.js';
import { createFigure8Lab, type Figure8Lab } from '../../src/lab/topology.js';
import { figure8Policy } from '../../src/policy/figure8.js';
import type { Policy } from '../../src/policy/types.js';
import { ROOT_ONLY } from '../helpers/prerequisites.js';

describe('agents driven by the controller', ROOT_ONLY, () => {
  let lab: Figure8Lab;
  let dir: string;
  let policy: Policy;
  let controller: RunningController;
  const agents: RunningAgent[] = [];
  const port = 18000 + Math.floor(Math.random() * 1000);

  // each agent with its own host token and the run's CA (HTTPS)
  const agentFor = async (i: number) =>
    startAgent(lab.hosts[i]!.ns, lab.hosts[i]!.name, { controller: controller.url, cache: path.join(dir, `${lab.hosts[i]!.name}.policy.json`) }, dir, [], await controller.agentEnv(lab.hosts[i]!.name));
  const apply = async (p: Policy) => {
    const f = path.join(dir, `apply-${Date.now()}.yaml`);
    fs.writeFileSync(f, stringify(p));
    const r = await controller.ctl(['apply', '-f', f]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
  };
  const pingOk = (from: string, to: string) => ping(lab.tenantNs(from), to, 2).then((r) => r.received === 2);

  beforeAll(async () => {
    lab = await createFigure8Lab();
    dir = makeRunDir(lab.tag);
    policy = policyForLab(figure8Policy(), lab.tenantNs);
    writePolicy(dir, policy);
    await createTenantNamespaces(policy, ['host1', 'host2']);
    controller = await startController(lab.router, '192.168.1.1', port, dir);
    await apply(policy);
    agents.push(await agentFor(0), await agentFor(1));
  }, 90_000);
  afterAll(async () => {
    for (const a of agents) await a.stop().catch(() => undefined);
    await controller?.stop().catch(() => undefined);
    await lab?.destroy();
  });

  it('forwards on the policy the controller pushed', async () => {
    expect(await pingOk('contoso-web', '10.1.1.11')).toBe(true);
    expect(await pingOk('fabrikam-web', '10.1.1.11')).toBe(true);
  });

  it('keeps forwarding while the controller is down, and loses nothing acknowledged', async () => {
    await controller.kill();
    expect(await pingOk('contoso-web', '10.1.1.11')).toBe(true);
    controller = await startController(lab.router, '192.168.1.1', port, dir);
    const r = await controller.ctl(['get', 'nics', '--json']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('contoso-web');
    expect(r.stdout).toContain('fabrikam-sql');
  });

  it('converges on a change made after the restart (an ACL that denies ping)', async () => {
    const denyPing: Policy = {
      ...policy,
      accessControlLists: [
        {
          name: 'no-ping',
          aclRules: [
            { name: 'deny-icmp', protocol: 'ICMP', sourceAddressPrefix: '*', destinationAddressPrefix: '*', sourcePortRange: '*', destinationPortRange: '*', action: 'Deny', type: 'Inbound', priority: 100 },
          ],
        },
      ],
      networkInterfaces: policy.networkInterfaces.map((n) => (n.name === 'contoso-sql' ? { ...n, accessControlList: 'no-ping' } : n)),
    };
    await apply(denyPing);
    await waitFor(async () => !(await pingOk('contoso-web', '10.1.1.11')), 10_000, 'the ACL to reach host1');
    expect(await pingOk('fabrikam-web', '10.1.1.11')).toBe(true);
    await apply(policy); // the interface without the ACL again
    await waitFor(() => pingOk('contoso-web', '10.1.1.11'), 10_000, 'the ACL to go');
  });

  it('brings a killed agent back from its on-disk policy while the controller is away', async () => {
    await controller.kill();
    agents[0]!.child.kill('SIGKILL');
    await new Promise((r) => agents[0]!.child.once('exit', r));
    agents[0] = await agentFor(0);
    expect(await pingOk('contoso-web', '10.1.1.11')).toBe(true);
    controller = await startController(lab.router, '192.168.1.1', port, dir);
  });

  it('moves a network interface to another host (live migration) and counts the lost pings', async () => {
    const sqlNs = lab.tenantNs('contoso-sql');
    // 20 ms apart for 4 s while contoso-web moves from host2 to host1
    const pinger = runIn(sqlNs, 'ping', ['-n', '-c', '200', '-i', '0.02', '-W', '1', '10.1.1.12'], { allowFail: true, timeoutMs: 20_000 });
    await new Promise((r) => setTimeout(r, 800));
    const moved: Policy = { ...policy, networkInterfaces: policy.networkInterfaces.map((n) => (n.name === 'contoso-web' ? { ...n, host: 'host1' } : n)) };
    await apply(moved);
    const out = (await pinger).stdout;
    const m = /(\d+) packets transmitted, (\d+) received/.exec(out);
    const lost = Number(m?.[1]) - Number(m?.[2]);
    console.log(`live migration: ${lost} of ${m?.[1]} pings lost (20 ms apart)`);
    // agent 0 came back while the controller was away: it may still be in its reconnect backoff
    const portsOf = async (i: number) => ((await controlRequest(agents[i]!.socket, { op: 'ports' })) as { name: string }[]).map((p) => p.name);
    await waitFor(async () => (await portsOf(0)).includes('contoso-web'), 20_000, 'contoso-web on host1');
    const p1 = (await controlRequest(agents[0]!.socket, { op: 'ports' })) as { name: string }[];
    const p2 = (await controlRequest(agents[1]!.socket, { op: 'ports' })) as { name: string }[];
    expect(p1.map((p) => p.name)).toContain('contoso-web');
    expect(p2.map((p) => p.name)).not.toContain('contoso-web');
    expect(await pingOk('contoso-sql', '10.1.1.12')).toBe(true);
    expect(await pingOk('fabrikam-web', '10.1.1.11')).toBe(true);
    expect(Number(m?.[2])).toBeGreaterThan(100);
  });
});
