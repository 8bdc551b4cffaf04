/**
 * What the VTEP's hardware_vtep database should hold for a policy, and what the policy should hold
 * for the VTEP, as pure functions over a mirror of the database (so they are tested without a
 * server).
 *
 * Southbound (policy -> VTEP), rows this process owns:
 * - one Logical_Switch per VXLAN VSID, named `switchyard-<VSID>`, tunnel_key = VSID (NVGRE
 *   subnets have no hardware_vtep form and are skipped);
 * - one Ucast_Macs_Remote per switchyard NIC (MAC, CA IP) in such a subnet, at a Physical_Locator
 *   `vxlan_over_ipv4` whose dst_ip is the first provider address of the NIC's host;
 * - one Mcast_Macs_Remote `unknown-dst` per switch, a locator set of those hosts, so the VTEP has
 *   somewhere to send broadcast (ARP) and unknown unicast.
 * Switches of another name and rows in them are the operator's and never touched.
 *
 * Northbound (VTEP -> policy): each Ucast_Macs_Local row with an IP address in one of our
 * switches is a NetworkInterface on the VTEP's host (`vtep-<host>-<mac>`), written to the
 * controller through the REST API like any other endpoint; agents then encapsulate to the VTEP's
 * tunnel IP (the host's provider address) like to any other host. A row without an IP cannot be
 * an endpoint (switchyard routes by CA IP): it is counted, not guessed.
 */
import type { Host, NetworkInterface, Policy, VirtualNetwork } from '../policy/types.js';
import { setAtoms, uuidOf } from './ovsdb-client.js';
import type { OvsdbOperation, OvsdbRow, OvsdbValue, TableUpdates } from './ovsdb-client.js';

export const VTEP_DB = 'hardware_vtep';
export const SWITCH_PREFIX = 'switchyard-';
export const VXLAN = 'vxlan_over_ipv4';

/** The tables the sync watches. */
export const VTEP_TABLES = ['Physical_Switch', 'Logical_Switch', 'Ucast_Macs_Remote', 'Ucast_Macs_Local', 'Mcast_Macs_Remote', 'Physical_Locator', 'Physical_Locator_Set', 'Physical_Port'] as const;

/** A mirror of the monitored tables: table -> uuid -> row. */
export type VtepMirror = Map<string, Map<string, OvsdbRow>>;

export function emptyMirror(): VtepMirror {
  return new Map(VTEP_TABLES.map((table) => [table, new Map<string, OvsdbRow>()]));
}

export function applyUpdates(mirror: VtepMirror, updates: TableUpdates): void {
  for (const [table, rows] of Object.entries(updates)) {
    let target = mirror.get(table);
    if (target === undefined) mirror.set(table, (target = new Map()));
    for (const [uuid, change] of Object.entries(rows)) {
      if (change.new === undefined) target.delete(uuid);
      else target.set(uuid, change.new);
    }
  }
}

const rows = (mirror: VtepMirror, table: string): Map<string, OvsdbRow> => mirror.get(table) ?? new Map<string, OvsdbRow>();
const str = (value: OvsdbValue | undefined): string => (typeof value === 'string' ? value : '');
const ref = (uuid: string): ['uuid', string] => ['uuid', uuid];
const byUuid = (uuid: string): [string, string, OvsdbValue][] => [['_uuid', '==', ref(uuid)]];

export interface SwitchTarget {
  vsid: number;
  virtualNetwork: string;
  subnet: string;
}

/** VXLAN subnets of the policy by VSID (the first subnet named wins if a VSID repeats). */
export function switchTargets(policy: Policy): Map<number, SwitchTarget> {
  const out = new Map<number, SwitchTarget>();
  for (const vnet of policy.virtualNetworks) {
    for (const subnet of vnet.subnets) {
      if ((subnet.encapsulation ?? 'vxlan') !== 'vxlan' || out.has(subnet.vsid)) continue;
      out.set(subnet.vsid, { vsid: subnet.vsid, virtualNetwork: vnet.name, subnet: subnet.name });
    }
  }
  return out;
}

interface RemoteMac {
  vsid: number;
  mac: string;
  ip: string;
  pa: string;
}

function vsidOf(vnets: Map<string, VirtualNetwork>, nic: NetworkInterface): number | undefined {
  if (nic.virtualNetwork === undefined) return undefined; // a Hyper-V style switch port: no VSID
  return vnets.get(nic.virtualNetwork)?.subnets.find((subnet) => subnet.name === nic.subnet)?.vsid;
}

