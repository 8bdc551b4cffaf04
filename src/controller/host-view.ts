/**
 * What one host needs to know (the filter of the sync protocol): every host (remote PAs), the
 * virtual networks with at least one port on this host (or whose HNV gateway it is), every interface of those networks (CA->PA
 * mappings of remote ports), and the ACLs named by those networks' subnets and interfaces. A host
 * hears nothing of a virtual network without a port on it. Also: the whole policy as the store holds
 * it now, and as it was at an older revision (rebuilt from the change log's before-images).
 */
import { POLICY_KINDS, emptyPolicy, sortView } from '../agent/controller-sync-protocol.js';
import type { Policy } from '../policy/types.js';
import type { PolicyStore, StoreChange, StoredResource } from './store.js';

/** The whole stored policy (each kind sorted by name). */
export function storedPolicy(store: PolicyStore): Policy {
  const policy = emptyPolicy() as unknown as Record<string, unknown[]>;
  for (const kind of POLICY_KINDS) policy[kind] = store.list(kind).map((item) => item.resource);
  return policy as unknown as Policy;
}

/** The stored policy as it was at `revision`, or undefined when the change log is too short. */
export function policyAt(store: PolicyStore, revision: number): Policy | undefined {
  const changes = store.changesSince(revision);
  return changes === undefined ? undefined : policyBefore(storedPolicy(store), changes);
}

/**
 * `current` with `changes` (the changes that led to it, oldest first) undone. Resources that the
 * changes did not touch keep their object identity, so cached canonical forms stay valid.
 */
export function policyBefore(current: Policy, changes: StoreChange[]): Policy {
  const maps = new Map<string, Map<string, StoredResource['resource']>>();
  for (const kind of POLICY_KINDS) {
    maps.set(kind, new Map(((current[kind] ?? []) as unknown as StoredResource['resource'][]).map((item) => [item.name, item])));
  }
  for (const change of [...changes].reverse()) {
    const items = maps.get(change.kind) as Map<string, StoredResource['resource']>;
    if (change.before === undefined) items.delete(change.name);
    else items.set(change.name, change.before);
  }
  const policy = emptyPolicy() as unknown as Record<string, unknown[]>;
  for (const kind of POLICY_KINDS) policy[kind] = [...(maps.get(kind) as Map<string, unknown>).values()];
  return sortView(policy as unknown as Policy);
}

/** The part of `policy` that `host` needs, each kind sorted by name. */
export function hostView(policy: Policy, host: string): Policy {
  return networksView(policy, hostVnets(policy, host));
}

/** The virtual networks `host` needs: those it has a port in, and those whose HNV gateway it is
 * (it routes their traffic out and back in without a port of its own there). */
export function hostVnets(policy: Policy, host: string): Set<string> {
  const out = vnetsOf(policy.networkInterfaces.filter((nic) => nic.host === host));
  for (const vnet of policy.virtualNetworks) if (vnet.gateway?.host === host) out.add(vnet.name);
  return out;
}

/** The virtual networks these interfaces are bound to (switch interfaces name none). */
export function vnetsOf(nics: readonly { virtualNetwork?: string }[]): Set<string> {
  const out = new Set<string>();
  for (const nic of nics) if (nic.virtualNetwork !== undefined) out.add(nic.virtualNetwork);
  return out;
}

/** The virtual networks each host has a port in or is the gateway of (hosts with none are absent). */
export function networksByHost(policy: Policy): Map<string, Set<string>> {
  const byHost = new Map<string, Set<string>>();
  const of = (host: string): Set<string> => {
    let vnets = byHost.get(host);
    if (vnets === undefined) byHost.set(host, (vnets = new Set()));
    return vnets;
  };
  for (const nic of policy.networkInterfaces) {
    const vnets = of(nic.host);
    if (nic.virtualNetwork !== undefined) vnets.add(nic.virtualNetwork);
  }
  for (const vnet of policy.virtualNetworks) if (vnet.gateway !== undefined) of(vnet.gateway.host).add(vnet.name);
  return byHost;
}

/**
 * The view of a host with ports in exactly `vnetNames`: it depends on nothing else about the
 * host, so hosts with the same networks (and every unknown host) share one view.
 */
export function networksView(policy: Policy, vnetNames: ReadonlySet<string>): Policy {
  const virtualNetworks = policy.virtualNetworks.filter((vnet) => vnetNames.has(vnet.name));
  // switches are local to each host and small: every view holds all of them, their interfaces and
  // the NATs (so the view still depends on the virtual networks alone)
  const networkInterfaces = policy.networkInterfaces.filter((nic) => (nic.virtualNetwork !== undefined ? vnetNames.has(nic.virtualNetwork) : nic.switch !== undefined));
  const aclNames = new Set<string>();
  for (const vnet of virtualNetworks) {
    for (const subnet of vnet.subnets) if (subnet.accessControlList !== undefined) aclNames.add(subnet.accessControlList);
  }
  for (const nic of networkInterfaces) if (nic.accessControlList !== undefined) aclNames.add(nic.accessControlList);
  return sortView({
    hosts: policy.hosts,
    virtualNetworks,
    networkInterfaces,
    accessControlLists: policy.accessControlLists.filter((acl) => aclNames.has(acl.name)),
    switches: policy.switches ?? [],
    nats: policy.nats ?? [],
  });
}
