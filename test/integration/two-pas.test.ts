// Several provider addresses per host (HNVv2: one per NIC team member), and mixed VXLAN and
// NVGRE subnets on the same hosts: flows of one tenant are spread over both PAs, and when one
// underlay link goes down its flows move to the other PA (the note gives the outage).
import path from 'node:path';
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTenantNamespaces, makeRunDir, startAgent, writePolicy, type RunningAgent } from '../../src/lab/agents.js';
import { policyForLab } from '../../src/lab/policy.js';
import { ping, udpSend } from '../../src/lab/probes.js';
import { run, runIn, sleep } from '../../src/lab/run.js';
import { startCapture } from '../../src/lab/capture.js';
import { createFigure8Lab, type Figure8Lab } from '../../src/lab/topology.js';
import { figure8Policy } from '../../src/policy/figure8.js';
import type { Policy } from '../../src/policy/types.js';
import { controlRequest } from '../../src/agent/control-client.js';
import { ROOT_ONLY } from '../helpers/prerequisites.js';

function twoPaPolicy(): Policy {
  const p = figure8Policy();
  p.hosts = [
    { name: 'host1', providerAddresses: ['192.168.1.10', '192.168.3.10'] },
    { name: 'host2', providerAddresses: ['192.168.2.20', '192.168.4.20'] },
  ];
  // fabrikam on NVGRE, contoso on VXLAN: both encapsulations between the same hosts
  const fab = p.virtualNetworks.find((v) => v.name === 'fabrikam')!;
  fab.subnets[0]!.encapsulation = 'nvgre';
  return p;
}

describe('two provider addresses per host, mixed VXLAN and NVGRE', ROOT_ONLY, () => {
  let lab: Figure8Lab;
  let dir: string;
  const agents: RunningAgent[] = [];
  beforeAll(async () => {
    lab = await createFigure8Lab({ twoPas: true });
    dir = makeRunDir(lab.tag);
    const policy = policyForLab(twoPaPolicy(), lab.tenantNs);
    const file = writePolicy(dir, policy);
    await createTenantNamespaces(policy, ['host1', 'host2']);
    for (const h of lab.hosts) agents.push(await startAgent(h.ns, h.name, file, dir, ['--workers', '2']));
  }, 60_000);
  afterAll(async () => {
    for (const a of agents) await a.stop().catch(() => undefined);
    await lab?.destroy();
  });

  it('carries both tenants, VXLAN and NVGRE, in both directions', async () => {
    for (const t of ['contoso', 'fabrikam']) {
      expect((await ping(lab.tenantNs(`${t}-web`), '10.1.1.11', 2)).received, `${t} web->sql`).toBe(2);
      expect((await ping(lab.tenantNs(`${t}-sql`), '10.1.1.12', 2)).received, `${t} sql->web`).toBe(2);
    }
  });

  it('spreads the flows of one tenant over both PAs', async () => {
    const pcaps = ['r1', 'r3'].map((d) => path.join(dir, `${d}.pcap`));
    const caps = await Promise.all(['r1', 'r3'].map((d, i) => startCapture(lab.router, d, 'udp port 4789', pcaps[i]!)));
    // 16 UDP flows (each from its own source port) from contoso-web to contoso-sql
    for (let k = 0; k < 16; k++) await udpSend(lab.tenantNs('contoso-web'), '10.1.1.11', 7000 + k, `flow-${k}`, 1);
    await sleep(500);
    await Promise.all(caps.map((c) => c.stop()));
    const count = async (f: string) => {
      expect(fs.existsSync(f)).toBe(true);
      const r = await run('tshark', ['-r', f, '-Y', 'vxlan.vni == 5001 && ip.dst == 192.168.1.10 || vxlan.vni == 5001 && ip.dst == 192.168.3.10', '-T', 'fields', '-e', 'ip.dst']);
      return r.stdout.split('\n').filter(Boolean).length;
    };
    const viaPa1 = await count(pcaps[0]!);
    const viaPa2 = await count(pcaps[1]!);
    expect(viaPa1).toBeGreaterThan(0);
    expect(viaPa2).toBeGreaterThan(0);
  });

  it('moves flows to the other PA when an underlay link goes down', async () => {
    const web = lab.tenantNs('contoso-web');
    // 30 ms apart for 4.5 s; after ~1 s the host1 link that this ping flow uses is cut
    const pinger = runIn(web, 'ping', ['-n', '-c', '150', '-i', '0.03', '-W', '1', '10.1.1.11'], { allowFail: true, timeoutMs: 30_000 });
    await sleep(1000);
    const flows = (await controlRequest(agents[1]!.socket, { op: 'dump-flows', port: 'contoso-web' })) as {
      match: { proto?: number; dstIp?: string };
      action: string;
      idleMs: number;
    }[];
    // the running ping's flow: the ICMP entry hit last (earlier pings had other ids)
    const echo = flows.filter((f) => f.match.proto === 1 && f.match.dstIp === '10.1.1.11').sort((a, b) => a.idleMs - b.idleMs)[0];
    expect(echo, JSON.stringify(flows)).toBeDefined();
    const usesPa2 = echo!.action.includes('-> 192.168.3.10');
    console.log(`ping flow: ${echo!.action}; cutting ${usesPa2 ? 'host1 link 2' : 'host1 link 1'}`);
    await runIn(lab.router, 'ip', ['link', 'set', usesPa2 ? lab.hosts[0].routerDev2! : 'r1', 'down']);
    const out = (await pinger).stdout;
    const m = /(\d+) packets transmitted, (\d+) received/.exec(out);
    const lost = Number(m?.[1]) - Number(m?.[2]);
    console.log(`underlay link down: ${lost} of ${m?.[1]} pings lost (30 ms apart): ~${lost * 30} ms to move`);
    // afterwards every flow works over the remaining PAs, in both tenants
    for (const t of ['contoso', 'fabrikam']) {
      expect((await ping(lab.tenantNs(`${t}-web`), '10.1.1.11', 3)).received, t).toBe(3);
      expect((await ping(lab.tenantNs(`${t}-sql`), '10.1.1.12', 3)).received, t).toBe(3);
    }
    expect(lost).toBeGreaterThan(0); // the cut link carried this flow
    expect(lost).toBeLessThan(60);
  });
});
