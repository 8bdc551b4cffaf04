/**
 * Checks across fields and objects: unique names, VSIDs, MACs, addresses and ifnames; references
 * between objects; subnets inside their network and apart from each other; interface addresses
 * inside their subnet. They run on whatever fields of the raw document are well formed, so one
 * pass reports every problem; a field the schema rejects is simply not looked at here.
 */
import { z } from 'zod';
import { cidrContainsAddress, lastAddress, maskOf, parseCidr, parseIpv4 } from './addr.js';
import type { Cidr } from './addr.js';
import { formatPath } from './errors.js';
import type { PathSegment } from './errors.js';
import { deriveIfname } from './names.js';
import { ipv6Errors } from './semantic-ipv6.js';
import {
  AccessControlListSchema,
  AclRuleSchema,
  HostSchema,
  NetworkInterfaceSchema,
  SubnetSchema,
  VirtualNetworkSchema,
} from './schema.js';
import { switchErrors } from './switch-semantic.js';
import { gatewayErrors } from './gateway-semantic.js';

export interface SemanticError {
  path: PathSegment[];
  message: string;
}

interface Item<T> {
  path: PathSegment[];
  /** The well-formed fields of the element. */
  value: Partial<T>;
  /** The raw element, to tell an absent optional field from a malformed one. */
  raw: Record<string, unknown>;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Per schema and skip list: the same fields as a non-strict object (unknown keys are ignored). */
const looseSchemas = new WeakMap<z.ZodObject, Map<string, z.ZodType>>();
function looseOf(schema: z.ZodObject, skip: string[]): z.ZodType {
  let bySkip = looseSchemas.get(schema);
  if (bySkip === undefined) looseSchemas.set(schema, (bySkip = new Map()));
  const key = skip.join(',');
  let loose = bySkip.get(key);
  if (loose === undefined) {
    const shape = Object.fromEntries(Object.entries(schema.shape as Record<string, z.ZodType>).filter(([field]) => !skip.includes(field)));
    loose = z.object(shape);
    bySkip.set(key, loose);
  }
  return loose;
}

/**
 * The fields of `raw` that pass their own schema (skipping nested lists named in `skip`). The
 * usual case, every field well formed, is one parse of the element; only an element with a bad
 * field is parsed field by field.
 */
/**
 * Parses of deep-frozen elements, per loose schema: a frozen element cannot change, so its parse is
 * reused. The controller freezes the resources it holds (policy-index.ts), so validating one REST
 * change against 100,000 stored resources does not parse the 99,999 unchanged ones again.
 */
const frozenParses = new WeakMap<z.ZodType, WeakMap<object, unknown>>();

export function wellFormed<S extends z.ZodObject>(schema: S, raw: Record<string, unknown>, skip: string[] = []) {
  const loose = looseOf(schema, skip);
  const frozen = Object.isFrozen(raw);
  let cache: WeakMap<object, unknown> | undefined;
  if (frozen) {
    cache = frozenParses.get(loose);
    if (cache === undefined) frozenParses.set(loose, (cache = new WeakMap()));
    const known = cache.get(raw);
    if (known !== undefined) return known as Partial<z.output<S>>;
  }
  const whole = loose.safeParse(raw);
  if (whole.success) {
    cache?.set(raw, whole.data);
    return whole.data as Partial<z.output<S>>;
  }
  const out: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(schema.shape as Record<string, z.ZodType>)) {
    if (skip.includes(key)) continue;
    const result = field.safeParse(raw[key]);
    if (result.success) out[key] = result.data;
  }
  return out as Partial<z.output<S>>;
}

function items<S extends z.ZodObject>(schema: S, raw: unknown, path: PathSegment[], skip: string[] = []) {
  if (!Array.isArray(raw)) return [];
  const out: Item<z.output<S>>[] = [];
  raw.forEach((element, index) => {
    if (isRecord(element)) out.push({ path: [...path, index], value: wellFormed(schema, element, skip), raw: element });
  });
  return out;
}

/** Remembers the first item seen per key and reports later ones. */
class FirstSeen<K> {
  private readonly seen = new Map<K, PathSegment[]>();
  /** The path of the earlier item with this key, or undefined (and remember this one). */
  check(key: K, path: PathSegment[]): PathSegment[] | undefined {
    const earlier = this.seen.get(key);
    if (earlier === undefined) this.seen.set(key, path);
    return earlier;
  }
}

