/**
 * compileSnapshot: a validated policy -> the immutable tables one host's dataplane runs on, tagged
 * with a generation number (STYLE.md 9). Built off the fast path; a worker swaps snapshots
 * between batches and re-validates flow-table entries of older generations.
 *
 * What it holds: this host's ports (index = position in `ports`, the key of every per-port array),
 * every endpoint (CA: MAC + IP) of every subnet with the host that owns it (the VNET layer's
 * CA -> PA mapping), the subnets with their VSID, gateway and local/remote membership (replication
 * lists), the distributed router (one MAC everywhere, the gateway = lowest usable address of each
 * subnet), the ACL tables per port and direction (acl.ts), and the provider addresses: this
 * host's own and the other hosts' (the only outer sources accepted from the wire).
 * Lookup maps are keyed by numbers (MACs are 48-bit numbers, IPs uint32); the per-frame ones
 * (outer source PA, VNI) are U32Maps.
 */
import type { AccessControlList, Encapsulation, Policy } from '../policy/types.js';
import { formatIpv4, maskOf, normaliseMac, parseCidr, parseIpv4 } from '../policy/addr.js';
import { deriveIfname } from '../policy/names.js';
import { compileAclTable, type AclTable } from './acl.js';
import { U32Map } from './u32map.js';

/** The distributed router's MAC, the same on every host (locally administered). */
export const ROUTER_MAC = 0x027379000001;
export const ROUTER_MAC_TEXT = '02:73:79:00:00:01';

export interface PortInfo {
  readonly index: number;
  readonly name: string;
  readonly ifname: string;
  readonly netns?: string;
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
  /** Index into Snapshot.virtualNetworks (the RDID). */
  readonly rdid: number;
  /** Index into Snapshot.endpoints. */
  readonly endpoint: number;
  /** Merged subnet + port ACL rules per direction; null = allow all. */
  readonly aclOut: AclTable | null;
  readonly aclIn: AclTable | null;
}

export interface SubnetInfo {
  readonly index: number;
  readonly name: string;
  readonly virtualNetwork: string;
  readonly rdid: number;
  readonly vsid: number;
  readonly network: number;
  readonly prefixLen: number;
  readonly mask: number;
  readonly prefixText: string;
  readonly gateway: number;
  readonly gatewayText: string;
  readonly encapsulation: Encapsulation;
  /** NVGRE FlowID: 0..255, or -1 for a hash of the inner flow. */
  readonly nvgreFlowId: number;
  /** This host's ports in the subnet (indices into Snapshot.ports). */
  readonly localPorts: readonly number[];
  /** Other hosts with at least one port in the subnet (indices into Snapshot.hosts). */
  readonly remoteHosts: readonly number[];
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
  /** Index into Snapshot.ports when on this host, else -1. */
  readonly port: number;
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

/** What the agent knows beyond policy when it compiles. */
export interface CompileOptions {
  /** Provider addresses (local or remote) whose link is down or whose host stopped answering
   * liveness probes: flows avoid them while the host has another PA that is up. */
  downPas?: ReadonlySet<number>;
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
  readonly ports: readonly PortInfo[];
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
  readonly portByName: ReadonlyMap<string, number>;
  /** Number of rules in all compiled ACL tables (shared tables counted once). */
  readonly aclRuleCount: number;
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

export function compileSnapshot(policy: Policy, hostName: string, generation: number, options: CompileOptions = {}): Snapshot {
  const hostIndex = policy.hosts.findIndex((h) => h.name === hostName);
  if (hostIndex < 0) throw new Error(`host "${hostName}" is not in the policy`);
  const down = options.downPas;
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
  const subnetKey = new Map<string, number>();
  const vsidSubnet = new U32Map(policy.virtualNetworks.reduce((n, v) => n + v.subnets.length, 0) + 1);
  for (const vn of policy.virtualNetworks) {
    const rdid = virtualNetworks.length;
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
        vsid: s.vsid,
        network: c.network,
        prefixLen: c.prefixLength,
        mask: maskOf(c.prefixLength),
        prefixText: s.addressPrefix,
        gateway,
        gatewayText: formatIpv4(gateway),
        encapsulation: s.encapsulation ?? 'vxlan',
        nvgreFlowId: s.nvgreFlowId === 'hash' ? -1 : (s.nvgreFlowId ?? 0),
        localPorts: [],
        remoteHosts: [],
      });
      subnetAcl.push(s.accessControlList);
      subnetKey.set(`${vn.name}\u0000${s.name}`, index);
      subnetsByRdid[rdid].push(index);
      vsidSubnet.set(s.vsid, index);
    }
  }

  const endpoints: EndpointInfo[] = [];
  const endpointByMac = subnets.map(() => new Map<number, number>());
  const endpointByIp = virtualNetworks.map(() => new Map<number, number>());
  const ports: PortInfo[] = [];
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
  for (const nic of policy.networkInterfaces) {
    const si = subnetKey.get(`${nic.virtualNetwork}\u0000${nic.subnet}`);
    if (si === undefined) throw new Error(`network interface ${nic.name}: unknown subnet ${nic.virtualNetwork}/${nic.subnet}`);
    const h = hostByName.get(nic.host);
    if (h === undefined) throw new Error(`network interface ${nic.name}: unknown host ${nic.host}`);
    const s = subnets[si];
    const mac = macToNumber(nic.macAddress);
    const ip = ipOf(nic.ipAddress);
    const ep = endpoints.length;
    const local = h === hostIndex;
    const portIndex = local ? ports.length : -1;
    endpoints.push({ index: ep, name: nic.name, mac, macText: macToText(mac), ip, ipText: formatIpv4(ip), subnetIndex: si, hostIndex: h, port: portIndex });
    endpointByMac[si].set(mac, ep);
    endpointByIp[s.rdid].set(ip, ep);
    if (local) {
      s.localPorts.push(portIndex);
      const info: PortInfo = {
        index: portIndex,
        name: nic.name,
        ifname: deriveIfname(nic),
        ...(nic.netns !== undefined ? { netns: nic.netns } : {}),
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
        endpoint: ep,
        aclOut: aclFor(subnetAcl[si], nic.accessControlList, 'Outbound'),
        aclIn: aclFor(subnetAcl[si], nic.accessControlList, 'Inbound'),
      };
      ports.push(Object.freeze(info));
      portByName.set(nic.name, portIndex);
    } else if (!s.remoteHosts.includes(h)) {
      s.remoteHosts.push(h);
    }
  }

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
  });
}
