/**
 * A VM's port over vhost-user (io/vhost.ts): instead of a TAP, a unix socket that qemu's
 * `-netdev vhost-user` attaches to. The agent makes the device (listening, or connecting to qemu's
 * socket) and hands each worker its lane; everything after the rings - ACLs, source validation,
 * the flow table, counters, trace - is the TAP port's path, unchanged. (`switchyard capture`
 * captures a kernel device; a vhost-user port has none.)
 *
 * The socket path is the only thing the port takes on the host: a server socket is made by the
 * agent (a leftover socket nobody listens on is replaced; a live one or another file is a
 * PortConflictError for this port) and removed with the port.
 */
import { VhostUserDevice } from '../io/vhost.js';
import type { PortInfo } from '../vfp/snapshot.js';
import type { Logger } from './logger.js';
import { PortConflictError, type TenantPort } from './ports.js';

export interface VhostPortMode {
  /** Offer checksum/TSO offloads to the guest (the agent's offload setting). */
  offload: boolean;
  /** Forwarding workers (lanes of the device). */
  workers: number;
}

export async function createVhostPort(info: PortInfo, log: Logger, mode: VhostPortMode): Promise<TenantPort> {
  const v = info.vhostUser;
  if (!v) throw new Error(`port ${info.name}: not a vhost-user port`);
  let dev: VhostUserDevice;
  try {
    dev = VhostUserDevice.open({
      socket: v.socket,
      mode: v.mode,
      queues: v.queues,
      lanes: mode.workers,
      offload: mode.offload,
      // SWITCHYARD_VHOST_EVENT_IDX=0: without notification suppression (bench/vm-vhost.ts compares)
      eventIdx: process.env.SWITCHYARD_VHOST_EVENT_IDX !== '0',
      onState: (state, detail) => log.info({ port: info.name, socket: v.socket, state, detail }, 'vhost-user front end'),
      onUnsealedMemory: (regions) =>
        log.warn({ port: info.name, socket: v.socket, regions }, 'vhost-user guest memory is not sealed against shrinking (qemu memory-backend-memfd seal=off, or a file backend): a front end that shrinks it would crash the agent'),
    });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const E = code === 'EADDRINUSE' || code === 'EEXIST' ? PortConflictError : Error;
    throw new E(`port ${info.name} (vhost-user ${v.socket}): ${(err as Error).message}`, { cause: err });
  }
  log.info({ port: info.name, socket: v.socket, mode: v.mode, queues: v.queues, ip: info.ipText, mac: info.macText, vsid: info.vsid }, 'port up (vhost-user)');
  await Promise.resolve();
  return {
    info,
    queues: [],
    tap: {},
    vhost: dev,
    remove: () => {
      dev.close();
      return Promise.resolve();
    },
  };
}
