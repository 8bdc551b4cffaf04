/**
 * compileSnapshot: a validated policy -> the immutable tables one host's dataplane runs on, tagged
 * with a generation number (STYLE.md 9). Built off the fast path; a worker swaps snapshots
 * between batches and re-validates flow-table entries of older generations.
 *
 * What it holds: this host's ports (`index` = the port's stable id from the IdRegistry, ids.ts: the
 * key of every per-port table in the dataplane; `ports` lists them densely, `portById` by id),
 * every endpoint (CA: MAC + IP) of every subnet with the host that owns it (the VNET layer's
 * CA -> PA mapping), the subnets with their VSID, gateway and local/remote membership (replication
 * lists), the distributed router (one MAC everywhere, the gateway = lowest usable address of each
 * subnet), the ACL tables per port and direction (acl.ts), and the provider addresses: this
 * host's own and the other hosts' (the only outer sources accepted from the wire), and the
 * layers (layer.ts) of every port per direction and of the uplink side.
 * The snapshot is plain data (plus typed-array maps that snapshot-transfer.ts revives), so the
 * agent compiles it once and hands the same tables to every worker.
 * Lookup maps are keyed by numbers (MACs are 48-bit numbers, IPs uint32); the per-frame ones
 * (outer source PA, VNI) are U32Maps.
 */
import type { AccessControlList, Encapsulation, Policy, VhostUserPort } from '../policy/types.js';
import { formatIpv4, maskOf, normaliseMac, parseCidr, parseIpv4 } from '../policy/addr.js';
import { deriveIfname } from '../policy/names.js';
import { compileAclTable, type AclTable } from './acl.js';
import { IdRegistry } from './ids.js';
import { LayerKind, aclRules, layer, type Layer } from './layer.js';
import { DEFAULT_UNDERLAY_MTU, tenantMtu } from './mtu.js';
import { U32Map } from './u32map.js';
import { V6Builder, type EndpointV6, type SnapshotV6, type SubnetV6 } from './ip6.js';
import { ndLayer, portSecurityRules6 } from './layers/nd-rules.js';
import { compileSwitches, type SwitchInfo } from './switch-compile.js';
import { gatewayMac, gatewayPortName } from './gateway-names.js';

export type { SwitchInfo } from './switch-compile.js';

/** The distributed router's MAC, the same on every host (locally administered). */
export const ROUTER_MAC = 0x027379000001;
export const ROUTER_MAC_TEXT = '02:73:79:00:00:01';

export interface PortInfo {
  /** The port's stable id (IdRegistry): io.ports, outputs, counters and flow keys use it. */
  readonly index: number;
  readonly name: string;
  readonly ifname: string;
  readonly netns?: string;
  /** A VM's vhost-user port (no TAP, no namespace). */
  readonly vhostUser?: VhostUserPort;
  readonly mac: number;
  readonly macText: string;
  readonly ip: number;
  readonly ipText: string;
  readonly prefixLen: number;
  readonly gateway: number;
  readonly gatewayText: string;
  readonly vsid: number;
  readonly encapsulation: Encapsulation;
  readonly virtualNetwork: string;
  readonly subnet: string;
  /** Index into Snapshot.subnets. */
  readonly subnetIndex: number;
  /** Index into Snapshot.virtualNetworks (the RDID) in this snapshot. */
  readonly rdid: number;
  /** The virtual network's stable id: the connection-tracking zone. */
  readonly zone: number;
  /** Index into Snapshot.endpoints. */
  readonly endpoint: number;
  /** Merged subnet + port ACL rules per direction; null = allow all. */
  readonly aclOut: AclTable | null;
  readonly aclIn: AclTable | null;
  /** ipAllocationMethod Dynamic: the dataplane answers the port's DHCP client (layers/dhcp.ts). */
  readonly dhcp: boolean;
  /** The largest IPv4 packet of the port that fits the underlay after encapsulation. */
  readonly mtu: number;
  /** The subnet's DNS servers (handed out by DHCP). */
  readonly dnsServers: readonly number[];
  /** Bandwidth cap per direction in Mbit/s (0: none): dataplane/qos.ts meters it per frame. */
  readonly qosMbps: number;
  /** portMirroring Source: the Destination ports (ids) of this host and subnet that get a copy of
   * every frame the port sends or receives (dataplane/mirror.ts); empty otherwise. */
  readonly mirrorTo: readonly number[];
  /** The port's IPv6 CA (dual stack), or null: IPv6 from it is dropped (ipv6-disabled). */
  readonly v6: EndpointV6 | null;
  /** A Hyper-V style switch port (switch-compile.ts): index into Snapshot.switches (-1: an HNV
   * port) and its role (SW_PORT, SW_HOST, SW_NIC). The HNV fields above are neutral then. */
  readonly switchIndex: number;
  readonly switchRole: number;
  /** The gateway port of virtual network `gatewayOf` (an RDID) on its HNV gateway host: a TAP in
   * the host's stack (layers/hnv-gateway.ts); -1 for every other port. */
  readonly gatewayOf: number;
  /** The layers a frame the port sends runs through, in order. */
  readonly layersOut: readonly Layer[];
  /** The layers a frame about to be written to the port runs through. */
  readonly layersIn: readonly Layer[];
}