const also = (path: PathSegment[]): string => `(also ${formatPath(path)})`;

/** One number per prefix (network and length), for maps. */
const prefixKey = (network: number, prefixLength: number): number => network * 64 + prefixLength;

/** The key of the prefix of `length` bits that contains `cidr` (length <= its own). */
const enclosingKey = (cidr: Cidr, length: number): number => prefixKey((cidr.network & maskOf(length)) >>> 0, length);

/** A set of prefixes, asked "does one of you contain this prefix?" in at most 33 map lookups. */
class PrefixSet {
  private readonly keys = new Set<number>();
  constructor(prefixes: Cidr[]) {
    for (const prefix of prefixes) this.keys.add(prefixKey(prefix.network, prefix.prefixLength));
  }
  containsPrefix(cidr: Cidr): boolean {
    for (let length = 0; length <= cidr.prefixLength; length++) if (this.keys.has(enclosingKey(cidr, length))) return true;
    return false;
  }
}

/**
 * Pairwise-disjoint prefixes placed one at a time, asked which placed prefix overlaps a new one.
 * Two prefixes overlap only when one contains the other, so the answer is a placed prefix that
 * contains the new one (one of its 33 enclosing prefixes), or the first placed prefix inside it
 * (kept per enclosing prefix when placed): at most 33 map operations each instead of a scan of all.
 */
class DisjointPrefixes<T> {
  private readonly placed = new Map<number, T>();
  private readonly firstInside = new Map<number, T>();
  /** The earliest placed prefix that overlaps `cidr`, or undefined. */
  overlapping(cidr: Cidr): T | undefined {
    for (let length = 0; length <= cidr.prefixLength; length++) {
      const outer = this.placed.get(enclosingKey(cidr, length));
      if (outer !== undefined) return outer;
    }
    return this.firstInside.get(prefixKey(cidr.network, cidr.prefixLength));
  }
  /** Place `cidr` (the caller has checked it overlaps nothing placed). */
  place(cidr: Cidr, value: T): void {
    this.placed.set(prefixKey(cidr.network, cidr.prefixLength), value);
    // Longest first: once an enclosing prefix has a first-inside, every shorter one has too.
    for (let length = cidr.prefixLength; length >= 0; length--) {
      const key = enclosingKey(cidr, length);
      if (this.firstInside.has(key)) break;
      this.firstInside.set(key, value);
    }
  }
}

interface SubnetInfo {
  name: string;
  cidr: Cidr | undefined;
  prefix: string | undefined;
}

