// Interop with an independent VXLAN implementation: host1 runs switchyard, host2 runs the Linux
// kernel's vxlan device + bridge for contoso-web. Ping and iperf3 TCP in both directions, with two
// forwarding workers (the kernel peer's flows are steered by switchyard's BPF programs).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { iperf3, ping } from '../../src/lab/probes.js';
import { kernelVxlanHost } from '../../src/lab/kernel-vxlan.js';
import { startFigure8, type Figure8Run } from './lab-helpers.js';
import { ROOT_ONLY } from '../helpers/prerequisites.js';

/** The kernel's side of contoso-web on host2: vxlan VNI 5001 -> bridge -> veth -> tenant ns. */
async function kernelVxlanPeer(r: Figure8Run): Promise<void> {
  const web = r.policy.networkInterfaces.find((n) => n.name === 'contoso-web')!;
  await kernelVxlanHost(r.lab.hosts[1].ns, '192.168.2.20', ['192.168.1.10'], [
    { ns: r.ns('contoso-web'), mac: web.macAddress, ip: web.ipAddress!, prefixLen: 24, vni: 5001 },
  ]);
}

describe('interop with the kernel vxlan device', ROOT_ONLY, () => {
  let r: Figure8Run;
  beforeAll(async () => {
    r = await startFigure8({ agentHosts: ['host1'], agentArgs: ['--workers', '2'] });
    await kernelVxlanPeer(r);
  }, 60_000);
  afterAll(async () => {
    await r?.teardown();
  });

  it('pings kernel -> switchyard and switchyard -> kernel', async () => {
    const a = await ping(r.ns('contoso-web'), '10.1.1.11', 3);
    expect(a.received).toBe(3);
    const b = await ping(r.ns('contoso-sql'), '10.1.1.12', 3);
    expect(b.received).toBe(3);
  });

  it('carries iperf3 TCP both ways', async () => {
    const up = await iperf3(r.ns('contoso-sql'), r.ns('contoso-web'), '10.1.1.11', 2);
    expect(up.gbps).toBeGreaterThan(0.001);
    const down = await iperf3(r.ns('contoso-web'), r.ns('contoso-sql'), '10.1.1.12', 2);
    expect(down.gbps).toBeGreaterThan(0.001);
  });

  it('does not let the kernel peer reach the other tenant', async () => {
    // fabrikam-sql has the same address; the kernel sends on VNI 5001 only
    const f = await ping(r.ns('fabrikam-sql'), '10.1.1.12', 2);
    expect(f.received).toBe(0);
  });
});
