/**
 * The stored policy held in the controller's memory and kept up to date from the store's change
 * log, with the indexes a host view needs: interfaces by virtual network, virtual networks by host
 * (counted, so a host leaves a network when its last port there goes). A write is applied as the
 * changes it made (`refresh`), and what it touched is returned, so the sync hub rebuilds only the
 * views of the networks involved instead of every host's view (issue 20: no full rehash per PUT),
 * and validation of a REST change reads the policy from here instead of re-reading the whole store.
 * Unchanged resources keep their object identity, so cached canonical forms (digests) stay valid.
 * Beside it, the indexes that let a REST change be validated against only what it touches
 * (change-scope.ts).
 */
import { POLICY_KINDS, emptyPolicy, sortView } from '../agent/controller-sync-protocol.js';
import type { PolicyKind } from '../agent/controller-sync-protocol.js';
import type { AccessControlList, Host, Nat, NetworkInterface, Policy, VirtualNetwork, VirtualSwitch } from '../policy/types.js';
import { ChangeScopeIndex } from './change-scope.js';
import type { PolicyStore, StoredResource } from './store.js';

type Resource = StoredResource['resource'];

/** Freeze a resource and everything in it: shared by views and validation caches, it must never change. */
function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value as Record<string, unknown>)) deepFreeze(inner);
  }
  return value;
}

/** What a refresh changed, for invalidating views. */
export interface Touched {
  /** Everything may have changed (first load, or the log did not reach back far enough). */
  all: boolean;
  /** A host resource changed: every view lists every host. */
  hosts: boolean;
  /** Virtual networks whose views changed (their own resource, an interface in them, an ACL they use). */
  vnets: Set<string>;
}

export class PolicyIndex {
  private rev = 0;
  private items = new Map<PolicyKind, Map<string, Resource>>();
  private nicsByVnet = new Map<string, Map<string, NetworkInterface>>();
  /** Interfaces on a Hyper-V style switch (no virtual network): every view holds them all. */
  private switchNics = new Map<string, NetworkInterface>();
  private vnetsByHost = new Map<string, Map<string, number>>();
  /** Per host: the virtual networks whose HNV gateway it is (it needs their view too). */
  private gatewaysByHost = new Map<string, Set<string>>();
  private cachedPolicy: Policy | undefined;
  private sortedHosts: Host[] | undefined;
  /** The same resources, indexed for change-scoped validation. */
  readonly scope = new ChangeScopeIndex();

  constructor(private readonly store: PolicyStore) {
    this.reload();
  }

  get revision(): number {
    return this.rev;
  }

  /** Reread everything from the store. */
  private reload(): void {
    this.rev = this.store.revision();
    this.items = new Map(POLICY_KINDS.map((kind) => [kind, new Map<string, Resource>()]));
    this.nicsByVnet = new Map();
    this.switchNics = new Map();
    this.vnetsByHost = new Map();
    this.gatewaysByHost = new Map();
    this.scope.clear();
    for (const kind of POLICY_KINDS) for (const item of this.store.list(kind)) this.set(kind, item.name, item.resource);
    this.cachedPolicy = undefined;
    this.sortedHosts = undefined;
  }

  /** Catch up with the store; returns what changed (nothing when already there). */
  refresh(): Touched {
    const touched: Touched = { all: false, hosts: false, vnets: new Set() };
    const revision = this.store.revision();
    if (revision === this.rev) return touched;
    const changes = revision > this.rev ? this.store.changesSince(this.rev) : undefined;
    if (changes === undefined) {
      this.reload();
      return { all: true, hosts: true, vnets: touched.vnets };
    }
    const acls = new Set<string>();
    for (const change of changes) {
      const before = this.items.get(change.kind)?.get(change.name);
      this.touch(change.kind, before, touched, acls);
      if (change.after === undefined) this.remove(change.kind, change.name);
      else this.set(change.kind, change.name, change.after);
      this.touch(change.kind, change.after, touched, acls);
    }
    if (acls.size > 0) for (const vnet of this.vnetsUsing(acls)) touched.vnets.add(vnet);
    // a switch interface's ACL is in every view, as the interface is
    if (acls.size > 0 && [...this.switchNics.values()].some((nic) => nic.accessControlList !== undefined && acls.has(nic.accessControlList))) touched.hosts = true;
    this.rev = changes.length > 0 ? (changes[changes.length - 1]?.revision ?? revision) : revision;
    this.cachedPolicy = undefined;
    return touched;
  }

  private touch(kind: PolicyKind, item: Resource | undefined, touched: Touched, acls: Set<string>): void {
    if (item === undefined) return;
    // switches, NATs and switch interfaces are in every view (host-view.ts), as hosts are
    if (kind === 'hosts' || kind === 'switches' || kind === 'nats') touched.hosts = true;
    else if (kind === 'virtualNetworks') touched.vnets.add(item.name);
    else if (kind === 'networkInterfaces') {
      const vnet = (item as unknown as NetworkInterface).virtualNetwork;
      if (vnet === undefined) touched.hosts = true;
      else touched.vnets.add(vnet);
    } else acls.add(item.name);
  }

  /** Virtual networks whose subnets or interfaces name one of `acls`. */
  private vnetsUsing(acls: Set<string>): Set<string> {
    const vnets = new Set<string>();
    for (const vnet of this.map('virtualNetworks').values() as IterableIterator<unknown> as IterableIterator<VirtualNetwork>) {
      if (vnet.subnets.some((subnet) => subnet.accessControlList !== undefined && acls.has(subnet.accessControlList))) vnets.add(vnet.name);
    }
    for (const [vnet, nics] of this.nicsByVnet) {
      if (vnets.has(vnet)) continue;
      for (const nic of nics.values()) {
        if (nic.accessControlList !== undefined && acls.has(nic.accessControlList)) {
          vnets.add(vnet);
          break;
        }
      }
    }
    return vnets;
  }

