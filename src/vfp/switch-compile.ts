/**
 * Compiles the policy's virtual switches (issue 14) for one host: the ports of this host on each
 * switch, plus the switch's own ports here - the host vNIC of an Internal switch (a TAP in the
 * agent's namespace carrying `hostAddress`: Hyper-V's "vEthernet (name)") and the bound NIC of
 * an External switch (an AF_PACKET socket on `netAdapterName`). A switch exists on a host only
 * where the host has a port on it: a switch is local to each host (like Hyper-V's), and two hosts'
 * switches of one name are two switches.
 *
 * Every switch port runs the same two layers (layers/switch.ts): switch-guard, switch. A VM's port
 * with an `accessControlList` runs acl-out between them (before the switch decides, so flooded
 * frames meet it too) and acl-in on what is written to it (each flooded copy too): the same
 * stateful ACL layers as an HNV port's, connections tracked in the switch's zone. The host vNIC
 * and the bound NIC take no ACL.
 */
import type { Policy, SwitchType } from '../policy/types.js';
import { deriveIfname } from '../policy/names.js';
import { parseInterfaceAddress } from '../policy/addr.js';
import type { IdRegistry } from './ids.js';
import type { AclTable } from './acl.js';
import { LayerKind, layer, type Layer } from './layer.js';

/** PortInfo.switchRole: a VM's port, the host vNIC of an Internal switch, the bound NIC of an External one. */
export const SW_PORT = 0;
export const SW_HOST = 1;
export const SW_NIC = 2;

export interface SwitchInfo {
  readonly index: number;
  /** Stable id (the MAC table's key): survives reloads that reorder switches. */
  readonly id: number;
  readonly name: string;
  readonly switchType: SwitchType;
  /** The port ids of this switch on this host (VM ports, host vNIC, bound NIC). */
  readonly ports: readonly number[];
  /** MACs of the VM ports and the host vNIC (never a source from the wire). */
  readonly portMacs: ReadonlySet<number>;
  /** Internal: the host vNIC's address/prefix and its port name. */
  readonly hostAddress?: string;
  readonly hostPort?: string;
  /** External: the NIC and its port name. */
  readonly netAdapterName?: string;
  readonly nicPort?: string;
}

/** The name of the host vNIC port of switch `sw` (Hyper-V: "vEthernet (sw)"). */
export const hostPortName = (sw: string): string => `vEthernet(${sw})`;
/** The name of the bound-NIC port of switch `sw`. */
export const nicPortName = (sw: string): string => `uplink(${sw})`;

/** A locally administered MAC for the host vNIC of switch `name` (stable across restarts). */
export function hostVnicMac(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return 0x027377000000 + (h & 0xffffff);
}

const macText = (mac: number): string => mac.toString(16).padStart(12, '0').replace(/(..)(?!$)/g, '$1:');

/** The ACL tables and layers of a switch port with an accessControlList (snapshot.ts makes them). */
export interface SwitchPortAcl {
  aclOut: AclTable | null;
  aclIn: AclTable | null;
  out: Layer;
  in: Layer;
}

function switchLayers(name: string, role: number, macTextOf: string, acl: SwitchPortAcl | null): Layer[] {
  const ls = [
    layer('switch-guard', LayerKind.SwitchGuard, role === SW_NIC
      ? ['drop VLAN-tagged frames', `source MAC: unicast, and no port of switch ${name} (a frame of ours looping back)`]
      : ['drop VLAN-tagged frames', `source MAC (and ARP sender MAC) must be ${macTextOf}`, 'IPv4, IPv6 and ARP with any address: the VM sets its own']),
    layer('switch', LayerKind.L2Switch, [
      'learn the source MAC on this port (ageing 300 s)',
      `broadcast, multicast, unknown unicast: flood to every other port of switch ${name} only (each copy meets its port's acl-in)`,
      'known unicast: the port it was learned on',
    ]),
  ];
  if (acl !== null) ls.splice(1, 0, acl.out);
  return ls;
}

/** What snapshot.ts makes a PortInfo of (with neutral HNV fields: no CA, no VSID, no subnet). */
export interface SwitchPortSpec {
  index: number;
  name: string;
  ifname: string;
  netns: string | undefined;
  mac: number;
  macText: string;
  switchIndex: number;
  switchRole: number;
  /** The switch's stable id: the connection-tracking zone of its ports' ACLs. */
  zone: number;
  aclOut: AclTable | null;
  aclIn: AclTable | null;
  layersOut: Layer[];
  layersIn: Layer[];
}

/** The switches of `hostName` and their ports (made by `mk`: snapshot.ts's PortInfo). */
export function compileSwitches<P extends { index: number; mac: number; switchRole: number }>(
  policy: Policy, hostName: string, ids: IdRegistry, macToNumber: (t: string) => number, mk: (spec: SwitchPortSpec) => P,
  aclOf: (acl: string | undefined) => SwitchPortAcl | null = () => null,
): { switches: SwitchInfo[]; ports: P[] } {
  const switches: SwitchInfo[] = [];
  const ports: P[] = [];
  for (const sw of policy.switches ?? []) {
    const nics = policy.networkInterfaces.filter((n) => n.switch === sw.name && n.host === hostName);
    if (nics.length === 0) continue;
    const index = switches.length;
    const zone = ids.network(`switch\u0000${sw.name}`);
    const mine: P[] = [];
    const port = (name: string, ifname: string, mac: number, role: number, netns: string | undefined, acl: SwitchPortAcl | null = null): P => {
      const mt = role === SW_NIC ? '(any)' : macText(mac);
      return mk({
        index: ids.port(name), name, ifname, netns, mac, macText: mt, switchIndex: index, switchRole: role, zone,
        aclOut: acl?.aclOut ?? null, aclIn: acl?.aclIn ?? null, layersOut: switchLayers(sw.name, role, mt, acl), layersIn: acl !== null ? [acl.in] : [],
      });
    };
    for (const n of nics) mine.push(port(n.name, deriveIfname(n), macToNumber(n.macAddress), SW_PORT, n.netns, aclOf(n.accessControlList)));
    let hostPort: string | undefined;
    let nicPort: string | undefined;
    if (sw.switchType === 'Internal' && sw.hostAddress !== undefined && typeof parseInterfaceAddress(sw.hostAddress) !== 'string') {
      hostPort = hostPortName(sw.name);
      mine.push(port(hostPort, deriveIfname({ name: `vs-${sw.name}` }), hostVnicMac(`${hostName}/${sw.name}`), SW_HOST, undefined));
    }
    if (sw.switchType === 'External' && sw.netAdapterName !== undefined) {
      nicPort = nicPortName(sw.name);
      mine.push(port(nicPort, sw.netAdapterName, 0, SW_NIC, undefined));
    }
    switches.push(Object.freeze({
      index, id: zone, name: sw.name, switchType: sw.switchType,
      ports: mine.map((p) => p.index),
      portMacs: new Set(mine.filter((p) => p.switchRole !== SW_NIC).map((p) => p.mac)),
      ...(sw.hostAddress !== undefined ? { hostAddress: sw.hostAddress } : {}),
      ...(hostPort !== undefined ? { hostPort } : {}),
      ...(sw.netAdapterName !== undefined ? { netAdapterName: sw.netAdapterName } : {}),
      ...(nicPort !== undefined ? { nicPort } : {}),
    }));
    ports.push(...mine);
  }
  return { switches, ports };
}
