/**
 * Change-scoped validation of REST writes (issue 20): a PUT or DELETE of one resource is checked
 * against the few stored resources it can conflict with, not against the whole policy. At 100,000
 * ports the cross-object checks over the whole document took seconds per PUT; the stored policy
 * was valid when written, so only checks that involve the changed resource can fail:
 * - its own schema, and the duplicates it makes: names, provider addresses, VSIDs, MACs, addresses
 *   per virtual network (IPv4 and IPv6), ifnames and vhost-user sockets per host: found through
 *   key -> names indexes kept here beside the policy (coarser keys than the checks' own, e.g. a MAC
 *   in any subnet, so the candidates are a superset);
 * - its references (host, virtual network, ACLs, switch): the referenced resources;
 * - resources that use it: when it goes (a DELETE, or a body whose name is not the id), everything
 *   that names it; a virtual network whose subnet prefixes change, the ports in those subnets; a
 *   switch or NAT, all switches and NATs (NATs name Internal switches by prefix; both are few);
 *   an HNV gateway (gateway-semantic.ts), the networks behind the same host and the switches and
 *   switch ports that place host vNIC prefixes there; a host that goes, the networks it is gateway of.
 * Every stored resource taken in brings what it refers to (its closure), so the small document is a
 * reference-closed part of a valid policy plus the change: the same checks (validate.ts's
 * parsePolicyChange, the code that full validation runs) report exactly the problems they report
 * on the whole candidate, with the same paths once changes.ts names resources by kind/name. Kinds
 * keep store order and the changed resource comes last; one without a well-formed name sits at the
 * index it has in the whole candidate (a sparse array: the checks visit elements with forEach,
 * which skips holes), so even a message that names it by index is the same. test/unit/controller-change-scope.test.ts checks the equivalence
 * against full validation on random changes.
 */
import { POLICY_KINDS } from '../agent/controller-sync-protocol.js';
import type { PolicyKind } from '../agent/controller-sync-protocol.js';
import { normaliseMac } from '../policy/addr.js';
import { deriveIfname } from '../policy/names.js';
import { HostSchema, NetworkInterfaceSchema, SubnetSchema } from '../policy/schema.js';
import { wellFormed } from '../policy/semantic.js';
import { formatIpv6, parseIpv6 } from '../wire/addr6.js';

type Resource = { name: string } & Record<string, unknown>;

/** What a change is checked on: a document, the changed resource's place in it, whether it existed. */
export interface Candidate {
  doc: Record<PolicyKind, unknown[]>;
  /** Where the PUT's resource is (absent for a DELETE). */
  target?: { kind: PolicyKind; index: number };
  existed: boolean;
}

/** Builds the document a change to kind/id is checked on (`resource` undefined: a DELETE). */
export interface ChangeScope {
  candidate(kind: PolicyKind, id: string, resource?: Record<string, unknown>): Candidate;
}

interface Entry {
  item: Resource;
  /** Insertion order of its kind (a replaced resource keeps its place, as a Map's entries do). */
  seq: number;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const str = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);

function records(value: unknown): Record<string, unknown>[] {
  return Array.isArray(value) ? value.filter(isRecord) : [];
}

/** The IPv6 duplicate check's key (semantic-ipv6.ts: raw network name, canonical address). */
function ipv6Key(nic: Record<string, unknown>): string | undefined {
  const text = str(nic.ipv6Address);
  const address = text === undefined ? undefined : parseIpv6(text);
  return address === undefined ? undefined : `ip6 ${str(nic.virtualNetwork) ?? ''} ${formatIpv6(address)}`;
}

