// Interop with an independent NVGRE implementation: host1 runs switchyard (examples/nvgre.yaml),
// host2 runs Open vSwitch's userspace datapath with GRE ports keyed VSID << 8 | FlowID for the
// contoso (5001) and fabrikam (6001) tenants. Ping and iperf3 TCP both ways, tenant isolation, and
// switchyard's GRE read back by tshark on the router.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveCommand, iperf3, isolationCheck, ping } from '../../src/lab/probes.js';
import { nvgreKey, pingUntilReply, startOvsHost, type OvsHost, type OvsTunnel } from '../../src/lab/ovs.js';
import type { Policy } from '../../src/policy/types.js';
import { startFigure8, type Figure8Run } from './lab-helpers.js';
import { captureGre, hex, nvgrePolicy, type GreRow } from './nvgre-helpers.js';
import { ROOT_ONLY } from '../helpers/prerequisites.js';
import { controlRequest } from '../../src/agent/control-client.js';

type Stats = { counters: Record<string, number>; drops: Record<string, number> };

/** The FlowID switchyard sends for a subnet (fixed in policy; OVS matches the whole key). */
function flowIdOf(policy: Policy, vnet: string): number {
  const f = policy.virtualNetworks.find((v) => v.name === vnet)!.subnets[0]!.nvgreFlowId;
  return typeof f === 'number' ? f : 0;
}

/** OVS on host2 in place of a switchyard agent: one keyed GRE port per tenant of host2. */
async function ovsPeer(r: Figure8Run): Promise<OvsHost> {
  const tunnels: OvsTunnel[] = ['contoso', 'fabrikam'].map((vnet) => {
    const nic = r.policy.networkInterfaces.find((n) => n.host === 'host2' && n.virtualNetwork === vnet)!;
    const sn = r.policy.virtualNetworks.find((v) => v.name === vnet)!.subnets.find((s) => s.name === nic.subnet)!;
    return {
      kind: 'gre',
      vsid: sn.vsid,
      flowId: flowIdOf(r.policy, vnet),
      tenants: [{ ns: r.ns(nic.name), mac: nic.macAddress, ip: nic.ipAddress!, prefixLen: Number(sn.addressPrefix.split('/')[1]) }],
    };
  });
  return startOvsHost(r.lab.hosts[1].ns, { pa: '192.168.2.20', remotePa: '192.168.1.10', tunnels });
}

/** Pings until one reply comes (OVS learns MACs and next hops on the first packets), then counts. */
async function pingSettled(ns: string, addr: string, count = 3): Promise<number> {
  await pingUntilReply(ns, addr, 10_000);
  return (await ping(ns, addr, count)).received;
}

describe('NVGRE interop: switchyard <-> Open vSwitch userspace GRE', ROOT_ONLY, () => {
  let r: Figure8Run | undefined;
  let ovs: OvsHost | undefined;
  let rows: GreRow[] = [];
  const ns = (nic: string) => r!.ns(nic);
  beforeAll(async () => {
    expect(await haveCommand('tshark')).toBe(true);
    r = await startFigure8({ policy: nvgrePolicy(), agentHosts: ['host1'] });
    try {
      ovs = await ovsPeer(r);
    } catch (err) {
      await r.teardown();
      r = undefined;
      throw err;
    }
    // capture on the router's host1 side: switchyard's frames (from 192.168.1.10) and OVS's
    rows = await captureGre(r.lab.router, 'r1', path.join(r.dir, 'nvgre.pcap'), async () => {
      await pingSettled(ns('contoso-sql'), '10.1.1.12', 2);
      await pingSettled(ns('fabrikam-sql'), '10.1.1.12', 2);
    });
  }, 120_000);
  afterAll(async () => {
    try {
      await ovs?.stop();
    } finally {
      await r?.teardown();
    }
  });

  it('pings switchyard -> OVS and OVS -> switchyard, both tenants', async () => {
    expect(await pingSettled(ns('contoso-sql'), '10.1.1.12')).toBe(3);
    expect(await pingSettled(ns('contoso-web'), '10.1.1.11')).toBe(3);
    expect(await pingSettled(ns('fabrikam-sql'), '10.1.1.12')).toBe(3);
    expect(await pingSettled(ns('fabrikam-web'), '10.1.1.11')).toBe(3);
  });

  it('carries iperf3 TCP both ways', async () => {
    const stats = async () => (await controlRequest(r!.agents[0]!.socket, { op: 'stats' })) as Stats;
    const before = await stats();
    const up = await iperf3(ns('contoso-sql'), ns('contoso-web'), '10.1.1.11', 2);
    const after = await stats();
    // OVS sends one GRE packet per TCP segment: switchyard's software GRO merged runs of them
    const merged = after.counters['nvgre-gro-frames'] - before.counters['nvgre-gro-frames'];
    const segs = after.counters['nvgre-gro-segments'] - before.counters['nvgre-gro-segments'];
    expect(merged).toBeGreaterThan(0);
    expect(segs).toBeGreaterThanOrEqual(2 * merged);
    const down = await iperf3(ns('contoso-web'), ns('contoso-sql'), '10.1.1.12', 2);
    console.log(`NVGRE switchyard <-> OVS: OVS->switchyard ${up.gbps.toFixed(3)} Gbit/s (${segs} segments in ${merged} GRO frames), switchyard->OVS ${down.gbps.toFixed(3)} Gbit/s`);
    expect(up.gbps).toBeGreaterThan(0.001);
    expect(down.gbps).toBeGreaterThan(0.001);
  }, 60_000);

  it('keeps the tenants apart: fabrikam on OVS never reaches contoso on switchyard', async () => {
    const res = await isolationCheck([
      { from: ns('contoso-web'), to: ns('contoso-sql'), addr: '10.1.1.11', marker: 'contoso' },
      { from: ns('fabrikam-web'), to: ns('fabrikam-sql'), addr: '10.1.1.11', marker: 'fabrikam' },
    ]);
    expect(res.find((x) => x.ns === ns('contoso-sql'))!.got).toEqual(['contoso']);
    expect(res.find((x) => x.ns === ns('fabrikam-sql'))!.got).toEqual(['fabrikam']);
  });

  it('sends well-formed NVGRE: flags 0x2000, protocol 0x6558, key = VSID << 8 | FlowID', () => {
    const mine = rows.filter((x) => x.src === '192.168.1.10');
    expect(mine.length, `switchyard sent no GRE (all rows: ${JSON.stringify(rows.slice(0, 4))})`).toBeGreaterThan(0);
    for (const x of mine) {
      expect(hex(x.flags), 'gre.flags_and_version').toBe('0x2000');
      expect(hex(x.proto), 'gre.proto').toBe('0x6558');
      expect(x.dst).toBe('192.168.2.20');
    }
    const contoso = nvgreKey(5001, flowIdOf(r!.policy, 'contoso'));
    const fabrikam = nvgreKey(6001, flowIdOf(r!.policy, 'fabrikam'));
    expect(new Set(mine.map((x) => hex(x.key, 8)))).toEqual(new Set([hex(contoso, 8), hex(fabrikam, 8)]));
    expect(mine.filter((x) => x.innerSrc === '02:00:00:00:50:11').every((x) => x.key === contoso)).toBe(true);
    expect(mine.filter((x) => x.innerSrc === '02:00:00:00:60:11').every((x) => x.key === fabrikam)).toBe(true);
  });
});
