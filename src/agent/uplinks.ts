/**
 * Opens the host's underlay endpoints: VXLAN (UDP 4789) and/or NVGRE (IP protocol 47), for every
 * provider address of the host (the sockets bind the wildcard address and learn each datagram's
 * destination PA, so several PAs share one socket).
 */
import type { Uplink } from '../io/types.js';
import { NvgreUplink, VxlanUplink } from '../io/uplink.js';
import type { Logger } from './logger.js';

/** Socket buffers: the default 208 KB receive buffer holds ~100 datagrams and dropped a quarter
 * of a TCP stream's frames while the forwarder was busy with the other direction (measured). */
export const UPLINK_RCVBUF = 16 << 20;
export const UPLINK_SNDBUF = 4 << 20;

export async function openUplinks(kinds: ('vxlan' | 'nvgre')[], pas: string[], log: Logger): Promise<{ vxlan?: Uplink; nvgre?: Uplink }> {
  const out: { vxlan?: Uplink; nvgre?: Uplink } = {};
  try {
    // one PA: bind it (a host may run other VXLAN endpoints on other addresses); several: the
    // wildcard, and the dataplane checks each datagram's destination against the host's PAs
    const single = pas.length === 1;
    if (kinds.includes('vxlan')) out.vxlan = VxlanUplink.open({ localAddr: pas[0]!, bindAny: !single, rcvbuf: UPLINK_RCVBUF, sndbuf: UPLINK_SNDBUF });
    if (kinds.includes('nvgre')) out.nvgre = NvgreUplink.open({ localAddr: pas[0]!, bindAny: !single, rcvbuf: UPLINK_RCVBUF, sndbuf: UPLINK_SNDBUF });
  } catch (err) {
    out.vxlan?.close();
    const e = err as NodeJS.ErrnoException;
    const hint = e.code === 'EADDRINUSE' ? ' (another process, or a kernel vxlan device, holds UDP 4789 in this namespace)' : '';
    throw new Error(`cannot open uplink: ${e.message}${hint}`, { cause: err });
  }
  log.info({ kinds, pas }, 'uplinks open');
  return out;
}