/** Keys of an interface from its (well-formed) fields: references and everything that must be unique. */
function nicKeys(nic: Record<string, unknown>, ipv6: string | undefined): string[] {
  const keys: string[] = [];
  const host = str(nic.host);
  const vnet = str(nic.virtualNetwork);
  const name = str(nic.name);
  if (host !== undefined) keys.push(`host ${host}`);
  if (vnet !== undefined) keys.push(`vnet ${vnet}`);
  if (str(nic.accessControlList) !== undefined) keys.push(`acl ${nic.accessControlList as string}`);
  if (str(nic.switch) !== undefined) keys.push(`switch ${nic.switch as string}`);
  const mac = str(nic.macAddress);
  if (mac !== undefined) keys.push(`mac ${normaliseMac(mac) ?? mac.toLowerCase()}`);
  if (vnet !== undefined && str(nic.ipAddress) !== undefined) keys.push(`ip ${vnet} ${nic.ipAddress as string}`);
  if (host !== undefined && name !== undefined) {
    const ifname = str(nic.ifname);
    keys.push(`ifname ${host} ${deriveIfname(ifname === undefined ? { name } : { name, ifname })}`);
  }
  const socket = isRecord(nic.vhostUser) ? str(nic.vhostUser.socket) : undefined;
  if (host !== undefined && socket !== undefined) keys.push(`sock ${host} ${socket}`);
  if (ipv6 !== undefined) keys.push(ipv6);
  return keys;
}

/** The host a virtual network's HNV gateway names (gateway-semantic.ts), if any. */
function gatewayHost(vn: Record<string, unknown>): string | undefined {
  return isRecord(vn.gateway) ? str(vn.gateway.host) : undefined;
}

/** Index keys of a stored resource (normalised as parsePolicy made it, or as a store seed wrote it). */
function storedKeys(kind: PolicyKind, item: Resource): string[] {
  const keys = new Set<string>();
  if (kind === 'hosts') for (const pa of (item.providerAddresses as unknown[] | undefined) ?? []) keys.add(`pa ${String(pa)}`);
  else if (kind === 'virtualNetworks') {
    for (const subnet of records(item.subnets)) {
      if (typeof subnet.vsid === 'number') keys.add(`vsid ${subnet.vsid}`);
      if (str(subnet.accessControlList) !== undefined) keys.add(`acl ${subnet.accessControlList as string}`);
    }
    const gw = gatewayHost(item);
    if (gw !== undefined) {
      keys.add(`gw ${gw}`);
      keys.add('gw');
    }
  } else if (kind === 'networkInterfaces') for (const key of nicKeys(item, ipv6Key(item))) keys.add(key);
  return [...keys];
}

export class ChangeScopeIndex implements ChangeScope {
  private readonly items = new Map<PolicyKind, Map<string, Entry>>();
  /** Per kind, key -> the names that have it: most keys belong to one resource, held as a plain string (a Set each would cost ~100 MB at 100,000 ports). */
  private readonly byKey = new Map<PolicyKind, Map<string, string | Set<string>>>();
  private seq = 0;

  constructor() {
    this.clear();
  }

  clear(): void {
    for (const kind of POLICY_KINDS) {
      this.items.set(kind, new Map());
      this.byKey.set(kind, new Map());
    }
  }

  private entries(kind: PolicyKind): Map<string, Entry> {
    return this.items.get(kind) as Map<string, Entry>;
  }

  private keyed(kind: PolicyKind, key: string): Iterable<string> {
    const names = (this.byKey.get(kind) as Map<string, string | Set<string>>).get(key);
    return names === undefined ? [] : typeof names === 'string' ? [names] : names;
  }

  set(kind: PolicyKind, name: string, item: Resource): void {
    const old = this.entries(kind).get(name);
    // keys are made again from the old resource to unindex it (resources are not changed in place)
    if (old !== undefined) this.unindex(kind, name, storedKeys(kind, old.item));
    const keys = storedKeys(kind, item);
    this.entries(kind).set(name, { item, seq: old?.seq ?? ++this.seq });
    const index = this.byKey.get(kind) as Map<string, string | Set<string>>;
    for (const key of keys) {
      const names = index.get(key);
      if (names === undefined) index.set(key, name);
      else if (typeof names !== 'string') names.add(name);
      else if (names !== name) index.set(key, new Set([names, name]));
    }
  }

  remove(kind: PolicyKind, name: string): void {
    const old = this.entries(kind).get(name);
    if (old === undefined) return;
    this.unindex(kind, name, storedKeys(kind, old.item));
    this.entries(kind).delete(name);
  }

