// The Open vSwitch peer on its own, with no switchyard: before OVS is trusted as switchyard's
// independent NVGRE peer, show that it talks NVGRE to itself (OVS GRE <-> OVS GRE, key = VSID << 8 |
// FlowID, read back by tshark on the router) and VXLAN to the kernel (OVS VXLAN <-> kernel vxlan).
import path from 'node:path';
import fs from 'node:fs';
import os from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFigure8Lab, type Figure8Lab } from '../../src/cli/lab/topology.js';
import { nvgreKey, startOvsHost, type OvsHost, type OvsTenant } from '../../src/cli/lab/ovs.js';
import { kernelVxlanHost } from '../../src/cli/lab/kernel-vxlan.js';
import { haveCommand, iperf3, isolationCheck, ping } from '../../src/cli/lab/probes.js';
import { runIn } from '../../src/cli/lab/run.js';
import { captureGre, type GreRow } from './nvgre-helpers.js';
import { isRoot } from './lab-helpers.js';

const CONTOSO = 5001;
const FABRIKAM = 6001;
/** A FlowID other than 0 for fabrikam, so the capture shows the key's low byte is the FlowID. */
const FABRIKAM_FLOW = 7;

/** Pings until one reply comes (OVS learns MACs and next hops on the first packets), then counts. */
async function pingSettled(ns: string, addr: string, count = 3): Promise<number> {
  for (let i = 0; i < 10 && (await ping(ns, addr, 1, 0.2, 1)).received === 0; i++);
  return (await ping(ns, addr, count)).received;
}

