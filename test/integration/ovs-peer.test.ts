// The Open vSwitch peer on its own, with no switchyard: before OVS is trusted as switchyard's
// independent NVGRE peer, show that it talks NVGRE to itself (OVS GRE <-> OVS GRE, key = VSID << 8 |
// FlowID, read back by tshark on the router) and VXLAN to the kernel (OVS VXLAN <-> kernel vxlan).
import path from 'node:path';
import fs from 'node:fs';
import os from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFigure8Lab, type Figure8Lab } from '../../src/lab/topology.js';
import { nvgreKey, pingUntilReply, startOvsFigure8, startOvsHost, type OvsFigure8, type OvsHost, type OvsTenant } from '../../src/lab/ovs.js';
import { figure8Policy } from '../../src/policy/figure8.js';
import { kernelVxlanHost } from '../../src/lab/kernel-vxlan.js';
import { haveCommand, iperf3, isolationCheck, ping } from '../../src/lab/probes.js';
import { runIn } from '../../src/lab/run.js';
import { captureGre, nvgrePolicy, type GreRow } from './nvgre-helpers.js';
import { ROOT_ONLY } from '../helpers/prerequisites.js';

const CONTOSO = 5001;
const FABRIKAM = 6001;
/** A FlowID other than 0 for fabrikam, so the capture shows the key's low byte is the FlowID. */
const FABRIKAM_FLOW = 7;

/** Pings until one reply comes (OVS learns MACs and next hops on the first packets), then counts. */
async function pingSettled(ns: string, addr: string, count = 3): Promise<number> {
  await pingUntilReply(ns, addr, 10_000);
  return (await ping(ns, addr, count)).received;
}

describe('Open vSwitch userspace peer, without switchyard', ROOT_ONLY, () => {
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
      // the kernel's vxlan leaves the outer UDP checksum partial (CHECKSUM_PARTIAL crosses veths and
      // the router untouched); OVS checks it on tunnel pop and drops the frame
      // (coverage: datapath_drop_tunnel_pop_error). A real NIC would finish it: make the underlay
      // veth do so in software.
      await runIn(h2.ns, 'ethtool', ['-K', h2.dev, 'tx', 'off']);
      await kernelVxlanHost(h2.ns, h2.pa, [h1.pa], [{ ns: lab!.tenantNs('vx2'), mac: '02:00:00:00:50:12', ip: '10.1.1.12', prefixLen: 24, vni: CONTOSO }]);
    }, 60_000);

    it('pings both ways', async () => {
      expect(await pingSettled(lab!.tenantNs('vx1'), '10.1.1.12')).toBe(3);
      expect(await pingSettled(lab!.tenantNs('vx2'), '10.1.1.11')).toBe(3);
    });
  });
});

// startOvsFigure8 is what the benchmark uses: both hosts on OVS with the policy's contoso tenants
describe('startOvsFigure8: the benchmark set-up', ROOT_ONLY, () => {
  let lab: Figure8Lab | undefined;
  let run8: OvsFigure8 | undefined;
  afterAll(async () => {
    try {
      await run8?.stop();
    } finally {
      await lab?.destroy();
    }
  });

  for (const kind of ['gre', 'vxlan'] as const) {
    it(`runs contoso tenant to tenant over OVS ${kind}`, async () => {
      lab ??= await createFigure8Lab();
      const policy = kind === 'gre' ? nvgrePolicy() : figure8Policy();
      run8 = await startOvsFigure8(lab, policy, kind);
      try {
        expect(Object.keys(run8.ns).sort()).toEqual(['contoso-sql', 'contoso-web']);
        const r = await iperf3(run8.ns['contoso-web']!, run8.ns['contoso-sql']!, '10.1.1.12', 2);
        console.log(`startOvsFigure8 ${kind}: contoso-sql -> contoso-web ${r.gbps.toFixed(3)} Gbit/s`);
        expect(r.gbps).toBeGreaterThan(0.01);
      } finally {
        await run8.stop();
        run8 = undefined;
      }
    }, 90_000);
  }
});
