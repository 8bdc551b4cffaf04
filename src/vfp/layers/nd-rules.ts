/** The rules in words of the IPv6 parts of a port's layers (snapshot.ts builds the layers). */
import type { EndpointV6, SubnetV6 } from '../ip6.js';
import { LayerKind, layer, type Layer } from '../layer.js';

/** port-security's IPv6 rules for a port with IPv6 CA `e6` (or none). */
export function portSecurityRules6(e6: EndpointV6 | null): string[] {
  if (e6 === null) return ['drop IPv6 (the port has no IPv6 CA)'];
  return [
    `IPv6 source must be ${e6.text} or its link-local ${e6.llText} (:: only for DAD, RS and MLD)`,
    'fragmented neighbour discovery or MLD: drop; other fragments follow their first fragment',
  ];
}

/** The nd layer of a dual-stack port in subnet `s`. */
export function ndLayer(s: { readonly virtualNetwork: string; readonly name: string }, v6: SubnetV6, routerMacText: string): Layer {
  return layer('nd', LayerKind.Nd, [
    `NS for ${v6.gatewayText} or the router's link-local address: NA with router ${routerMacText}`,
    `NS for a CA or link-local address of ${s.virtualNetwork}/${s.name}: NA with that endpoint's MAC; unknown: no answer`,
    'NS from :: (duplicate address detection): no answer; hop limit other than 255: drop',
    `RS: RA from the router (on-link ${v6.prefixText}, default router)`,
    'NA, RA, redirect and MLD from a port: drop (the dataplane answers neighbour discovery itself)',
    `ICMPv6 echo to ${v6.gatewayText} or the router's link-local address: answered; anything else to them: drop`,
  ]);
}