describe.skipIf(!isRoot)('Open vSwitch userspace peer, without switchyard', () => {
  let lab: Figure8Lab | undefined;
  let dir = '';
  const ovs: OvsHost[] = [];
  const stopOvs = async () => {
    while (ovs.length) await ovs.pop()!.stop().catch(() => undefined);
  };
  beforeAll(async () => {
    lab = await createFigure8Lab();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), `${lab.tag}-`));
  }, 60_000);
  afterAll(async () => {
    try {
      await stopOvs();
    } finally {
      await lab?.destroy();
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  describe('OVS GRE <-> OVS GRE (NVGRE keys)', () => {
    let rows: GreRow[] = [];
    const t = (nic: string, mac: string, ip: string): OvsTenant => ({ ns: lab!.tenantNs(nic), mac, ip, prefixLen: 24 });
    beforeAll(async () => {
      expect(await haveCommand('tshark')).toBe(true);
      const [h1, h2] = lab!.hosts;
      ovs.push(
        await startOvsHost(h1.ns, {
          pa: h1.pa,
          remotePa: h2.pa,
          tunnels: [
            { kind: 'gre', vsid: CONTOSO, flowId: 0, tenants: [t('c1', '02:00:00:00:50:11', '10.1.1.11')] },
            { kind: 'gre', vsid: FABRIKAM, flowId: FABRIKAM_FLOW, tenants: [t('f1', '02:00:00:00:60:11', '10.1.1.11')] },
          ],
        }),
      );
      ovs.push(
        await startOvsHost(h2.ns, {
          pa: h2.pa,
          remotePa: h1.pa,
          tunnels: [
            { kind: 'gre', vsid: CONTOSO, flowId: 0, tenants: [t('c2', '02:00:00:00:50:12', '10.1.1.12')] },
            { kind: 'gre', vsid: FABRIKAM, flowId: FABRIKAM_FLOW, tenants: [t('f2', '02:00:00:00:60:12', '10.1.1.12')] },
          ],
        }),
      );
      rows = await captureGre(lab!.router, 'r1', path.join(dir, 'gre.pcap'), async () => {
        await pingSettled(lab!.tenantNs('c2'), '10.1.1.11', 1);
        await pingSettled(lab!.tenantNs('f2'), '10.1.1.11', 1);
      });
    }, 90_000);

    it('pings both ways in each tenant', async () => {
      expect(await pingSettled(lab!.tenantNs('c1'), '10.1.1.12')).toBe(3);
      expect(await pingSettled(lab!.tenantNs('c2'), '10.1.1.11')).toBe(3);
      expect(await pingSettled(lab!.tenantNs('f1'), '10.1.1.12')).toBe(3);
      expect(await pingSettled(lab!.tenantNs('f2'), '10.1.1.11')).toBe(3);
    });

    it('keeps the two tenants apart (same CA, different keys)', async () => {
      const res = await isolationCheck([
        { from: lab!.tenantNs('c2'), to: lab!.tenantNs('c1'), addr: '10.1.1.11', marker: 'contoso' },
        { from: lab!.tenantNs('f2'), to: lab!.tenantNs('f1'), addr: '10.1.1.11', marker: 'fabrikam' },
      ]);
      expect(res.find((x) => x.ns === lab!.tenantNs('c1'))!.got).toEqual(['contoso']);
      expect(res.find((x) => x.ns === lab!.tenantNs('f1'))!.got).toEqual(['fabrikam']);
    });

    it('carries iperf3 TCP both ways', async () => {
      const up = await iperf3(lab!.tenantNs('c1'), lab!.tenantNs('c2'), '10.1.1.11', 2);
      const down = await iperf3(lab!.tenantNs('c2'), lab!.tenantNs('c1'), '10.1.1.12', 2);
      console.log(`OVS userspace GRE tenant to tenant: ${up.gbps.toFixed(3)} / ${down.gbps.toFixed(3)} Gbit/s (retransmits ${up.retransmits} / ${down.retransmits})`);
      expect(up.gbps).toBeGreaterThan(0.01);
      expect(down.gbps).toBeGreaterThan(0.01);
    }, 60_000);

    it('puts NVGRE on the wire: flags 0x2000, protocol 0x6558, key = VSID << 8 | FlowID', () => {
      expect(rows.length).toBeGreaterThan(0);
      for (const r of rows) {
        expect(r.flags).toBe(0x2000);
        expect(r.proto).toBe(0x6558);
      }
      const keys = new Set(rows.map((r) => r.key));
      expect([...keys].sort((a, b) => a - b)).toEqual([nvgreKey(CONTOSO, 0), nvgreKey(FABRIKAM, FABRIKAM_FLOW)]);
      // each key carries its own tenant's frames
      expect(rows.filter((r) => r.innerSrc.startsWith('02:00:00:00:60')).every((r) => r.key === nvgreKey(FABRIKAM, FABRIKAM_FLOW))).toBe(true);
      expect(rows.filter((r) => r.innerSrc.startsWith('02:00:00:00:50')).every((r) => r.key === (CONTOSO << 8))).toBe(true);
      expect(new Set(rows.map((r) => `${r.src}>${r.dst}`))).toEqual(new Set(['192.168.1.10>192.168.2.20', '192.168.2.20>192.168.1.10']));
    });

    it('gives the PA back to eth0 when stopped', async () => {
      await stopOvs();
      for (const h of lab!.hosts) {
        const a = await runIn(h.ns, 'ip', ['-br', 'addr', 'show', 'dev', h.dev]);
        expect(a.stdout).toContain(h.pa);
        const rt = await runIn(h.ns, 'ip', ['route', 'show', 'default']);
        expect(rt.stdout).toContain(`dev ${h.dev}`);
        const links = await runIn(h.ns, 'ip', ['-br', 'link']);
        expect(links.stdout).not.toMatch(/br-phy|br-int|ovs-netdev/);
      }
      const left = await runIn(undefined, 'ip', ['netns', 'list']);
      expect(left.stdout).not.toContain(lab!.tenantNs('c1'));
    });
  });

  describe('OVS VXLAN <-> kernel vxlan', () => {
    beforeAll(async () => {
      await stopOvs();
      const [h1, h2] = lab!.hosts;
      ovs.push(
        await startOvsHost(h1.ns, {
          pa: h1.pa,
          remotePa: h2.pa,
          tunnels: [{ kind: 'vxlan', vsid: CONTOSO, tenants: [{ ns: lab!.tenantNs('vx1'), mac: '02:00:00:00:50:11', ip: '10.1.1.11', prefixLen: 24 }] }],
        }),
      );
      await kernelVxlanHost(h2.ns, h2.pa, [h1.pa], [{ ns: lab!.tenantNs('vx2'), mac: '02:00:00:00:50:12', ip: '10.1.1.12', prefixLen: 24, vni: CONTOSO }]);
    }, 60_000);

    it('pings both ways', async () => {
      expect(await pingSettled(lab!.tenantNs('vx1'), '10.1.1.12')).toBe(3);
      expect(await pingSettled(lab!.tenantNs('vx2'), '10.1.1.11')).toBe(3);
    });
  });
});