  private unindex(kind: PolicyKind, name: string, keys: string[]): void {
    const index = this.byKey.get(kind) as Map<string, string | Set<string>>;
    for (const key of keys) {
      const names = index.get(key);
      if (names === name) index.delete(key);
      else if (typeof names === 'object') {
        names.delete(name);
        if (names.size === 1) index.set(key, names.values().next().value as string);
      }
    }
  }

  candidate(kind: PolicyKind, id: string, resource?: Record<string, unknown>): Candidate {
    const picked = new Map<PolicyKind, Set<string>>(POLICY_KINDS.map((k) => [k, new Set<string>()]));
    const queue: [PolicyKind, Resource][] = [];
    const include = (k: PolicyKind, name: unknown): void => {
      if (typeof name !== 'string' || (k === kind && name === id)) return;
      const entry = this.entries(k).get(name);
      const set = picked.get(k) as Set<string>;
      if (entry === undefined || set.has(name)) return;
      set.add(name);
      queue.push([k, entry.item]);
    };
    const includeAll = (k: PolicyKind): void => {
      for (const name of this.entries(k).keys()) include(k, name);
    };
    const includeKeyed = (k: PolicyKind, key: string): void => {
      for (const name of this.keyed(k, key)) include(k, name);
    };

    const existed = this.entries(kind).has(id);
    // the stored kind/id leaves the document: whatever names it is checked again
    if (existed && (resource === undefined || resource.name !== id)) this.users(kind, id, includeAll, includeKeyed);
    if (resource !== undefined) {
      include(kind, resource.name);
      this.conflicts(kind, id, resource, existed, include, includeAll, includeKeyed);
      this.references(kind, resource, include, includeAll);
    }
    for (let next = queue.pop(); next !== undefined; next = queue.pop()) this.references(next[0], next[1], include, includeAll);

    const doc = {} as Record<PolicyKind, unknown[]>;
    for (const k of POLICY_KINDS) {
      const entries = [...(picked.get(k) as Set<string>)].map((name) => this.entries(k).get(name) as Entry);
      entries.sort((a, b) => a.seq - b.seq);
      doc[k] = entries.map((entry) => entry.item);
    }
    if (resource === undefined) return { doc, existed };
    // last, as in the whole candidate; a body without a well-formed name is named by its index in
    // some messages, so it goes at its index in the whole candidate (a sparse array; only then:
    // the checks' forEach over a 100,000-long sparse array costs tens of milliseconds)
    const named = HostSchema.shape.name.safeParse(resource.name).success;
    const index = named ? doc[kind].length : this.entries(kind).size - (existed ? 1 : 0);
    doc[kind][index] = resource;
    return { doc, target: { kind, index }, existed };
  }

  /** What `item` (stored, or the raw body) refers to: the checks need it present to pass. */
  private references(kind: PolicyKind, item: Record<string, unknown>, include: (k: PolicyKind, name: unknown) => void, includeAll: (k: PolicyKind) => void): void {
    if (kind === 'networkInterfaces') {
      include('hosts', item.host);
      include('virtualNetworks', item.virtualNetwork);
      include('accessControlLists', item.accessControlList);
      include('switches', item.switch);
    } else if (kind === 'virtualNetworks') {
      for (const subnet of records(item.subnets)) include('accessControlLists', subnet.accessControlList);
      include('hosts', gatewayHost(item));
    } else if (kind === 'nats') includeAll('switches');
  }

  /** Stored resources that name kind/id (it is being removed). */
  private users(kind: PolicyKind, id: string, includeAll: (k: PolicyKind) => void, includeKeyed: (k: PolicyKind, key: string) => void): void {
    if (kind === 'hosts') {
      includeKeyed('networkInterfaces', `host ${id}`);
      includeKeyed('virtualNetworks', `gw ${id}`);
    }
    else if (kind === 'virtualNetworks') includeKeyed('networkInterfaces', `vnet ${id}`);
    else if (kind === 'accessControlLists') {
      includeKeyed('networkInterfaces', `acl ${id}`);
      includeKeyed('virtualNetworks', `acl ${id}`);
    } else if (kind === 'switches') {
      includeKeyed('networkInterfaces', `switch ${id}`);
      includeAll('switches');
      includeAll('nats');
    }
  }

