/**
 * The IPv6 side of a dual-stack port in its tenant namespace (ipAllocationMethod Static, the
 * default): the agent adds the port's IPv6 CA with its subnet's prefix length (nodad: policy
 * guarantees it is unique, and the dataplane never answers duplicate address detection anyway)
 * and, where the namespace has no IPv6 default route, one via the subnet's gateway (prefix::1),
 * which the dataplane resolves by neighbour discovery to the router MAC. The router's
 * advertisements (answering the kernel's router solicitation) say the same. Removal takes away
 * exactly the route it added; the address goes with the device.
 */
import { ip, routeAddDefault, routeDelDefault } from '../io/netdev.js';
import type { PortInfo } from '../vfp/snapshot.js';

async function hasDefaultRoute6(ns: string): Promise<boolean> {
  const routes = JSON.parse(await ip(['-j', '-6', 'route', 'show', 'default'], ns)) as unknown[];
  return routes.length > 0;
}

/** Configures the IPv6 CA of `info` on its device in `ns`; returns whether a default route was added. */
export async function configureIpv6(info: PortInfo, ns: string): Promise<boolean> {
  const v6 = info.v6;
  if (v6 === null) return false;
  await ip(['-6', 'addr', 'add', `${v6.text}/${v6.prefixLen}`, 'dev', info.ifname, 'nodad'], ns);
  if (await hasDefaultRoute6(ns)) return false;
  await routeAddDefault(v6.gatewayText, info.ifname, ns);
  return true;
}

/** Removes the IPv6 default route configureIpv6 added. */
export async function unconfigureIpv6(info: PortInfo, ns: string): Promise<void> {
  if (info.v6 !== null) await routeDelDefault(info.v6.gatewayText, info.ifname, ns);
}