export interface SubnetInfo {
  readonly index: number;
  readonly name: string;
  readonly virtualNetwork: string;
  readonly rdid: number;
  /** The virtual network's stable id (connection-tracking zone). */
  readonly zone: number;
  readonly vsid: number;
  readonly network: number;
  /** The subnet's directed broadcast address. */
  readonly broadcast: number;
  readonly prefixLen: number;
  readonly mask: number;
  readonly prefixText: string;
  readonly gateway: number;
  readonly gatewayText: string;
  readonly encapsulation: Encapsulation;
  /** NVGRE FlowID: 0..255, or -1 for a hash of the inner flow. */
  readonly nvgreFlowId: number;
  /** This host's ports in the subnet (port ids: Snapshot.portById). */
  readonly localPorts: readonly number[];
  /** Other hosts with at least one port in the subnet (indices into Snapshot.hosts). */
  readonly remoteHosts: readonly number[];
  /** The IPv6 prefix of a dual-stack subnet, or null. */
  readonly v6: SubnetV6 | null;
}

/** One CA: a network interface anywhere, with the host that owns it. */
export interface EndpointInfo {
  readonly index: number;
  readonly name: string;
  readonly mac: number;
  readonly macText: string;
  readonly ip: number;
  readonly ipText: string;
  readonly subnetIndex: number;
  readonly hostIndex: number;
  /** The port id (Snapshot.portById) when on this host, else -1. */
  readonly port: number;
  /** Its IPv6 CA, or null. */
  readonly v6: EndpointV6 | null;
}

export interface HostInfo {
  readonly index: number;
  readonly name: string;
  /** The PAs flows are spread over: every PA of the host except those known to be down. */
  readonly pas: readonly number[];
  readonly pasText: readonly string[];
  /** Every PA of the host in policy (all are accepted as outer sources). */
  readonly allPas: readonly number[];
  readonly allPasText: readonly string[];
}

/** A virtual network's HNV gateway (policy `gateway: {host, nat}`; layers/hnv-gateway.ts). */
export interface GatewayInfo {
  readonly rdid: number;
  readonly virtualNetwork: string;
  readonly hostIndex: number;
  readonly hostName: string;
  readonly nat: boolean;
  /** The gateway vNIC's MAC (the same on every host). */
  readonly mac: number;
  readonly macText: string;
  /** The gateway port's id when this host is the gateway, else -1. */
  readonly port: number;
  /** The subnets' IPv4 prefixes: the gateway host routes them to its gateway vNIC. */
  readonly prefixes: readonly string[];
}

