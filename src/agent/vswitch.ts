/**
 * The agent's side of the Hyper-V style switches (issue 14): what a switch needs beyond TAP ports.
 *   - Internal: the host vNIC ("vEthernet (name)") is a TAP in the agent's namespace (ports.ts
 *     makes it like any port without a namespace); here it gets its MAC and `hostAddress`.
 *   - External: the bound NIC (`netAdapterName`) is opened with AF_PACKET sockets, one per
 *     worker in one fanout group steered like the TAPs (openNicSockets), promiscuous while open.
 *     The host keeps the NIC, its addresses and routes (Hyper-V's "allow management OS"): the
 *     sockets take copies of what arrives and add frames to what leaves; the switch never
 *     forwards frames to or from the NIC's own MAC.
 *   - NAT (nat.ts) on the host vNIC of the Internal switch whose prefix it names.
 * `checkHostDevices` and `checkStaticMappings` run before a policy changes anything: a
 * netAdapterName that is no device here, or a new static mapping on a port a socket of this host
 * listens on, refuses the whole policy (the one running stays).
 */
import fs from 'node:fs';
import { loadNative, type NativeAddon } from '../io/native.js';
import { packetFanoutProgram } from '../io/steering.js';
import { TapQueue } from '../io/tap.js';
import { addrAdd, linkConfigure } from '../io/netdev.js';
import type { Policy } from '../policy/types.js';
import { parseInterfaceAddress, formatCidr } from '../policy/addr.js';
import type { PortInfo, Snapshot } from '../vfp/snapshot.js';
import type { TenantPort } from './ports.js';
import type { NatPlan } from './nat.js';
import type { Logger } from './logger.js';
import { hostListeners, takenPortProblems } from './host-ports.js';

/** Throws when an External switch of this host names a NIC that does not exist here. */
export function checkHostDevices(policy: Policy, snap: Snapshot): void {
  const problems: string[] = [];
  for (const sw of snap.switches) {
    if (sw.netAdapterName === undefined) continue;
    if (!fs.existsSync(`/sys/class/net/${sw.netAdapterName}`)) {
      const i = (policy.switches ?? []).findIndex((s) => s.name === sw.name);
      problems.push(`switches[${i}].netAdapterName: no network device ${sw.netAdapterName} on host ${snap.hostName}`);
    }
  }
  if (problems.length) throw new Error(`policy refused, nothing changed: ${problems.join('; ')}`);
}

/** Throws when a static mapping new to this host's NATs would take a port a socket here listens
 * on (host-ports.ts); `running` is the policy in force (undefined at start). */
export function checkStaticMappings(policy: Policy, snap: Snapshot, running: Policy | undefined): void {
  const nats = natPlans(policy, snap).map((p) => p.nat);
  if (!nats.some((n) => n.staticMappings.length > 0)) return;
  const problems = takenPortProblems(policy, nats, running, hostListeners(), snap.hostName);
  if (problems.length) throw new Error(`policy refused, nothing changed: ${problems.join('; ')}`);
}

/** Gives the host vNIC of an Internal switch its MAC and address (after ports.ts made the TAP). */
export async function configureHostVnic(info: PortInfo, hostAddress: string | undefined): Promise<void> {
  await linkConfigure(info.ifname, { mac: info.macText });
  if (hostAddress !== undefined) await addrAdd(info.ifname, hostAddress);
}

/** A fanout group id for this process and NIC (sockets of one agent share it, no other's). */
function fanoutGroup(ifname: string): number {
  let h = process.pid;
  for (let i = 0; i < ifname.length; i++) h = Math.imul(h ^ ifname.charCodeAt(i), 0x01000193) >>> 0;
  return (h % 65535) + 1;
}

/** What openNicPort counts: NICs whose fanout group fell back to the kernel's hash. */
export interface NicFanoutStats {
  fallbacks: number;
}

/**
 * The AF_PACKET sockets of a bound NIC, one per worker, in worker order. With more than one
 * worker they form a PACKET_FANOUT_CBPF group steered by io/steering.ts (the member index is the
 * join order, so socket w, opened w-th, is worker w's), and a LAN host's reply reaches the worker
 * that handled the VM's request through the TAP: its connection table, and a stateful ACL on the
 * VM's port, know the flow. A kernel that refuses it gets the old PACKET_FANOUT_HASH group (a
 * warning and `stats.fallbacks`): every frame still reaches one worker, but replies of about half
 * the flows a VM starts land on the other one.
 */
export function openNicSockets(ifname: string, workers: number, log: Logger, stats: NicFanoutStats, n: Pick<NativeAddon, 'packetOpen' | 'attachCbpf' | 'close'>): number[] {
  if (workers <= 1) return [n.packetOpen(ifname, {})];
  const group = fanoutGroup(ifname);
  const open = (cbpf: boolean): number[] => {
    const fds: number[] = [];
    try {
      for (let w = 0; w < workers; w++) fds.push(n.packetOpen(ifname, { fanout: group, cbpf }));
      if (cbpf) n.attachCbpf(fds[0]!, 'fanout', packetFanoutProgram(workers));
      return fds;
    } catch (err) {
      // the whole group goes: a group keeps its type while it has a member
      for (const fd of fds) n.close(fd);
      throw err;
    }
  };
  try {
    return open(true);
  } catch (err) {
    stats.fallbacks++;
    log.warn({ nic: ifname, err: (err as Error).message }, 'external switch: the kernel refused the steered fanout group (PACKET_FANOUT_CBPF); kernel flow hash instead: replies may reach another worker than their flow');
    return open(false);
  }
}

/** The bound NIC of an External switch as a port: one AF_PACKET socket per worker. */
export function openNicPort(info: PortInfo, workers: number, log: Logger, stats: NicFanoutStats): TenantPort {
  const n = loadNative();
  let fds: number[];
  try {
    fds = openNicSockets(info.ifname, workers, log, stats, n);
  } catch (err) {
    throw new Error(`switch port ${info.name}: cannot bind NIC ${info.ifname}: ${(err as Error).message}`, { cause: err });
  }
  // packet: reads give back the VLAN tag the kernel took off, so tagged frames from the wire are
  // dropped (vlan-tagged) instead of reaching the switch's VMs as untagged ones
  const tap = { packet: true };
  const queues = fds.map((fd) => TapQueue.fromFd(fd, info.ifname, tap));
  log.info({ port: info.name, nic: info.ifname, sockets: fds.length }, 'external switch: NIC bound (promiscuous, AF_PACKET)');
  return {
    info,
    queues,
    tap,
    remove: () => {
      for (const q of queues) q.close();
      for (const fd of fds.splice(0)) n.close(fd);
      return Promise.resolve();
    },
  };
}

/** The NATs of this host: those whose prefix is an Internal switch's with a port here. */
export function natPlans(policy: Policy, snap: Snapshot): NatPlan[] {
  const plans: NatPlan[] = [];
  for (const nat of policy.nats ?? []) {
    const sw = snap.switches.find((s) => {
      if (s.hostAddress === undefined) return false;
      const a = parseInterfaceAddress(s.hostAddress);
      return typeof a !== 'string' && formatCidr(a.prefix) === nat.internalIPInterfaceAddressPrefix;
    });
    const host = sw?.hostPort === undefined ? undefined : snap.ports.find((p) => p.name === sw.hostPort);
    if (host !== undefined) plans.push({ nat, hostIfname: host.ifname });
  }
  return plans;
}
