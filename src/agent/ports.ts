/**
 * A tenant port: the TAP device of one network interface. Created in the agent's namespace and,
 * when the policy names a `netns`, moved there and configured like a VM's NIC: MAC, address and
 * prefix, MTU (underlay MTU minus the encapsulation overhead), up, and a default route via the
 * subnet's gateway (the distributed router). A Dynamic port (ipAllocationMethod) gets MAC, MTU and
 * up only: its DHCP client asks the dataplane for the rest.
 *
 * The agent uses only what it made (issue 16). The TAP is created with IFF_TUN_EXCL: a device of
 * that name that exists already (someone's persistent TAP, a VM's) is a PortConflictError for this
 * port, never attached to. The namespace follows the interface's `netnsMode`:
 *   - create (default): the agent creates it (recorded in ownership.ts) and deletes it when its
 *     last port goes; one that exists and is not recorded as this agent's is a PortConflictError.
 *   - adopt: it must exist; the agent adds only the port's device and address and, when the
 *     namespace has no default route, one via the gateway; it never replaces a route. On removal
 *     it deletes that route and the device (the address goes with it); the namespace stays.
 * A PortConflictError fails that port only: the agent keeps the other ports (agent.ts).
 */
import { TapQueue, type TapOptions } from '../io/tap.js';
import { steerTap } from '../io/steering.js';
import { loadNative } from '../io/native.js';
import { addrAdd, ip, linkConfigure, linkSetNetns, linkSetUp, netnsAdd, netnsDelete, netnsExists, routeAddDefault, routeDelDefault, type NetdevError } from '../io/netdev.js';
import type { NetnsMode } from '../policy/types.js';
import type { Ownership } from './ownership.js';
import type { PortInfo } from '../vfp/snapshot.js';
import { ENCAP_OVERHEAD } from './underlay.js';
import { configureIpv6, unconfigureIpv6 } from './ports-ipv6.js';
import type { Logger } from './logger.js';
import type { VhostUserDevice } from '../io/vhost.js';

