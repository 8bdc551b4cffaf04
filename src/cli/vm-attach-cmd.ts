/**
 * `switchyard vm-attach -f policy.yaml --port NAME`: the qemu options that attach a VM to the
 * port's vhost-user socket (vms/vhost-qemu.ts), for the user to add to their qemu command line.
 */
import { formatErrors, loadPolicyFile } from '../policy/load.js';
import { vhostQemuCommand } from '../vms/vhost-qemu.js';

export interface VmAttachOptions {
  file: string;
  port: string;
  mem: number;
  kvm?: boolean;
}

export async function runVmAttach(o: VmAttachOptions): Promise<number> {
  const r = await loadPolicyFile(o.file);
  if (!r.ok) {
    console.error(`${o.file}: invalid policy\n${formatErrors(r.errors, { file: o.file })}`);
    return 2;
  }
  const nic = r.policy.networkInterfaces.find((n) => n.name === o.port);
  if (!nic) {
    console.error(`vm-attach: no network interface "${o.port}" in ${o.file} (interfaces: ${r.policy.networkInterfaces.map((n) => n.name).join(', ')})`);
    return 2;
  }
  if (!nic.vhostUser) {
    console.error(`vm-attach: ${o.port} is a TAP port (netns ${nic.netns ?? 'none'}); give it vhostUser: {socket: /run/switchyard/${o.port}.sock} in the policy to attach a VM`);
    return 2;
  }
  console.log(`# ${o.port} on host ${nic.host}: ${nic.ipAddress} in ${nic.virtualNetwork}/${nic.subnet}, the guest configures that address itself`);
  console.log(vhostQemuCommand({ port: nic.vhostUser, mac: nic.macAddress, memMb: o.mem, tcg: !o.kvm }));
  return 0;
}