  /** Stored resources the new resource may duplicate or break. */
  private conflicts(
    kind: PolicyKind,
    id: string,
    resource: Record<string, unknown>,
    existed: boolean,
    include: (k: PolicyKind, name: unknown) => void,
    includeAll: (k: PolicyKind) => void,
    includeKeyed: (k: PolicyKind, key: string) => void,
  ): void {
    if (kind === 'hosts') {
      for (const pa of wellFormed(HostSchema, resource).providerAddresses ?? []) includeKeyed('hosts', `pa ${pa}`);
    } else if (kind === 'virtualNetworks') {
      for (const subnet of records(resource.subnets)) {
        const vsid = wellFormed(SubnetSchema, subnet).vsid;
        if (vsid !== undefined) includeKeyed('virtualNetworks', `vsid ${vsid}`);
      }
      // a gateway: the other networks behind the same host, and the Internal switches' host vNIC
      // prefixes there (the switches and their ports; both are few)
      const gw = gatewayHost(resource);
      if (gw !== undefined) {
        includeKeyed('virtualNetworks', `gw ${gw}`);
        this.switchPorts(includeAll, includeKeyed);
      }
      if (existed && resource.name === id) this.portsOfChangedSubnets(id, resource, include);
      // a body named like another stored network: the IPv6 check maps subnets by network name, the
      // last one wins, so that network's ports see this body's subnets
      else if (typeof resource.name === 'string' && resource.name !== id) includeKeyed('networkInterfaces', `vnet ${resource.name}`);
    } else if (kind === 'networkInterfaces') {
      const nic = wellFormed(NetworkInterfaceSchema, resource) as Record<string, unknown>;
      for (const key of nicKeys(nic, ipv6Key(resource))) {
        // its own references are taken in whole by references(); these are what must be unique
        if (!/^(host|vnet|acl|switch) /.test(key)) includeKeyed('networkInterfaces', key);
      }
      // a switch port brings its switch's host vNIC prefix to its host: the gateways there
      if (str(nic.switch) !== undefined && str(nic.host) !== undefined) includeKeyed('virtualNetworks', `gw ${nic.host as string}`);
    } else if (kind === 'switches' || kind === 'nats') {
      includeAll('switches');
      includeAll('nats');
      if (kind === 'switches') {
        // its host vNIC prefix against every gateway on the hosts of its ports
        includeKeyed('networkInterfaces', `switch ${id}`);
        if (typeof resource.name === 'string') includeKeyed('networkInterfaces', `switch ${resource.name}`);
        includeKeyed('virtualNetworks', 'gw');
      }
    }
  }

  /** Every switch and every switch port (gateway-semantic.ts places host vNIC prefixes by them). */
  private switchPorts(includeAll: (k: PolicyKind) => void, includeKeyed: (k: PolicyKind, key: string) => void): void {
    includeAll('switches');
    for (const sw of this.entries('switches').keys()) includeKeyed('networkInterfaces', `switch ${sw}`);
  }

  /**
   * A virtual network replaced under the same name: its ports whose subnet is gone, duplicated or
   * has other prefixes now (they may be outside it); ports of unchanged subnets cannot break.
   */
  private portsOfChangedSubnets(id: string, resource: Record<string, unknown>, include: (k: PolicyKind, name: unknown) => void): void {
    const old = (this.entries('virtualNetworks').get(id) as Entry).item;
    const fresh = records(resource.subnets);
    const changed = new Set<string>();
    let all = !Array.isArray(resource.subnets);
    for (const subnet of records(old.subnets)) {
      const name = str(subnet.name);
      if (name === undefined) {
        all = true;
        continue;
      }
      const same = fresh.filter((candidate) => candidate.name === name);
      const now = same[0];
      if (same.length !== 1 || now === undefined || now.addressPrefix !== subnet.addressPrefix || now.ipv6AddressPrefix !== subnet.ipv6AddressPrefix) changed.add(name);
    }
    if (!all && changed.size === 0) return;
    for (const name of this.keyed('networkInterfaces', `vnet ${id}`)) {
      const subnet = str((this.entries('networkInterfaces').get(name) as Entry).item.subnet);
      if (all || subnet === undefined || changed.has(subnet)) include('networkInterfaces', name);
    }
  }
}