/** Every cross-field and cross-object problem of a raw policy document. */
export function semanticErrors(input: unknown): SemanticError[] {
  const errors: SemanticError[] = [];
  const report = (path: PathSegment[], message: string): void => {
    errors.push({ path, message });
  };
  const doc = isRecord(input) ? input : {};

  // Access control lists first: others refer to them.
  const aclNames = new Set<string>();
  const aclSeen = new FirstSeen<string>();
  for (const acl of items(AccessControlListSchema, doc.accessControlLists, ['accessControlLists'], ['aclRules'])) {
    const aclName = acl.value.name;
    if (aclName !== undefined) {
      aclNames.add(aclName);
      const earlier = aclSeen.check(aclName, acl.path);
      if (earlier) report([...acl.path, 'name'], `duplicate access control list name ${aclName} ${also(earlier)}`);
    }
    const ruleSeen = new FirstSeen<string>();
    const prioritySeen = new FirstSeen<string>();
    for (const rule of items(AclRuleSchema, acl.raw.aclRules, [...acl.path, 'aclRules'])) {
      const { name, type, priority } = rule.value;
      if (name !== undefined) {
        const earlier = ruleSeen.check(name, rule.path);
        if (earlier) report([...rule.path, 'name'], `duplicate rule name ${name} ${also(earlier)}`);
      }
      if (type !== undefined && priority !== undefined) {
        const earlier = prioritySeen.check(`${type} ${priority}`, rule.path);
        if (earlier) report([...rule.path, 'priority'], `duplicate ${type} priority ${priority} ${also(earlier)}`);
      }
    }
  }
  const checkAclRef = (path: PathSegment[], name: string | undefined): void => {
    if (name !== undefined && !aclNames.has(name)) report(path, `unknown access control list ${name}`);
  };

  // Hosts.
  const hostNames = new Set<string>();
  const hostSeen = new FirstSeen<string>();
  const paSeen = new Map<string, { host: string | undefined; path: PathSegment[] }>();
  for (const host of items(HostSchema, doc.hosts, ['hosts'])) {
    const hostName = host.value.name;
    if (hostName !== undefined) {
      hostNames.add(hostName);
      const earlier = hostSeen.check(hostName, host.path);
      if (earlier) report([...host.path, 'name'], `duplicate host name ${hostName} ${also(earlier)}`);
    }
    (host.value.providerAddresses ?? []).forEach((pa, index) => {
      const path = [...host.path, 'providerAddresses', index];
      const earlier = paSeen.get(pa);
      if (earlier === undefined) {
        paSeen.set(pa, { host: hostName, path: host.path });
      } else if (earlier.path === host.path) {
        report(path, `duplicate provider address ${pa}`);
      } else {
        report(path, `provider address ${pa} already used by host ${earlier.host ?? formatPath(earlier.path)}`);
      }
    });
  }

  // Virtual networks and their subnets.
  const vnets = new Map<string, { prefixes: Cidr[] | undefined; subnets: Map<string, SubnetInfo> }>();
  const vnetSeen = new FirstSeen<string>();
  const vsidSeen = new FirstSeen<number>();
  for (const vnet of items(VirtualNetworkSchema, doc.virtualNetworks, ['virtualNetworks'], ['subnets'])) {
    const vnetName = vnet.value.name;
    const prefixes = vnet.value.addressPrefixes?.filter((prefix) => !prefix.includes(':')).map((prefix) => parseCidr(prefix) as Cidr);
    const prefixSet = prefixes === undefined ? undefined : new PrefixSet(prefixes);
    const subnets = new Map<string, SubnetInfo>();
    if (vnetName !== undefined) {
      const earlier = vnetSeen.check(vnetName, vnet.path);
      if (earlier) report([...vnet.path, 'name'], `duplicate virtual network name ${vnetName} ${also(earlier)}`);
      else vnets.set(vnetName, { prefixes, subnets });
    }
    const subnetSeen = new FirstSeen<string>();
    const placed = new DisjointPrefixes<{ name: string | undefined; prefix: string }>();
    for (const subnet of items(SubnetSchema, vnet.raw.subnets, [...vnet.path, 'subnets'])) {
      const { name, vsid, addressPrefix, accessControlList } = subnet.value;
      const cidr = addressPrefix === undefined ? undefined : (parseCidr(addressPrefix) as Cidr);
      if (name !== undefined) {
        const earlier = subnetSeen.check(name, subnet.path);
        if (earlier) report([...subnet.path, 'name'], `duplicate subnet name ${name} ${also(earlier)}`);
        else subnets.set(name, { name, cidr, prefix: addressPrefix });
      }
      if (vsid !== undefined) {
        const earlier = vsidSeen.check(vsid, subnet.path);
        if (earlier) report([...subnet.path, 'vsid'], `duplicate vsid ${vsid} ${also(earlier)}`);
      }
      if (cidr !== undefined && addressPrefix !== undefined) {
        const path = [...subnet.path, 'addressPrefix'];
        if (prefixSet !== undefined && !prefixSet.containsPrefix(cidr)) {
          report(path, `subnet ${addressPrefix} outside the address prefixes of virtual network ${vnetName ?? formatPath(vnet.path)}`);
        }
        const clash = placed.overlapping(cidr);
        if (clash) report(path, `subnet ${addressPrefix} overlaps subnet ${clash.name ?? '?'} (${clash.prefix})`);
        else placed.place(cidr, { name, prefix: addressPrefix });
      }
      checkAclRef([...subnet.path, 'accessControlList'], accessControlList);
    }
  }

  // Virtual switches and NATs (switch-semantic.ts); interfaces refer to the switches.
  const switchNames = switchErrors(doc, report);
  // HNV gateways (gateway-semantic.ts): their hosts and the prefixes each host routes.
  gatewayErrors(doc, hostNames, report);

  // Network interfaces.
  const nicSeen = new FirstSeen<string>();
  const macInSubnet = new FirstSeen<string>();
  const macOnHost = new FirstSeen<string>();
  const ipInVnet = new FirstSeen<string>();
  const ifnameOnHost = new FirstSeen<string>();
  const socketOnHost = new FirstSeen<string>();
  for (const nic of items(NetworkInterfaceSchema, doc.networkInterfaces, ['networkInterfaces'])) {
    const { name, host, virtualNetwork, subnet, macAddress, ipAddress, ifname, accessControlList, vhostUser } = nic.value;
    const sw = nic.value.switch;
    const at = (field: string): PathSegment[] => [...nic.path, field];
    if (name !== undefined) {
      const earlier = nicSeen.check(name, nic.path);
      if (earlier) report(at('name'), `duplicate interface name ${name} ${also(earlier)}`);
    }
    if (host !== undefined && !hostNames.has(host)) report(at('host'), `unknown host ${host}`);
    const vnet = virtualNetwork === undefined ? undefined : vnets.get(virtualNetwork);
    if (virtualNetwork !== undefined && vnet === undefined) report(at('virtualNetwork'), `unknown virtual network ${virtualNetwork}`);
    const sub = vnet === undefined || subnet === undefined ? undefined : vnet.subnets.get(subnet);
    if (vnet !== undefined && subnet !== undefined && sub === undefined) {
      report(at('subnet'), `unknown subnet ${subnet} in virtual network ${virtualNetwork}`);
    }
    checkAclRef(at('accessControlList'), accessControlList);
    if (sw !== undefined && !switchNames.has(sw)) report(at('switch'), `unknown switch ${sw}`);

    if (macAddress !== undefined) {
      const inSubnet = sub !== undefined ? macInSubnet.check(`${virtualNetwork} ${subnet} ${macAddress}`, nic.path) : sw !== undefined ? macInSubnet.check(`switch ${sw} ${macAddress}`, nic.path) : undefined;
      const onHost = host === undefined ? undefined : macOnHost.check(`${host} ${macAddress}`, nic.path);
      if (inSubnet) report(at('macAddress'), `duplicate MAC ${macAddress} in ${sw !== undefined ? `switch ${sw}` : `subnet ${subnet}`} ${also(inSubnet)}`);
      else if (onHost) report(at('macAddress'), `duplicate MAC ${macAddress} on host ${host} ${also(onHost)}`);
    }
    if (ipAddress !== undefined) {
      const earlier = vnet === undefined ? undefined : ipInVnet.check(`${virtualNetwork} ${ipAddress}`, nic.path);
      if (earlier) report(at('ipAddress'), `duplicate address ${ipAddress} in virtual network ${virtualNetwork} ${also(earlier)}`);
      const problem = sub?.cidr === undefined ? undefined : addressProblem(ipAddress, sub);
      if (problem !== undefined) report(at('ipAddress'), problem);
    }
    const ifnameMalformed = ifname === undefined && nic.raw.ifname !== undefined;
    if (host !== undefined && name !== undefined && !ifnameMalformed) {
      const derived = deriveIfname({ name, ifname });
      const earlier = ifnameOnHost.check(`${host} ${derived}`, nic.path);
      if (earlier) report(at(ifname === undefined ? 'name' : 'ifname'), `duplicate ifname ${derived} on host ${host} ${also(earlier)}`);
    }
    if (host !== undefined && vhostUser?.socket !== undefined) {
      // two ports on one socket would both take the one VM that connects
      const earlier = socketOnHost.check(`${host} ${vhostUser.socket}`, nic.path);
      if (earlier) report([...at('vhostUser'), 'socket'], `duplicate vhost-user socket ${vhostUser.socket} on host ${host} ${also(earlier)}`);
    }
  }
  ipv6Errors(doc, report);
  return errors;
}

/** Why an interface address is not a usable address of its subnet, or undefined. */
function addressProblem(ipAddress: string, subnet: SubnetInfo): string | undefined {
  const cidr = subnet.cidr as Cidr;
  const address = parseIpv4(ipAddress) as number;
  if (!cidrContainsAddress(cidr, address)) return `address ${ipAddress} outside subnet ${subnet.name} (${subnet.prefix})`;
  if (address === cidr.network) return `address ${ipAddress} is the network address of subnet ${subnet.name}`;
  if (address === lastAddress(cidr)) return `address ${ipAddress} is the broadcast address of subnet ${subnet.name}`;
  if (address === cidr.network + 1) {
    return `address ${ipAddress} is the gateway of subnet ${subnet.name} (owned by the distributed router)`;
  }
  return undefined;
}

