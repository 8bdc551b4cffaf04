/**
 * A tenant port: the TAP device of one network interface. Created in the agent's namespace and,
 * when the policy names a `netns`, moved there and configured like a VM's NIC: MAC, address and
 * prefix, MTU (underlay MTU minus the encapsulation overhead), up, and a default route via the
 * subnet's gateway (the distributed router). A tenant namespace the agent had to create is
 * deleted again when the port goes.
 */
import { TapQueue, type TapOptions } from '../io/tap.js';
import { steerTap } from '../io/steering.js';
import { loadNative } from '../io/native.js';
import { addrAdd, ip, linkConfigure, linkSetNetns, linkSetUp, netnsAdd, netnsDelete, netnsExists, routeAddDefault, type NetdevError } from '../io/netdev.js';
import type { PortInfo } from '../vfp/snapshot.js';
import { ENCAP_OVERHEAD } from './underlay.js';
import type { Logger } from './logger.js';

export interface TenantPort {
  info: PortInfo;
  /** Queue 0 (queues[0]). */
  queue: TapQueue;
  /** One queue per forwarding worker, in attach order (queue i belongs to worker i). */
  queues: TapQueue[];
  /** The options all its queues were opened with (a worker wraps its fd with the same). */
  tap: TapOptions;
  remove(): Promise<void>;
}

/** How tenant TAPs are opened: offloads (virtio-net header, checksum + TSO/USO) and queues. */
export interface PortMode {
  /** Try TUNSETOFFLOAD CSUM|TSO4|TSO6(|USO4|USO6); false: plain frames. */
  offload: boolean;
  /** IFF_MULTI_QUEUE (one queue per forwarding worker). */
  multiQueue: boolean;
  /** Queues to open (default 1; more needs multiQueue); with more than one, frames the tenant
   * sends are steered to queues by flow (io/steering.ts). */
  queues?: number;
}

/** The TapOptions of one queue for offload `flags` (0: no virtio-net header at all). */
export function tapOptions(flags: number, multiQueue: boolean): TapOptions {
  return flags ? { vnetHdr: true, vnetHdrSize: 12, offload: flags, vnetHdrOnWrite: 'caller', multiQueue } : { multiQueue };
}

/** Offload flag sets to try, best first; the last (0) always works. */
export function offloadCandidates(): number[] {
  const c = loadNative().constants;
  const tso = c.TUN_F_CSUM | c.TUN_F_TSO4 | c.TUN_F_TSO6;
  return [tso | c.TUN_F_USO4 | c.TUN_F_USO6, tso, c.TUN_F_CSUM, 0];
}

/**
 * Opens the first queue of a TAP with the best offloads the kernel takes (detected here, once per
 * port: TUNSETOFFLOAD fails with EINVAL for flags it does not know). Returns the queue and the
 * flags in force; `stats.fallbacks` counts the refused sets.
 */
export function openTap(ifname: string, mode: PortMode, log: Logger, stats: { fallbacks: number }): { queue: TapQueue; flags: number } {
  const cands = mode.offload ? offloadCandidates() : [0];
  for (let i = 0; ; i++) {
    try {
      return { queue: TapQueue.open(ifname, tapOptions(cands[i], mode.multiQueue)), flags: cands[i] };
    } catch (err) {
      if (i === cands.length - 1) throw err;
      stats.fallbacks++;
      log.warn({ ifname, flags: cands[i], err: (err as Error).message }, 'TAP offload refused; trying less');
    }
  }
}

/**
 * Moves the TAP into the tenant namespace. During a live migration between two hosts of one
 * machine (the lab) the old host may not have removed its device of the same name yet: wait for
 * it a little rather than fail.
 */
async function moveIntoNamespace(ifname: string, ns: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await linkSetNetns(ifname, ns);
      return;
    } catch (err) {
      if ((err as NetdevError).code !== 'EEXIST' || attempt >= 50) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

async function onlyLoopback(ns: string): Promise<boolean> {
  try {
    const links = JSON.parse(await ip(['-j', 'link', 'show'], ns)) as { ifname: string }[];
    return links.every((l) => l.ifname === 'lo');
  } catch {
    return false;
  }
}

export async function createTenantPort(
  info: PortInfo, underlayMtu: number, log: Logger, mode: PortMode = { offload: false, multiQueue: false }, stats = { fallbacks: 0 },
): Promise<TenantPort & { offloadFlags: number }> {
  const mtu = underlayMtu - ENCAP_OVERHEAD[info.encapsulation];
  const { queue, flags } = openTap(info.ifname, mode, log, stats);
  const tap = tapOptions(flags, mode.multiQueue);
  // every queue is opened here, before the device moves: a new queue attaches by name, which
  // works only in the namespace the device is in
  const queues = [queue];
  let madeNs = false;
  const remove = async (): Promise<void> => {
    for (const q of queues) q.close();
    // the namespace this port made goes with it, unless other devices (another port of the
    // policy that names the same netns) still live there
    if (madeNs && info.netns && (await onlyLoopback(info.netns))) await netnsDelete(info.netns, true);
  };
  try {
    for (let i = 1; i < (mode.queues ?? 1); i++) queues.push(TapQueue.open(info.ifname, tap));
    if (queues.length > 1) steerTap(queue.fd, queues.length);
    if (info.netns) {
      if (!(await netnsExists(info.netns))) {
        await netnsAdd(info.netns);
        madeNs = true;
      }
      const ns = info.netns;
      await moveIntoNamespace(info.ifname, ns);
      await linkSetUp('lo', ns);
      await linkConfigure(info.ifname, { mac: info.macText, mtu, up: true }, ns);
      await addrAdd(info.ifname, `${info.ipText}/${info.prefixLen}`, ns);
      await routeAddDefault(info.gatewayText, info.ifname, ns);
    } else {
      // no namespace: a VM (or a bridge) attaches to the TAP here; it carries the tenant's MAC
      await linkConfigure(info.ifname, { mtu, up: true });
    }
  } catch (err) {
    await remove().catch(() => undefined);
    throw new Error(`port ${info.name} (${info.ifname}): ${(err as Error).message}`, { cause: err });
  }
  log.info({ port: info.name, ifname: info.ifname, netns: info.netns, mtu, ip: info.ipText, vsid: info.vsid, offload: flags }, 'port up');
  return { info, queue, queues, tap, remove, offloadFlags: flags };
}