/** What the agent knows beyond policy when it compiles. */
export interface CompileOptions {
  /** Provider addresses (local or remote) whose link is down or whose host stopped answering
   * liveness probes: flows avoid them while the host has another PA that is up. */
  downPas?: ReadonlySet<number>;
  /** Stable port and virtual-network ids (the agent keeps one for its lifetime); default: new. */
  ids?: IdRegistry;
  /** The smallest MTU of this host's underlay devices (default 1500): PortInfo.mtu follows it. */
  underlayMtu?: number;
}

export interface Snapshot {
  readonly generation: number;
  readonly hostName: string;
  readonly hostIndex: number;
  readonly routerMac: number;
  readonly routerMacText: string;
  /** This host's PAs that flows leave from (those up). */
  readonly localPas: readonly number[];
  /** Every PA of this host in policy (the uplinks receive on all of them). */
  readonly localPasText: readonly string[];
  readonly hosts: readonly HostInfo[];
  /** This host's ports, densely, in policy order. */
  readonly ports: readonly PortInfo[];
  /** This host's ports by id (sparse where ids of removed ports were). */
  readonly portById: readonly (PortInfo | undefined)[];
  /** The layers a frame from the wire runs through before its destination port's inbound ones. */
  readonly uplinkLayers: readonly Layer[];
  readonly subnets: readonly SubnetInfo[];
  readonly endpoints: readonly EndpointInfo[];
  /** RDID index -> virtual network name. */
  readonly virtualNetworks: readonly string[];
  /** Outer source PA -> host index, other hosts only. */
  readonly paHost: U32Map;
  /** VSID -> subnet index. */
  readonly vsidSubnet: U32Map;
  /** Per subnet: MAC -> endpoint index. */
  readonly endpointByMac: readonly ReadonlyMap<number, number>[];
  /** Per RDID: CA IP -> endpoint index. */
  readonly endpointByIp: readonly ReadonlyMap<number, number>[];
  /** Per RDID: its subnet indices. */
  readonly subnetsByRdid: readonly (readonly number[])[];
  /** Port name -> port id. */
  readonly portByName: ReadonlyMap<string, number>;
  /** Number of rules in all compiled ACL tables (shared tables counted once). */
  readonly aclRuleCount: number;
  /** The largest tenant IPv4 packet that fits the underlay, per encapsulation (the PMTU check). */
  readonly roomVxlan: number;
  readonly roomNvgre: number;
  /** IPv6 address ids and CA lookup (ip6.ts). */
  readonly v6: SnapshotV6;
  /** The Hyper-V style switches with ports on this host (switch-compile.ts). */
  readonly switches: readonly SwitchInfo[];
  /** Per RDID: its HNV gateway, or null (outside destinations are no-route). */
  readonly gateways: readonly (GatewayInfo | null)[];
}

export function macToNumber(text: string): number {
  const m = normaliseMac(text);
  if (m === undefined) throw new Error(`bad MAC ${text}`);
  return parseInt(m.replaceAll(':', ''), 16);
}

export function macToText(mac: number): string {
  return mac.toString(16).padStart(12, '0').replace(/(..)(?!$)/g, '$1:');
}

function ipOf(text: string): number {
  const v = parseIpv4(text);
  if (v === undefined) throw new Error(`bad IPv4 address ${text}`);
  return v;
}

/** The QoS layer of a port: in words for `ctl layers`; the meter itself runs per frame
 * (dataplane/qos.ts), never cached with a flow. */
/** The mirror layer of a Source port (shown by `ctl layers`; the copies are made per frame by
 * dataplane/mirror.ts, sent and received alike). */
function mirrorLayer(): Layer {
  return layer('mirror', LayerKind.Qos, ['portMirroring Source: a copy of every frame the port sends or receives to each Destination port of this host and subnet']);
}

