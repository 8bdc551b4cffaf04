/**
 * The Linux kernel's own VXLAN as a host of the lab: per VNI a vxlan device, a bridge, and a veth
 * into each tenant namespace. It is switchyard's independent interop peer and the benchmark's
 * reference. Flooding (ARP, broadcast) goes to every remote PA through all-zero fdb entries.
 */
import { run, runIn } from './run.js';

export interface KernelTenant {
  ns: string;
  mac: string;
  ip: string;
  prefixLen: number;
  vni: number;
}

export async function kernelVxlanHost(hostNs: string, localPa: string, remotePas: string[], tenants: KernelTenant[], mtu = 1450): Promise<void> {
  const vnis = [...new Set(tenants.map((t) => t.vni))];
  for (const vni of vnis) {
    const vx = `vx${vni}`;
    const br = `br${vni}`;
    await runIn(hostNs, 'ip', ['link', 'add', vx, 'type', 'vxlan', 'id', String(vni), 'local', localPa, 'dstport', '4789', 'nolearning']);
    await runIn(hostNs, 'ip', ['link', 'add', br, 'type', 'bridge']);
    await runIn(hostNs, 'ip', ['link', 'set', vx, 'master', br, 'mtu', String(mtu), 'up']);
    await runIn(hostNs, 'ip', ['link', 'set', br, 'up']);
    for (const pa of remotePas) await runIn(hostNs, 'bridge', ['fdb', 'append', '00:00:00:00:00:00', 'dev', vx, 'dst', pa]);
  }
  let i = 0;
  for (const t of tenants) {
    const hostEnd = `kv${t.vni % 10000}x${i++}`;
    await run('ip', ['netns', 'add', t.ns], { allowFail: true });
    await runIn(hostNs, 'ip', ['link', 'add', hostEnd, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', t.ns]);
    await runIn(hostNs, 'ip', ['link', 'set', hostEnd, 'master', `br${t.vni}`, 'mtu', String(mtu), 'up']);
    await runIn(t.ns, 'ip', ['link', 'set', 'lo', 'up']);
    await runIn(t.ns, 'ip', ['link', 'set', 'eth0', 'address', t.mac, 'mtu', String(mtu), 'up']);
    await runIn(t.ns, 'ip', ['addr', 'add', `${t.ip}/${t.prefixLen}`, 'dev', 'eth0']);
    // a veth hands the kernel's vxlan partially checksummed TCP (FACTS.md): when the far side is
    // not the kernel, the tenant must finish its checksums, as a VM's NIC without offload would
    await runIn(t.ns, 'ethtool', ['-K', 'eth0', 'tx', 'off']);
  }
}