  private map(kind: PolicyKind): Map<string, Resource> {
    return this.items.get(kind) as Map<string, Resource>;
  }

  private set(kind: PolicyKind, name: string, item: Resource): void {
    deepFreeze(item);
    if (kind === 'networkInterfaces') this.unindexNic(name);
    if (kind === 'virtualNetworks') this.unindexGateway(name);
    this.map(kind).set(name, item);
    const gw = kind === 'virtualNetworks' ? (item as unknown as VirtualNetwork).gateway : undefined;
    if (gw !== undefined) {
      let vnets = this.gatewaysByHost.get(gw.host);
      if (vnets === undefined) this.gatewaysByHost.set(gw.host, (vnets = new Set()));
      vnets.add(name);
    }
    this.scope.set(kind, name, item);
    if (kind === 'hosts') this.sortedHosts = undefined;
    if (kind === 'networkInterfaces') {
      const nic = item as unknown as NetworkInterface;
      const vnet = nic.virtualNetwork;
      if (vnet === undefined) {
        this.switchNics.set(name, nic);
        return;
      }
      let nics = this.nicsByVnet.get(vnet);
      if (nics === undefined) this.nicsByVnet.set(vnet, (nics = new Map()));
      nics.set(name, nic);
      let vnets = this.vnetsByHost.get(nic.host);
      if (vnets === undefined) this.vnetsByHost.set(nic.host, (vnets = new Map()));
      vnets.set(vnet, (vnets.get(vnet) ?? 0) + 1);
    }
  }

  private remove(kind: PolicyKind, name: string): void {
    if (kind === 'networkInterfaces') this.unindexNic(name);
    if (kind === 'virtualNetworks') this.unindexGateway(name);
    if (kind === 'hosts') this.sortedHosts = undefined;
    this.map(kind).delete(name);
    this.scope.remove(kind, name);
  }

  private unindexGateway(name: string): void {
    const host = (this.map('virtualNetworks').get(name) as unknown as VirtualNetwork | undefined)?.gateway?.host;
    if (host === undefined) return;
    const vnets = this.gatewaysByHost.get(host);
    vnets?.delete(name);
    if (vnets?.size === 0) this.gatewaysByHost.delete(host);
  }

  private unindexNic(name: string): void {
    const old = this.map('networkInterfaces').get(name) as unknown as NetworkInterface | undefined;
    if (old === undefined) return;
    const vnet = old.virtualNetwork;
    if (vnet === undefined) {
      this.switchNics.delete(name);
      return;
    }
    const nics = this.nicsByVnet.get(vnet);
    nics?.delete(name);
    if (nics?.size === 0) this.nicsByVnet.delete(vnet);
    const vnets = this.vnetsByHost.get(old.host);
    const count = (vnets?.get(vnet) ?? 1) - 1;
    if (count > 0) vnets?.set(vnet, count);
    else vnets?.delete(vnet);
    if (vnets?.size === 0) this.vnetsByHost.delete(old.host);
  }

  /** The whole policy (arrays made once per revision; each kind in store order, then newer ones). */
  policy(): Policy {
    if (this.cachedPolicy === undefined) {
      const policy = emptyPolicy() as unknown as Record<PolicyKind, Resource[]>;
      for (const kind of POLICY_KINDS) policy[kind] = [...this.map(kind).values()];
      this.cachedPolicy = policy as unknown as Policy;
    }
    return this.cachedPolicy;
  }

  /** The virtual networks `host` has a port in or is the HNV gateway of. */
  vnetsOf(host: string): string[] {
    const ports = this.vnetsByHost.get(host)?.keys() ?? [];
    const gateways = this.gatewaysByHost.get(host);
    if (gateways === undefined) return [...ports];
    return [...new Set([...ports, ...gateways])];
  }

  /** The view of a host with ports in exactly `vnets` (as host-view.ts's networksView, from the indexes). */
  view(vnets: Iterable<string>): Policy {
    this.sortedHosts ??= sortView({ ...emptyPolicy(), hosts: [...this.map('hosts').values()] as unknown as Host[] }).hosts;
    const virtualNetworks: VirtualNetwork[] = [];
    const networkInterfaces: NetworkInterface[] = [];
    const aclNames = new Set<string>();
    for (const name of vnets) {
      const vnet = this.map('virtualNetworks').get(name) as unknown as VirtualNetwork | undefined;
      if (vnet !== undefined) {
        virtualNetworks.push(vnet);
        for (const subnet of vnet.subnets) if (subnet.accessControlList !== undefined) aclNames.add(subnet.accessControlList);
      }
      for (const nic of this.nicsByVnet.get(name)?.values() ?? []) {
        networkInterfaces.push(nic);
        if (nic.accessControlList !== undefined) aclNames.add(nic.accessControlList);
      }
    }
    for (const nic of this.switchNics.values()) if (nic.accessControlList !== undefined) aclNames.add(nic.accessControlList);
    const acls = this.map('accessControlLists');
    const accessControlLists = [...aclNames].map((name) => acls.get(name)).filter((acl) => acl !== undefined) as unknown as AccessControlList[];
    networkInterfaces.push(...this.switchNics.values());
    const view = sortView({
      hosts: [],
      virtualNetworks,
      networkInterfaces,
      accessControlLists,
      switches: [...this.map('switches').values()] as unknown as VirtualSwitch[],
      nats: [...this.map('nats').values()] as unknown as Nat[],
    });
    view.hosts = this.sortedHosts;
    return view;
  }
}
