/**
 * Finds the underlay devices that own this host's provider addresses, and their MTU: the tenant
 * MTU is the underlay MTU minus the encapsulation overhead.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const exec = promisify(execFile);

/** Overhead of each encapsulation over IPv4 (vfp/mtu.ts: the snapshot uses it too). */
export { ENCAP_OVERHEAD } from '../vfp/mtu.js';

export interface UnderlayAddress {
  address: string;
  dev: string;
  mtu: number;
}

/** Looks up each provider address on this host's interfaces; throws naming the ones missing. */
export async function findUnderlay(addresses: string[]): Promise<UnderlayAddress[]> {
  const { stdout } = await exec('ip', ['-j', 'addr', 'show']);
  const links = JSON.parse(stdout) as { ifname: string; mtu: number; addr_info?: { family: string; local: string }[] }[];
  const found: UnderlayAddress[] = [];
  const missing: string[] = [];
  for (const a of addresses) {
    const link = links.find((l) => (l.addr_info ?? []).some((x) => x.family === 'inet' && x.local === a));
    if (link) found.push({ address: a, dev: link.ifname, mtu: link.mtu });
    else missing.push(a);
  }
  if (missing.length) {
    throw new Error(`provider address ${missing.join(', ')} is not configured on any interface of this host (check hosts[].providerAddresses and --host)`);
  }
  return found;
}

/**
 * Turns generic receive offload off on the underlay devices of a host that terminates NVGRE.
 * The kernel merges received GRE packets of one TCP flow (gre_gro_receive, built in), and a raw
 * IP socket then reads one large packet with a partial inner checksum and no segmentation
 * metadata, which switchyard cannot pass on correctly. Found across two VMs with a gretap peer
 * (virtio NICs have GRO on); veth has it off by default. Costs receive batching for VXLAN on the
 * same device too, so it is done only when NVGRE is in use.
 */
export async function disableGroForNvgre(devs: string[], log: { info(o: object, m: string): void; warn(o: object, m: string): void }): Promise<void> {
  for (const dev of new Set(devs)) {
    try {
      await exec('ethtool', ['-K', dev, 'gro', 'off']);
      log.info({ dev }, 'GRO off on the underlay device (NVGRE is received through a raw socket)');
    } catch (err) {
      log.warn({ dev, err: (err as Error).message.split('\n')[0] }, 'could not turn GRO off; merged GRE packets will be dropped as malformed');
    }
  }
}

/**
 * True when every device can finish transmit checksums. UDP GSO sends (the VXLAN offload path)
 * need it: the kernel answers EIO on a NIC without it (e.g. a VM whose virtio NIC sits on qemu's
 * socket netdev). An unreadable feature list counts as capable; the uplink still falls back at run
 * time on EIO.
 */
export async function canChecksumTx(devs: string[]): Promise<{ ok: boolean; without: string[] }> {
  const without: string[] = [];
  for (const dev of new Set(devs)) {
    try {
      const { stdout } = await exec('ethtool', ['-k', dev]);
      if (/^tx-checksumming: off/m.test(stdout)) without.push(dev);
    } catch {
      /* no ethtool or no such feature list: assume capable */
    }
  }
  return { ok: without.length === 0, without };
}
