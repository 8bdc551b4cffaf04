/** `switchyard vm-attach`: the qemu options for a vhost-user port (the VM test boots with the same). */
import { describe, expect, it } from 'vitest';
import { vhostNicArgs, vhostQemuCommand } from '../../src/vms/vhost-qemu.js';

describe('qemu options for a vhost-user port', () => {
  it('server mode: qemu connects with reconnect=1, memfd memory shared, vectors=0 for TCG', () => {
    const line = vhostQemuCommand({ port: { socket: '/run/switchyard/vm1.sock', mode: 'server', queues: 1 }, mac: '02:00:00:00:50:21' });
    expect(line).toBe(
      'qemu-system-x86_64 -m 256M -object memory-backend-memfd,id=mem,size=256M,share=on -numa node,memdev=mem ' +
        '-chardev socket,id=sy0,path=/run/switchyard/vm1.sock,reconnect=1 -netdev vhost-user,id=syn0,chardev=sy0 ' +
        '-device virtio-net-pci,netdev=syn0,mac=02:00:00:00:50:21,vectors=0 ...',
    );
  });

  it('client mode: qemu listens; queues > 1 turn on multiqueue; KVM keeps MSI-X', () => {
    const args = vhostNicArgs({ port: { socket: '/s/vm 2.sock', mode: 'client', queues: 2 }, mac: '02:00:00:00:00:02', tcg: false, id: '1' });
    expect(args).toEqual([
      '-chardev', 'socket,id=sy1,path=/s/vm 2.sock,server=on,wait=off',
      '-netdev', 'vhost-user,id=syn1,chardev=sy1,queues=2',
      '-device', 'virtio-net-pci,netdev=syn1,mac=02:00:00:00:00:02,mq=on',
    ]);
    // a path with a space is quoted for the shell
    expect(vhostQemuCommand({ port: { socket: '/s/vm 2.sock', mode: 'client', queues: 1 }, mac: '02:00:00:00:00:02' })).toContain("'socket,id=sy0,path=/s/vm 2.sock,server=on,wait=off'");
  });
});