/** Every switchyard NIC (not the VTEP's own) in a VXLAN subnet, at its host's first provider address. */
export function remoteMacs(policy: Policy, vtepHost: string): RemoteMac[] {
  const hosts = new Map<string, Host>(policy.hosts.map((host) => [host.name, host]));
  const vnets = new Map<string, VirtualNetwork>(policy.virtualNetworks.map((vnet) => [vnet.name, vnet]));
  const targets = switchTargets(policy);
  const out: RemoteMac[] = [];
  for (const nic of policy.networkInterfaces) {
    if (nic.host === vtepHost) continue;
    const vsid = vsidOf(vnets, nic);
    const pa = hosts.get(nic.host)?.providerAddresses[0];
    if (vsid === undefined || pa === undefined || nic.ipAddress === undefined || targets.get(vsid)?.subnet !== nic.subnet || targets.get(vsid)?.virtualNetwork !== nic.virtualNetwork) continue;
    out.push({ vsid, mac: nic.macAddress.toLowerCase(), ip: nic.ipAddress, pa });
  }
  return out;
}

/** The transaction that brings the database to the policy (empty when it is there already). */
export function planVtep(mirror: VtepMirror, policy: Policy, vtepHost: string): OvsdbOperation[] {
  const ops: OvsdbOperation[] = [];
  const targets = switchTargets(policy);
  // switches: ours by name
  const switchRef = new Map<number, ['uuid', string] | ['named-uuid', string]>();
  const ourSwitches = new Map<string, number>(); // uuid -> vsid
  for (const [uuid, row] of rows(mirror, 'Logical_Switch')) {
    const name = str(row.name);
    if (!name.startsWith(SWITCH_PREFIX)) continue;
    const vsid = Number(name.slice(SWITCH_PREFIX.length));
    ourSwitches.set(uuid, vsid);
    if (!targets.has(vsid) || switchRef.has(vsid)) continue;
    switchRef.set(vsid, ref(uuid));
    if (setAtoms(row.tunnel_key)[0] !== vsid) ops.push({ op: 'update', table: 'Logical_Switch', where: byUuid(uuid), row: { tunnel_key: vsid } });
  }
  for (const vsid of targets.keys()) {
    if (switchRef.has(vsid)) continue;
    const uuidName = `ls${vsid}`;
    ops.push({ op: 'insert', table: 'Logical_Switch', 'uuid-name': uuidName, row: { name: `${SWITCH_PREFIX}${vsid}`, tunnel_key: vsid, description: 'switchyard VSID' } });
    switchRef.set(vsid, ['named-uuid', uuidName]);
  }
  // locators, by address; new ones inserted once, in this transaction
  const locatorRef = new Map<string, OvsdbValue>();
  const locatorIp = new Map<string, string>();
  for (const [uuid, row] of rows(mirror, 'Physical_Locator')) {
    if (str(row.encapsulation_type) !== VXLAN) continue;
    locatorRef.set(str(row.dst_ip), ref(uuid));
    locatorIp.set(uuid, str(row.dst_ip));
  }
  const locator = (pa: string): OvsdbValue => {
    let known = locatorRef.get(pa);
    if (known === undefined) {
      const uuidName = `loc${locatorRef.size}`;
      ops.push({ op: 'insert', table: 'Physical_Locator', 'uuid-name': uuidName, row: { encapsulation_type: VXLAN, dst_ip: pa } });
      known = ['named-uuid', uuidName];
      locatorRef.set(pa, known);
    }
    return known;
  };
  // unicast MACs
  const wanted = new Map<string, RemoteMac>();
  for (const mac of remoteMacs(policy, vtepHost)) wanted.set(`${mac.vsid}/${mac.mac}`, mac);
  for (const [uuid, row] of rows(mirror, 'Ucast_Macs_Remote')) {
    const vsid = ourSwitches.get(uuidOf(row.logical_switch) ?? '');
    if (vsid === undefined) continue;
    const key = `${vsid}/${str(row.MAC).toLowerCase()}`;
    const want = wanted.get(key);
    if (want === undefined || !targets.has(vsid)) {
      ops.push({ op: 'delete', table: 'Ucast_Macs_Remote', where: byUuid(uuid) });
      continue;
    }
    wanted.delete(key);
    if (locatorIp.get(uuidOf(row.locator) ?? '') !== want.pa || str(row.ipaddr) !== want.ip) {
      ops.push({ op: 'update', table: 'Ucast_Macs_Remote', where: byUuid(uuid), row: { locator: locator(want.pa), ipaddr: want.ip } });
    }
  }
  for (const want of wanted.values()) {
    ops.push({
      op: 'insert',
      table: 'Ucast_Macs_Remote',
      row: { MAC: want.mac, logical_switch: switchRef.get(want.vsid) as OvsdbValue, locator: locator(want.pa), ipaddr: want.ip },
    });
  }
  // unknown-dst flooding: the hosts of each switch's NICs
  const hostsOf = new Map<number, Set<string>>();
  for (const mac of remoteMacs(policy, vtepHost)) {
    let set = hostsOf.get(mac.vsid);
    if (set === undefined) hostsOf.set(mac.vsid, (set = new Set()));
    set.add(mac.pa);
  }
  const setIps = (setUuid: string | undefined): string[] =>
    setAtoms(rows(mirror, 'Physical_Locator_Set').get(setUuid ?? '')?.locators)
      .map((atom) => locatorIp.get(Array.isArray(atom) ? atom[1] : '') ?? '')
      .sort();
  const floods = new Set<number>();
  for (const [uuid, row] of rows(mirror, 'Mcast_Macs_Remote')) {
    const vsid = ourSwitches.get(uuidOf(row.logical_switch) ?? '');
    if (vsid === undefined || str(row.MAC) !== 'unknown-dst') continue;
    const want = [...(hostsOf.get(vsid) ?? [])].sort();
    if (!targets.has(vsid) || want.length === 0 || floods.has(vsid)) {
      ops.push({ op: 'delete', table: 'Mcast_Macs_Remote', where: byUuid(uuid) });
      continue;
    }
    floods.add(vsid);
    if (setIps(uuidOf(row.locator_set)).join(',') !== want.join(',')) {
      const name = `set${vsid}`;
      ops.push({ op: 'insert', table: 'Physical_Locator_Set', 'uuid-name': name, row: { locators: ['set', want.map((pa) => locator(pa)) as ['uuid', string][]] } });
      ops.push({ op: 'update', table: 'Mcast_Macs_Remote', where: byUuid(uuid), row: { locator_set: ['named-uuid', name] } });
    }
  }
  for (const [vsid, pas] of hostsOf) {
    if (floods.has(vsid) || !switchRef.has(vsid)) continue;
    const name = `set${vsid}`;
    ops.push({ op: 'insert', table: 'Physical_Locator_Set', 'uuid-name': name, row: { locators: ['set', [...pas].sort().map((pa) => locator(pa)) as ['uuid', string][]] } });
    ops.push({ op: 'insert', table: 'Mcast_Macs_Remote', row: { MAC: 'unknown-dst', logical_switch: switchRef.get(vsid) as OvsdbValue, locator_set: ['named-uuid', name] } });
  }
  // switches no longer in the policy: dropped once nothing of the VTEP's own refers to them
  const usedByVtep = new Set<string>();
  for (const row of rows(mirror, 'Ucast_Macs_Local').values()) usedByVtep.add(uuidOf(row.logical_switch) ?? '');
  for (const [uuid, vsid] of ourSwitches) {
    if (targets.has(vsid) && switchRef.get(vsid)?.[1] === uuid) continue;
    if (usedByVtep.has(uuid) || boundToPort(mirror, uuid)) continue;
    ops.push({ op: 'delete', table: 'Logical_Switch', where: byUuid(uuid) });
  }
  return ops;
}

