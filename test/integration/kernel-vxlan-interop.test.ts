// Interop with an independent VXLAN implementation: host1 runs switchyard, host2 runs the Linux
// kernel's vxlan device + bridge for contoso-web. Ping and iperf3 TCP in both directions.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { iperf3, ping } from '../../src/cli/lab/probes.js';
import { run, runIn } from '../../src/cli/lab/run.js';
import { isRoot, startFigure8, type Figure8Run } from './lab-helpers.js';

/** The kernel's side of contoso-web on host2: vxlan VNI 5001 -> bridge -> veth -> tenant ns. */
async function kernelVxlanPeer(r: Figure8Run): Promise<void> {
  const h2 = r.lab.hosts[1].ns;
  const web = r.policy.networkInterfaces.find((n) => n.name === 'contoso-web')!;
  const tenant = r.ns('contoso-web');
  await run('ip', ['netns', 'add', tenant]);
  await runIn(h2, 'ip', ['link', 'add', 'vx5001', 'type', 'vxlan', 'id', '5001', 'local', '192.168.2.20', 'dstport', '4789', 'nolearning']);
  await runIn(h2, 'ip', ['link', 'add', 'br5001', 'type', 'bridge']);
  await runIn(h2, 'ip', ['link', 'set', 'vx5001', 'master', 'br5001', 'mtu', '1450', 'up']);
  await runIn(h2, 'ip', ['link', 'add', 'vweb', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', tenant]);
  await runIn(h2, 'ip', ['link', 'set', 'vweb', 'master', 'br5001', 'mtu', '1450', 'up']);
  await runIn(h2, 'ip', ['link', 'set', 'br5001', 'up']);
  // flood (ARP, broadcast) to switchyard's host; unicast is learned from the fdb entry too
  await runIn(h2, 'bridge', ['fdb', 'append', '00:00:00:00:00:00', 'dev', 'vx5001', 'dst', '192.168.1.10']);
  await runIn(tenant, 'ip', ['link', 'set', 'lo', 'up']);
  await runIn(tenant, 'ip', ['link', 'set', 'eth0', 'address', web.macAddress, 'mtu', '1450', 'up']);
  await runIn(tenant, 'ip', ['addr', 'add', `${web.ipAddress}/24`, 'dev', 'eth0']);
  // a veth hands the kernel's vxlan partially checksummed TCP (FACTS.md): make the tenant finish
  // its checksums, as a VM's virtio NIC without offload would
  await runIn(tenant, 'ethtool', ['-K', 'eth0', 'tx', 'off']);
}

describe.skipIf(!isRoot)('interop with the kernel vxlan device', () => {
  let r: Figure8Run;
  beforeAll(async () => {
    r = await startFigure8({ agentHosts: ['host1'] });
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