/** The router's rule for IPv4 destinations outside every subnet of the virtual network. */
function gatewayRule(gw: { host: string; nat: boolean } | undefined): string {
  return gw === undefined
    ? 'IPv4 outside every subnet: drop (no route: the virtual network has no gateway)'
    : `IPv4 outside every subnet: to the gateway on host ${gw.host}${gw.nat ? ' (NAT with its address)' : ' (routed)'}, encapsulated with the sender's VSID`;
}

function qosLayer(mbps: number, dir: 'in' | 'out'): Layer {
  return layer(dir === 'out' ? 'qos-out' : 'qos-in', LayerKind.Qos, [
    `token bucket ${mbps} Mbit/s for frames ${dir === 'out' ? 'the port sends' : 'written to the port'} (every frame, fast path too; TSO/GRO frames by their bytes): over it, drop (qos)`,
  ]);
}

export function compileSnapshot(policy: Policy, hostName: string, generation: number, options: CompileOptions = {}): Snapshot {
  const hostIndex = policy.hosts.findIndex((h) => h.name === hostName);
  if (hostIndex < 0) throw new Error(`host "${hostName}" is not in the policy`);
  const down = options.downPas;
  const ids = options.ids ?? new IdRegistry();
  const hosts: HostInfo[] = policy.hosts.map((h, index) => {
    const allPas = h.providerAddresses.map(ipOf);
    // never all of a host's PAs down: with none left, keep trying them all
    let up = down ? allPas.filter((pa) => !down.has(pa)) : allPas;
    if (up.length === 0) up = allPas;
    return {
      index,
      name: h.name,
      pas: up,
      pasText: up.map(formatIpv4),
      allPas,
      allPasText: h.providerAddresses.slice(),
    };
  });
  const hostByName = new Map(hosts.map((h) => [h.name, h.index]));
  const remotePaCount = hosts.reduce((n, h) => n + h.allPas.length, 0);
  const paHost = new U32Map(remotePaCount + 1);
  const localPaSet = new Set(hosts[hostIndex].allPas);
  for (const h of hosts) {
    if (h.index === hostIndex) continue;
    for (const pa of h.allPas) if (!localPaSet.has(pa)) paHost.set(pa, h.index);
  }

  const acls = new Map<string, AccessControlList>((policy.accessControlLists ?? []).map((a) => [a.name, a]));
  const virtualNetworks: string[] = [];
  const subnetsByRdid: number[][] = [];
  const subnets: (SubnetInfo & { localPorts: number[]; remoteHosts: number[] })[] = [];
  const subnetAcl: (string | undefined)[] = [];
  const subnetDns: number[][] = [];
  const subnetKey = new Map<string, number>();
  const vsidSubnet = new U32Map(policy.virtualNetworks.reduce((n, v) => n + v.subnets.length, 0) + 1);
  const v6 = new V6Builder(ids, ROUTER_MAC, policy.virtualNetworks.length);
  for (const vn of policy.virtualNetworks) {
    const rdid = virtualNetworks.length;
    const zone = ids.network(vn.name);
    virtualNetworks.push(vn.name);
    subnetsByRdid.push([]);
    for (const s of vn.subnets) {
      const c = parseCidr(s.addressPrefix);
      if (typeof c === 'string') throw new Error(c);
      const index = subnets.length;
      const gateway = (c.network + 1) >>> 0;
      subnets.push({
        index,
        name: s.name,
        virtualNetwork: vn.name,
        rdid,
        zone,
        vsid: s.vsid,
        network: c.network,
        broadcast: (c.network | ~maskOf(c.prefixLength)) >>> 0,
        prefixLen: c.prefixLength,
        mask: maskOf(c.prefixLength),
        prefixText: s.addressPrefix,
        gateway,
        gatewayText: formatIpv4(gateway),
        encapsulation: s.encapsulation ?? 'vxlan',
        nvgreFlowId: s.nvgreFlowId === 'hash' ? -1 : (s.nvgreFlowId ?? 0),
        localPorts: [],
        remoteHosts: [],
        v6: v6.subnet(s.ipv6AddressPrefix),
      });
      subnetAcl.push(s.accessControlList);
      subnetDns.push((s.dnsServers ?? []).map(ipOf));
      subnetKey.set(`${vn.name}\u0000${s.name}`, index);
      subnetsByRdid[rdid].push(index);
      vsidSubnet.set(s.vsid, index);
    }
  }

  const endpoints: EndpointInfo[] = [];
  const endpointByMac = subnets.map(() => new Map<number, number>());
  const endpointByIp = virtualNetworks.map(() => new Map<number, number>());
  const ports: PortInfo[] = [];
  const portById: PortInfo[] = [];
  const portByName = new Map<string, number>();
  const aclCache = new Map<string, AclTable | null>();
  let aclRuleCount = 0;
  const aclFor = (sAcl: string | undefined, pAcl: string | undefined, type: 'Inbound' | 'Outbound'): AclTable | null => {
    const key = `${sAcl ?? ''}\u0000${pAcl ?? ''}\u0000${type}`;
    let t = aclCache.get(key);
    if (t === undefined) {
      const sa = sAcl === undefined ? undefined : acls.get(sAcl);
      const pa = pAcl === undefined ? undefined : acls.get(pAcl);
      if (sAcl !== undefined && !sa) throw new Error(`unknown access control list ${sAcl}`);
      if (pAcl !== undefined && !pa) throw new Error(`unknown access control list ${pAcl}`);
      t = compileAclTable(sa, pa, type);
      aclCache.set(key, t);
      if (t) aclRuleCount += t.rules.length;
    }
    return t;
  };
  // one ACL layer per compiled table and direction, shared by every port that has that table
  // (10k ports with one 10k-rule ACL must not hold 10k copies of its rules)
  const aclLayers = [new Map<AclTable | null, Layer>(), new Map<AclTable | null, Layer>()];
  const aclLayer = (t: AclTable | null, kind: LayerKind.AclOut | LayerKind.AclIn): Layer => {
    const out = kind === LayerKind.AclOut;
    const m = aclLayers[out ? 0 : 1];
    let L = m.get(t);
    if (L === undefined) {
      L = layer(out ? 'acl-out' : 'acl-in', kind, aclRules(t, out ? 'outbound' : 'inbound'), t);
      m.set(t, L);
    }
    return L;
  };
  // gateway, router and vnet say the same for every port of a subnet: one set per subnet
  const bySubnet = new Map<number, Layer[]>();
  const subnetLayers = (s: SubnetInfo): Layer[] => {
    let ls = bySubnet.get(s.index);
    if (ls === undefined) {
      ls = [
        layer('gateway', LayerKind.Gateway, [
          `ARP who-has ${s.gatewayText}: router ${ROUTER_MAC_TEXT}`,
          `ARP who-has a CA of ${s.virtualNetwork}/${s.name}: that endpoint's MAC; unknown: no answer`,
          'ARP replies to broadcast (gratuitous) and requests for the own address: drop',
          `IPv4 to ${s.gatewayText} at ${ROUTER_MAC_TEXT}: ICMP echo answered, anything else dropped`,
        ]),
        layer('router', LayerKind.Router, [
          `to ${ROUTER_MAC_TEXT}: route by destination IP to a CA of ${s.virtualNetwork} (never another virtual network); TTL - 1`,
          gatewayRule(policy.virtualNetworks[s.rdid]?.gateway),
        ]),
        layer('vnet', LayerKind.Vnet, [
          `broadcast/multicast: every other port of VSID ${s.vsid}, local or remote`,
          `unicast: the endpoint with that MAC in VSID ${s.vsid}, its CA as destination IP (or broadcast/multicast)`,
        ]),
      ];
      bySubnet.set(s.index, ls);
    }
    return ls;
  };
  const underlayMtu = options.underlayMtu ?? DEFAULT_UNDERLAY_MTU;
  // port mirroring: the Destination ports of this host per subnet (Hyper-V: same switch and host)
  const mirrorDest = new Map<number, number[]>();
  for (const nic of policy.networkInterfaces) {
    if (nic.portMirroring !== 'Destination' || nic.host !== hostName) continue;
    const si = subnetKey.get(`${nic.virtualNetwork}\u0000${nic.subnet}`);
    if (si === undefined) continue;
    let l = mirrorDest.get(si);
    if (l === undefined) mirrorDest.set(si, (l = []));
    l.push(ids.port(nic.name));
  }
  const mirrorTargets = (name: string, mode: string | undefined, si: number): number[] => (mode === 'Source' ? (mirrorDest.get(si) ?? []).filter((id) => id !== ids.port(name)) : []);
  const dhcpLayers = new Map<string, Layer>();
  const dhcpLayer = (dynamic: boolean): Layer => {
    const key = String(dynamic);
    let L = dhcpLayers.get(key);
    if (L === undefined) {
      L = layer('dhcp', LayerKind.Dhcp, [
        dynamic
          ? 'DHCPv4 client (UDP 68 -> 67): answered from policy (Dynamic port: its CA, prefix, gateway, MTU, DNS servers), never forwarded'
          : 'DHCPv4 client (UDP 68 -> 67): drop (Static port: the agent sets its CA), never forwarded',
        'DHCPv4 server messages (UDP 67 -> 68) from the port: drop',
      ]);
      dhcpLayers.set(key, L);
    }
    return L;
  };
  for (const nic of policy.networkInterfaces) {
    if (nic.switch !== undefined) continue; // switch-compile.ts
    const si = subnetKey.get(`${nic.virtualNetwork}\u0000${nic.subnet}`);
    if (si === undefined) throw new Error(`network interface ${nic.name}: unknown subnet ${nic.virtualNetwork}/${nic.subnet}`);
    const h = hostByName.get(nic.host);
    if (h === undefined) throw new Error(`network interface ${nic.name}: unknown host ${nic.host}`);
    const s = subnets[si];
    const mac = macToNumber(nic.macAddress);
    const ip = ipOf(nic.ipAddress ?? '');
    const ep = endpoints.length;
    const local = h === hostIndex;
    const portIndex = local ? ids.port(nic.name) : -1;
    const e6 = v6.endpoint(nic.ipv6Address, s.v6, mac, s.rdid, ep);
    endpoints.push({ index: ep, name: nic.name, mac, macText: macToText(mac), ip, ipText: formatIpv4(ip), subnetIndex: si, hostIndex: h, port: portIndex, v6: e6 });
    endpointByMac[si].set(mac, ep);
    endpointByIp[s.rdid].set(ip, ep);
    if (local) {
      s.localPorts.push(portIndex);
      const aclOut = aclFor(subnetAcl[si], nic.accessControlList, 'Outbound');
      const aclIn = aclFor(subnetAcl[si], nic.accessControlList, 'Inbound');
      const macText = macToText(mac);
      const info: PortInfo = {
        index: portIndex,
        name: nic.name,
        ifname: deriveIfname(nic),
        ...(nic.netns !== undefined ? { netns: nic.netns } : {}),
        ...(nic.vhostUser !== undefined ? { vhostUser: { ...nic.vhostUser } } : {}),
        mac,
        macText: macToText(mac),
        ip,
        ipText: formatIpv4(ip),
        prefixLen: s.prefixLen,
        gateway: s.gateway,
        gatewayText: s.gatewayText,
        vsid: s.vsid,
        encapsulation: s.encapsulation,
        virtualNetwork: s.virtualNetwork,
        subnet: s.name,
        subnetIndex: si,
        rdid: s.rdid,
        zone: s.zone,
        endpoint: ep,
        aclOut,
        aclIn,
        dhcp: nic.ipAllocationMethod === 'Dynamic',
        mtu: tenantMtu(underlayMtu, s.encapsulation),
        dnsServers: subnetDns[si],
        qosMbps: nic.qos?.maximumBandwidthMbps ?? 0,
        mirrorTo: mirrorTargets(nic.name, nic.portMirroring, si),
        v6: e6,
        switchIndex: -1,
        switchRole: 0,
        gatewayOf: -1,
        layersOut: [
          ...(nic.qos ? [qosLayer(nic.qos.maximumBandwidthMbps, 'out')] : []),
          ...(nic.portMirroring === 'Source' ? [mirrorLayer()] : []),
          layer('port-security', LayerKind.PortSecurity, [
            'drop VLAN-tagged frames (802.1Q, 802.1ad, QinQ)',
            `source MAC must be ${macText}`,
            ...portSecurityRules6(e6),
            'drop EtherTypes other than IPv4, ARP and IPv6',
            `ARP sender must be ${macText} ${formatIpv4(ip)} (0.0.0.0 probes: not answered)`,
            `IPv4 source must be ${formatIpv4(ip)} (0.0.0.0 only for DHCP 68->67 to 255.255.255.255)`,
          ]),
          dhcpLayer(nic.ipAllocationMethod === 'Dynamic'),
          ...(e6 !== null && s.v6 !== null ? [ndLayer(s, s.v6, ROUTER_MAC_TEXT)] : []),
          ...subnetLayers(s),
          aclLayer(aclOut, LayerKind.AclOut),
        ],
        layersIn: [aclLayer(aclIn, LayerKind.AclIn), ...(nic.qos ? [qosLayer(nic.qos.maximumBandwidthMbps, 'in')] : [])],
      };
      ports.push(Object.freeze(info));
      portById[portIndex] = info;
      portByName.set(nic.name, portIndex);
    } else if (!s.remoteHosts.includes(h)) {
      s.remoteHosts.push(h);
    }
  }

  const sw = compileSwitches(policy, hostName, ids, macToNumber, (s): PortInfo => Object.freeze({
    index: s.index, name: s.name, ifname: s.ifname, ...(s.netns !== undefined ? { netns: s.netns } : {}),
    mac: s.mac, macText: s.macText, ip: 0, ipText: '-', prefixLen: 0, gateway: 0, gatewayText: '-', vsid: 0, encapsulation: 'vxlan' as const,
    virtualNetwork: '', subnet: '', subnetIndex: -1, rdid: -1, zone: s.zone, endpoint: -1, aclOut: s.aclOut, aclIn: s.aclIn,
    dhcp: false, mtu: tenantMtu(underlayMtu, 'vxlan'), dnsServers: [], qosMbps: 0, mirrorTo: [], v6: null,
    switchIndex: s.switchIndex, switchRole: s.switchRole, gatewayOf: -1, layersOut: s.layersOut, layersIn: s.layersIn,
  }), (acl) => {
    if (acl === undefined) return null;
    const aclOut = aclFor(undefined, acl, 'Outbound');
    const aclIn = aclFor(undefined, acl, 'Inbound');
    return { aclOut, aclIn, out: aclLayer(aclOut, LayerKind.AclOut), in: aclLayer(aclIn, LayerKind.AclIn) };
  });
  for (const p of sw.ports) {
    ports.push(p);
    portById[p.index] = p;
    portByName.set(p.name, p.index);
  }

  // HNV gateways: one per virtual network that names one; its port where this host is the gateway
  const gateways: (GatewayInfo | null)[] = policy.virtualNetworks.map((vn, rdid): GatewayInfo | null => {
    const gw = vn.gateway;
    const h = gw === undefined ? undefined : hostByName.get(gw.host);
    if (gw === undefined || h === undefined) return null;
    const mac = gatewayMac(vn.name);
    const subs = subnetsByRdid[rdid];
    const name = gatewayPortName(vn.name);
    const port = h === hostIndex ? ids.port(name) : -1;
    const info: GatewayInfo = Object.freeze({
      rdid, virtualNetwork: vn.name, hostIndex: h, hostName: gw.host, nat: gw.nat, mac, macText: macToText(mac), port,
      prefixes: Object.freeze(subs.map((si) => subnets[si].prefixText)),
    });
    if (port >= 0) {
      // the vNIC's MTU: the smallest of the encapsulations its frames may take (VXLAN's)
      const encapsulation: Encapsulation = subs.length > 0 && subs.every((si) => subnets[si].encapsulation === 'nvgre') ? 'nvgre' : 'vxlan';
      const p: PortInfo = Object.freeze({
        index: port, name, ifname: deriveIfname({ name: `gw-${vn.name}` }), mac, macText: info.macText,
        ip: 0, ipText: '-', prefixLen: 0, gateway: 0, gatewayText: '-', vsid: 0, encapsulation,
        virtualNetwork: vn.name, subnet: '', subnetIndex: -1, rdid, zone: ids.network(vn.name), endpoint: -1, aclOut: null, aclIn: null,
        dhcp: false, mtu: tenantMtu(underlayMtu, encapsulation), dnsServers: [], qosMbps: 0, mirrorTo: [], v6: null,
        switchIndex: -1, switchRole: 0, gatewayOf: rdid,
        layersOut: [
          layer('gateway-guard', LayerKind.GatewayGuard, [
            `from the host's stack: source MAC ${info.macText}, IPv4 only (no ARP: the router MAC is a permanent neighbour), to ${ROUTER_MAC_TEXT}`,
            `IPv4 source outside every subnet of ${vn.name} (the host never speaks for a CA)`,
          ]),
          layer('router', LayerKind.Router, [`to ${ROUTER_MAC_TEXT}: route by destination IP to a CA of ${vn.name}, else drop (no route; never back out); TTL - 1`]),
          layer('vnet', LayerKind.Vnet, ["the CA's port on this host, or its host's PA with the VSID of the CA's subnet"]),
        ],
        layersIn: [],
      });
      ports.push(p);
      portById[port] = p;
      portByName.set(name, port);
    }
    return info;
  });

  return Object.freeze({
    generation,
    hostName,
    hostIndex,
    routerMac: ROUTER_MAC,
    routerMacText: ROUTER_MAC_TEXT,
    localPas: hosts[hostIndex].pas,
    localPasText: hosts[hostIndex].allPasText,
    hosts,
    ports: Object.freeze(ports),
    portById,
    uplinkLayers: [
      layer('ingress-guard', LayerKind.IngressGuard, [
        'drop VLAN-tagged and other non-IPv4/ARP/IPv6 inner frames; IPv6 only in a dual-stack subnet, no neighbour discovery',
        'inner source MAC: an endpoint of the VSID placed on the host that owns the outer source PA',
        'inner IPv4 source / ARP sender: that endpoint\'s CA (0.0.0.0 only for DHCP); IPv6 source: its IPv6 CA or link-local address',
        `or the router MAC ${ROUTER_MAC_TEXT} with a source CA of the same virtual network on that host`,
        "or, from the virtual network's gateway host, the router MAC with a source outside every subnet (a reply from outside)",
      ]),
      layer('dhcp-in', LayerKind.DhcpIn, ['DHCPv4 client or server messages from another host: drop (never forwarded)']),
      layer('vnet-in', LayerKind.IngressVnet, [
        'broadcast/multicast: every local port of the VSID',
        'unicast: the local port with that MAC in the VSID, its CA as destination IP (or broadcast/multicast)',
        "the gateway vNIC's MAC on the virtual network's gateway host: its gateway port (IPv4 to outside the network only)",
      ]),
    ],
    subnets,
    endpoints,
    virtualNetworks,
    paHost,
    vsidSubnet,
    endpointByMac,
    endpointByIp,
    subnetsByRdid,
    portByName,
    aclRuleCount,
    roomVxlan: tenantMtu(underlayMtu, 'vxlan'),
    roomNvgre: tenantMtu(underlayMtu, 'nvgre'),
    v6: v6.build(),
    switches: sw.switches,
    gateways,
  });
}