/** Does a Physical_Port's vlan_bindings refer to the switch? (The operator bound it: keep it.) */
function boundToPort(mirror: VtepMirror, uuid: string): boolean {
  for (const row of rows(mirror, 'Physical_Port').values()) {
    const bindings = row.vlan_bindings;
    if (Array.isArray(bindings) && bindings[0] === 'map' && (bindings[1] as [unknown, OvsdbValue][]).some(([, value]) => uuidOf(value) === uuid)) return true;
  }
  return false;
}

export interface LocalEndpoints {
  /** NetworkInterfaces the policy should hold on the VTEP's host. */
  nics: NetworkInterface[];
  /** Ucast_Macs_Local rows in our switches without an IP address (cannot be endpoints). */
  withoutIp: number;
}

const IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

export const endpointName = (vtepHost: string, mac: string): string => `vtep-${vtepHost}-${mac.toLowerCase().replace(/:/g, '')}`;

export function localEndpoints(mirror: VtepMirror, policy: Policy, vtepHost: string): LocalEndpoints {
  const targets = switchTargets(policy);
  const switchVsid = new Map<string, number>();
  for (const [uuid, row] of rows(mirror, 'Logical_Switch')) {
    const name = str(row.name);
    if (name.startsWith(SWITCH_PREFIX)) switchVsid.set(uuid, Number(name.slice(SWITCH_PREFIX.length)));
  }
  const nics = new Map<string, NetworkInterface>();
  let withoutIp = 0;
  for (const row of rows(mirror, 'Ucast_Macs_Local').values()) {
    const target = targets.get(switchVsid.get(uuidOf(row.logical_switch) ?? '') ?? -1);
    if (target === undefined) continue;
    const ip = str(row.ipaddr);
    const mac = str(row.MAC).toLowerCase();
    if (!IPV4.test(ip)) {
      withoutIp++;
      continue;
    }
    const name = endpointName(vtepHost, mac);
    nics.set(name, { name, host: vtepHost, virtualNetwork: target.virtualNetwork, subnet: target.subnet, macAddress: mac, ipAddress: ip } as NetworkInterface);
  }
  return { nics: [...nics.values()].sort((a, b) => a.name.localeCompare(b.name)), withoutIp };
}

/** The VTEP's tunnel IP: the first Physical_Switch's first tunnel_ips entry. */
export function tunnelIp(mirror: VtepMirror): string | undefined {
  for (const row of rows(mirror, 'Physical_Switch').values()) {
    const ip = setAtoms(row.tunnel_ips)[0];
    if (typeof ip === 'string' && IPV4.test(ip)) return ip;
  }
  return undefined;
}
