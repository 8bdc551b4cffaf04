/**
 * Lookups over a validated Policy. References are known to resolve after `parsePolicy`, so a miss
 * means the caller passed objects from another policy: it throws.
 */
import { formatIpv4, parseCidr } from './addr.js';
import type { AccessControlList, Host, NetworkInterface, Policy, Subnet, VirtualNetwork } from './types.js';

function must<T>(found: T | undefined, what: string): T {
  if (found === undefined) throw new Error(`policy has no ${what}`);
  return found;
}

/** The gateway of a subnet: its lowest usable address (10.1.1.1 in 10.1.1.0/24), owned by the distributed router. */
export function gatewayOf(subnet: Pick<Subnet, 'addressPrefix'>): string {
  const cidr = parseCidr(subnet.addressPrefix);
  if (typeof cidr === 'string') throw new Error(cidr);
  return formatIpv4(cidr.network + 1);
}

export function hostOf(policy: Policy, nic: NetworkInterface): Host {
  return must(policy.hosts.find((host) => host.name === nic.host), `host ${nic.host}`);
}

export function vnetOf(policy: Policy, nic: NetworkInterface): VirtualNetwork {
  return must(
    policy.virtualNetworks.find((vnet) => vnet.name === nic.virtualNetwork),
    `virtual network ${nic.virtualNetwork}`,
  );
}

export function subnetOf(policy: Policy, nic: NetworkInterface): Subnet {
  const vnet = vnetOf(policy, nic);
  return must(vnet.subnets.find((subnet) => subnet.name === nic.subnet), `subnet ${nic.subnet} in ${vnet.name}`);
}

/** The interfaces placed on a host (by name or Host), in document order. */
export function interfacesOnHost(policy: Policy, host: string | Host): NetworkInterface[] {
  const name = typeof host === 'string' ? host : host.name;
  return policy.networkInterfaces.filter((nic) => nic.host === name);
}

/** The interfaces of one virtual subnet (all hosts), in document order. */
export function interfacesInSubnet(policy: Policy, vnet: string, subnet: string): NetworkInterface[] {
  return policy.networkInterfaces.filter((nic) => nic.virtualNetwork === vnet && nic.subnet === subnet);
}

/** The virtual network and subnet that own a VSID, if any. */
export function subnetByVsid(policy: Policy, vsid: number): { vnet: VirtualNetwork; subnet: Subnet } | undefined {
  for (const vnet of policy.virtualNetworks) {
    const subnet = vnet.subnets.find((s) => s.vsid === vsid);
    if (subnet) return { vnet, subnet };
  }
  return undefined;
}

export function aclByName(policy: Policy, name: string): AccessControlList {
  return must(policy.accessControlLists.find((acl) => acl.name === name), `access control list ${name}`);
}
