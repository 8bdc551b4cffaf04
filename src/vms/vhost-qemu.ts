/**
 * The qemu command line that attaches a VM to a switchyard vhost-user port (`switchyard
 * vm-attach` prints it; the README shows it). What vhost-user needs from qemu:
 *   - guest memory qemu can share: a memfd backend with share=on, as the guest's NUMA node;
 *   - the socket: qemu connects (`reconnect=1`: it comes back after an agent restart) when the
 *     port's mode is server; it listens (`server=on,wait=off`) when the port's mode is client;
 *   - `vectors=0` on the virtio-net device: qemu 7.2 under TCG crashes setting up MSI-X vector
 *     notifiers for a vhost-user device (FACTS.md); with KVM vectors may stay.
 */
import type { VhostUserPort } from '../policy/types.js';

export interface VhostQemuOptions {
  port: Pick<VhostUserPort, 'socket' | 'mode' | 'queues'>;
  mac: string;
  /** Guest memory in MiB (default 256). */
  memMb?: number;
  /** Device id suffix (several NICs on one VM). */
  id?: string;
  /** Without KVM (TCG): vectors=0. Default true (safe with KVM too, interrupts go through INTx). */
  tcg?: boolean;
}

/** The qemu arguments for the memory backend (once per VM). */
export function sharedMemoryArgs(memMb = 256): string[] {
  return ['-m', `${memMb}M`, '-object', `memory-backend-memfd,id=mem,size=${memMb}M,share=on`, '-numa', 'node,memdev=mem'];
}

/** The qemu arguments for one NIC on the port (its chardev, netdev and device). */
export function vhostNicArgs(o: VhostQemuOptions): string[] {
  const id = o.id ?? '0';
  const sock = o.port.mode === 'server' ? `path=${o.port.socket},reconnect=1` : `path=${o.port.socket},server=on,wait=off`;
  const q = o.port.queues > 1 ? `,queues=${o.port.queues}` : '';
  const mq = o.port.queues > 1 ? `,mq=on` : '';
  return [
    '-chardev', `socket,id=sy${id},${sock}`,
    '-netdev', `vhost-user,id=syn${id},chardev=sy${id}${q}`,
    '-device', `virtio-net-pci,netdev=syn${id},mac=${o.mac}${mq}${o.tcg === false ? '' : ',vectors=0'}`,
  ];
}

/** A whole shell line: memory + NIC, with `...` where the user's other qemu options go. */
export function vhostQemuCommand(o: VhostQemuOptions): string {
  const args = ['qemu-system-x86_64', ...sharedMemoryArgs(o.memMb), ...vhostNicArgs(o)];
  return `${args.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ')} ...`;
}
