/**
 * The agent's side of a virtual network's HNV gateway (issue 14; the dataplane's side is
 * vfp/layers/hnv-gateway.ts). On the gateway host the virtual network leaves through the host's
 * own stack, by a gateway vNIC: a TAP in the agent's namespace (ports.ts makes it like the host
 * vNIC of an Internal switch) with the gateway MAC every host addresses, and
 *   - no address: the host routes between it and its other interfaces, it is nobody's subnet;
 *   - a permanent neighbour 169.254.0.1 -> the router MAC, and a route per subnet prefix of the
 *     network `via 169.254.0.1 onlink`: replies (after conntrack undid the NAT) leave into the
 *     TAP addressed to the distributed router, which routes them to the CA (its port here, or
 *     its host) like any routed frame; the kernel never ARPs into the virtual network;
 *   - IPv6 off on the TAP (no router solicitations or MLD into the network; IPv6 is not routed
 *     out);
 *   - with `nat: true`, masquerade of the subnet prefixes to anywhere else: the same nftables
 *     table and rule as an Internal switch's NAT (nat.ts), one plan per prefix.
 * Why the host's stack and not a NAT layer in the engine: nat.ts says it for the switches, and the
 * same holds here (the kernel's conntrack, port allocation, ICMP errors and fragments), and the
 * host's routing already knows the way out (default route, several NICs, policy routing).
 * The routes and the neighbour go with the TAP when the port is removed or the agent stops.
 */
import fs from 'node:fs';
import { ip, linkConfigure } from '../io/netdev.js';
import type { Policy } from '../policy/types.js';
import { ROUTER_MAC_TEXT, type PortInfo, type Snapshot } from '../vfp/snapshot.js';
import type { NatPlan } from './nat.js';

/** The next hop the gateway host routes a virtual network's prefixes through (link-local, only
 * ever a neighbour entry on the gateway vNIC). */
export const GATEWAY_NEXT_HOP = '169.254.0.1';

/** The subnet prefixes of the gateway port's virtual network in `policy`. */
export function gatewayPrefixes(policy: Policy, p: PortInfo): string[] {
  if (p.gatewayOf < 0) return [];
  const vn = policy.virtualNetworks.find((v) => v.name === p.virtualNetwork);
  return (vn?.subnets ?? []).map((s) => s.addressPrefix);
}

/** Gives the gateway vNIC (after ports.ts made the TAP, up) its MAC, neighbour and routes. */
export async function configureGatewayVnic(info: PortInfo, prefixes: readonly string[]): Promise<void> {
  await linkConfigure(info.ifname, { mac: info.macText });
  try {
    fs.writeFileSync(`/proc/sys/net/ipv6/conf/${info.ifname}/disable_ipv6`, '1');
  } catch {
    /* no IPv6 in this kernel: nothing to switch off */
  }
  // a prefix the host already routes elsewhere is the host's, not ours to take over: refused (the
  // caller removes the TAP, the port stays out with this error, the others go on)
  for (const prefix of prefixes) {
    const held = hostRouteDevs(await ip(['-j', 'route', 'show', 'exact', prefix])).filter((dev) => dev !== info.ifname);
    if (held.length > 0) throw new Error(`gateway of ${info.virtualNetwork}: the host already routes ${prefix} (dev ${held.join(', ')}); a gateway vNIC would take that route over`);
  }
  await ip(['neigh', 'replace', GATEWAY_NEXT_HOP, 'lladdr', ROUTER_MAC_TEXT, 'dev', info.ifname, 'nud', 'permanent']);
  for (const prefix of prefixes) await ip(['route', 'replace', prefix, 'via', GATEWAY_NEXT_HOP, 'dev', info.ifname, 'onlink']);
}

/** The devices of `ip -j route show exact P`'s routes (none: an empty list). */
export function hostRouteDevs(json: string): string[] {
  try {
    const routes = JSON.parse(json.trim() === '' ? '[]' : json) as { dev?: unknown }[];
    return routes.map((r) => (typeof r.dev === 'string' ? r.dev : '?'));
  } catch {
    return [];
  }
}

/** The NAT plans of the gateways on this host: masquerade of each subnet prefix (`nat: true`),
 * or forwarding only (`nat: false`: the plan keeps ip_forward on, with no rule). */
export function gatewayNatPlans(snap: Snapshot): NatPlan[] {
  const plans: NatPlan[] = [];
  for (const g of snap.gateways) {
    if (g === null || g.port < 0) continue;
    const port = snap.portById[g.port];
    if (port === undefined) continue;
    for (const prefix of g.prefixes) {
      plans.push({ nat: { name: `gateway ${g.virtualNetwork}`, internalIPInterfaceAddressPrefix: prefix, staticMappings: [] }, hostIfname: port.ifname, masquerade: g.nat });
    }
  }
  return plans;
}
