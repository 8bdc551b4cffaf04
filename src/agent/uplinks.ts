/**
 * Opens the host's underlay endpoints: VXLAN (UDP 4789) and/or NVGRE (IP protocol 47), for every
 * provider address of the host (the sockets bind the wildcard address and learn each datagram's
 * destination PA, so several PAs share one socket).
 */
import type { Uplink } from '../io/types.js';
import { loadNative } from '../io/native.js';
import { steerNvgreSocket, steerVxlanGroup } from '../io/steering.js';
import { ipv4ToNumber, NvgreUplink, VXLAN_PORT, VxlanUplink } from '../io/uplink.js';
import type { Logger } from './logger.js';
import type { NvgreTxMode } from '../io/nvgre-tx-ring.js';

/** Socket buffers: the default 208 KB receive buffer holds ~100 datagrams and dropped a quarter
 * of a TCP stream's frames while the forwarder was busy with the other direction (measured). */
export const UPLINK_RCVBUF = 16 << 20;
export const UPLINK_SNDBUF = 4 << 20;

/** UDP sockets in the VXLAN send pool (outer source ports): two inner flows share a port with
 * probability 1/64. */
export const GSO_POOL_SIZE = 64;

export interface UplinkMode {
  /** UDP GSO send pool + UDP GRO receive for VXLAN. */
  offload?: boolean;
  /** SO_REUSEPORT on the receive socket (one per worker). */
  reusePort?: boolean;
  /** NVGRE through an AF_PACKET socket (io/nvgre-tx-ring.ts); default: SWITCHYARD_NVGRE_TX_RING. */
  nvgreTxRing?: NvgreTxMode | undefined;
  /** Counts offloads the kernel refused. */
  stats?: { fallbacks: number };
}

function openVxlan(pa: string, bindAny: boolean, mode: UplinkMode, log: Logger): VxlanUplink {
  const base = { localAddr: pa, bindAny, rcvbuf: UPLINK_RCVBUF, sndbuf: UPLINK_SNDBUF, reusePort: mode.reusePort };
  if (mode.offload) {
    try {
      return VxlanUplink.open({ ...base, gsoPool: GSO_POOL_SIZE, gro: true });
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      if (e.code === 'EADDRINUSE' && !/udpOpen [^:]*:4789/.test(e.message)) throw err;
      if (e.code !== 'ENOPROTOOPT' && e.code !== 'EINVAL' && e.code !== 'EADDRINUSE') throw err;
      if (mode.stats) mode.stats.fallbacks++;
      log.warn({ err: e.message }, 'UDP GSO/GRO refused by the kernel: VXLAN without offloads');
    }
  }
  return VxlanUplink.open(base);
}

/** SWITCHYARD_NVGRE_TX_RING: 'ring' (or 1) the PACKET_MMAP TX ring, 'mmsg' sendmmsg on AF_PACKET,
 * 0 the raw IP socket only. */
export function nvgreTxRingDefault(env: NodeJS.ProcessEnv = process.env): NvgreTxMode | undefined {
  const v = env.SWITCHYARD_NVGRE_TX_RING;
  if (v === 'ring' || v === '1') return 'ring';
  if (v === 'mmsg') return 'mmsg';
  return undefined;
}

export async function openUplinks(kinds: ('vxlan' | 'nvgre')[], pas: string[], log: Logger, mode: UplinkMode = {}): Promise<{ vxlan?: Uplink; nvgre?: Uplink }> {
  const out: { vxlan?: Uplink; nvgre?: Uplink } = {};
  try {
    // one PA: bind it (a host may run other VXLAN endpoints on other addresses); several: the
    // wildcard, and the dataplane checks each datagram's destination against the host's PAs
    const single = pas.length === 1;
    if (kinds.includes('vxlan')) out.vxlan = openVxlan(pas[0]!, !single, mode, log);
    const txRing = 'nvgreTxRing' in mode ? mode.nvgreTxRing : nvgreTxRingDefault();
    if (kinds.includes('nvgre')) out.nvgre = NvgreUplink.open({ localAddr: pas[0]!, bindAny: !single, rcvbuf: UPLINK_RCVBUF, sndbuf: UPLINK_SNDBUF, txRing });
  } catch (err) {
    out.vxlan?.close();
    const e = err as NodeJS.ErrnoException;
    const hint = e.code === 'EADDRINUSE' ? ' (another process, or a kernel vxlan device, holds UDP 4789 in this namespace)' : '';
    throw new Error(`cannot open uplink: ${e.message}${hint}`, { cause: err });
  }
  log.info({ kinds, pas, gso: out.vxlan?.gso !== undefined, gro: out.vxlan?.groSize !== undefined }, 'uplinks open');
  return out;
}

/** One worker's uplinks. */
export interface UplinkSet {
  vxlan?: VxlanUplink;
  nvgre?: NvgreUplink;
}

/**
 * The uplinks of n forwarding workers: per worker a VXLAN receive socket in one SO_REUSEPORT
 * group on 4789 (bound in worker order, so the group's steering program's index i is worker i)
 * with its own send socket / GSO pool, and an NVGRE raw socket that accepts only its worker's
 * share (io/steering.ts). With n = 1, what openUplinks opens.
 */
export async function openWorkerUplinks(kinds: ('vxlan' | 'nvgre')[], pas: string[], log: Logger, mode: UplinkMode, n: number): Promise<UplinkSet[]> {
  if (n <= 1) return [(await openUplinks(kinds, pas, log, mode)) as UplinkSet];
  if (kinds.includes('vxlan')) {
    // SO_REUSEPORT would let this group join another agent's on the same port: make sure no
    // socket holds the port first (a bind without it fails if any does)
    const na = loadNative();
    try {
      na.close(na.udpOpen(pas.length === 1 ? ipv4ToNumber(pas[0]!) : 0, VXLAN_PORT));
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      const hint = e.code === 'EADDRINUSE' ? ' (another process, or a kernel vxlan device, holds UDP 4789 in this namespace)' : '';
      throw new Error(`cannot open uplink: ${e.message}${hint}`, { cause: err });
    }
  }
  const sets: UplinkSet[] = [];
  try {
    for (let w = 0; w < n; w++) sets.push((await openUplinks(kinds, pas, log, { ...mode, reusePort: true })) as UplinkSet);
    if (sets[0]!.vxlan) steerVxlanGroup(sets[0]!.vxlan.rxFd, n);
    sets.forEach((s, w) => s.nvgre && steerNvgreSocket(s.nvgre.rxFd, n, w));
  } catch (err) {
    for (const s of sets) closeUplinks(s);
    throw err;
  }
  return sets;
}

export function closeUplinks(s: UplinkSet): void {
  s.vxlan?.close();
  s.nvgre?.close();
}