export interface TenantPort {
  info: PortInfo;
  /** One queue per forwarding worker, in attach order (queue i belongs to worker i); none for a
   * vhost-user port. */
  queues: TapQueue[];
  /** The options all its queues were opened with (a worker wraps its fd with the same). */
  tap: TapOptions;
  /** A VM's vhost-user device instead of a TAP (vhost-port.ts): worker i serves its lane i. */
  vhost?: VhostUserDevice;
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

/** Something of that name exists and is not this agent's: an error of this port only. */
export class PortConflictError extends Error {
  override name = 'PortConflictError';
}

/** Where a port goes and what the agent may take for it. */
export interface PortPlacement {
  netnsMode: NetnsMode;
  /** The record of what this agent made (namespaces, TAPs). */
  owned: Ownership;
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
      // exclusive: created here, never someone else's device attached to
      return { queue: TapQueue.open(ifname, { ...tapOptions(cands[i], mode.multiQueue), exclusive: true }), flags: cands[i] };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EBUSY') {
        throw new PortConflictError(`a network device named ${ifname} exists already (not this agent's): choose another ifname`, { cause: err });
      }
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
      if ((err as NetdevError).code === 'EEXIST' && attempt >= 50) {
        throw new PortConflictError(`netns ${ns} already has a device named ${ifname}`, { cause: err });
      }
      if ((err as NetdevError).code !== 'EEXIST') throw err;
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

async function hasDefaultRoute(ns: string): Promise<boolean> {
  const routes = JSON.parse(await ip(['-j', '-4', 'route', 'show', 'default'], ns)) as unknown[];
  return routes.length > 0;
}

export async function createTenantPort(
  info: PortInfo, underlayMtu: number, log: Logger, mode: PortMode, stats: { fallbacks: number }, place: PortPlacement,
): Promise<TenantPort & { queue: TapQueue; offloadFlags: number }> {
  const mtu = underlayMtu - ENCAP_OVERHEAD[info.encapsulation];
  const { owned } = place;
  // the namespace is checked before the TAP exists: a port that may not use it makes nothing
  const ns = info.netns;
  if (ns !== undefined) {
    const exists = await netnsExists(ns);
    if (place.netnsMode === 'adopt' && !exists) {
      throw new PortConflictError(`port ${info.name} (${info.ifname}): netns ${ns} does not exist (netnsMode adopt uses an existing namespace; create makes one)`);
    }
    if (place.netnsMode === 'create' && exists && !owned.ownsNamespace(ns)) {
      throw new PortConflictError(`port ${info.name} (${info.ifname}): netns ${ns} exists and was not created by this agent (netnsMode adopt uses an existing namespace)`);
    }
  }
  let opened: { queue: TapQueue; flags: number };
  try {
    opened = openTap(info.ifname, mode, log, stats);
  } catch (err) {
    const E = err instanceof PortConflictError ? PortConflictError : Error;
    throw new E(`port ${info.name} (${info.ifname}): ${(err as Error).message}`, { cause: err });
  }
  const { queue, flags } = opened;
  await owned.addTap(info.ifname);
  const tap = tapOptions(flags, mode.multiQueue);
  // every queue is opened here, before the device moves: a new queue attaches by name, which
  // works only in the namespace the device is in
  const queues = [queue];
  let madeNs = false;
  let addedRoute = false;
  let addedRoute6 = false;
  const remove = async (): Promise<void> => {
    // exactly what this port added: its default route (if it added one), its device (the
    // address goes with it: a non-persistent TAP disappears with its last fd)
    if (addedRoute && ns !== undefined) await routeDelDefault(info.gatewayText, info.ifname, ns).catch(() => undefined);
    if (addedRoute6 && ns !== undefined) await unconfigureIpv6(info, ns).catch(() => undefined);
    addedRoute = false;
    addedRoute6 = false;
    for (const q of queues) q.close();
    await owned.dropTap(info.ifname);
    // a namespace this agent made goes with its last port (another port of the policy may
    // still live there)
    if (ns !== undefined && owned.ownsNamespace(ns) && madeNs && (await onlyLoopback(ns))) {
      await netnsDelete(ns, true);
      await owned.dropNamespace(ns);
    }
  };
  try {
    for (let i = 1; i < (mode.queues ?? 1); i++) queues.push(TapQueue.open(info.ifname, tap));
    if (queues.length > 1) steerTap(queue.fd, queues.length);
    if (ns !== undefined) {
      if (place.netnsMode === 'create') {
        if (!owned.ownsNamespace(ns)) {
          await netnsAdd(ns);
          await owned.addNamespace(ns);
        }
        madeNs = true;
      }
      await moveIntoNamespace(info.ifname, ns);
      // loopback of a namespace the agent made; an adopted one's is its owner's business
      if (place.netnsMode === 'create') await linkSetUp('lo', ns);
      await linkConfigure(info.ifname, { mac: info.macText, mtu, up: true }, ns);
      // a Dynamic port's address and route come from its own DHCP client (layers/dhcp.ts); a
      // switch port's VM sets its own addresses and routes (issue 14)
      const ownAddress = !info.dhcp && info.switchIndex < 0;
      if (ownAddress) await addrAdd(info.ifname, `${info.ipText}/${info.prefixLen}`, ns);
      // a default route only where there is none: never replaces the owner's (or another port's)
      if (ownAddress && !(await hasDefaultRoute(ns))) {
        await routeAddDefault(info.gatewayText, info.ifname, ns);
        addedRoute = true;
      }
      addedRoute6 = await configureIpv6(info, ns);
    } else {
      // no namespace: a VM (or a bridge) attaches to the TAP here; it carries the tenant's MAC
      await linkConfigure(info.ifname, { mtu, up: true });
    }
  } catch (err) {
    await remove().catch(() => undefined);
    const E = err instanceof PortConflictError ? PortConflictError : Error;
    throw new E(`port ${info.name} (${info.ifname}): ${(err as Error).message}`, { cause: err });
  }
  log.info({ port: info.name, ifname: info.ifname, netns: ns, netnsMode: ns === undefined ? undefined : place.netnsMode, mtu, ip: info.ipText, ...(info.v6 !== null ? { ipv6: info.v6.text } : {}), vsid: info.vsid, offload: flags, defaultRoute: addedRoute }, 'port up');
  return { info, queue, queues, tap, remove, offloadFlags: flags };
}
