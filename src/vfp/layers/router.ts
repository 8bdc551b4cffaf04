/**
 * router (outbound): the distributed router, present on every host with one MAC. A frame to the
 * router MAC is routed by destination IP (IPv4 or IPv6 CA; never a link-local address) to the endpoint with that CA in the sender's virtual
 * network (any subnet of it, local or remote); no other virtual network is ever searched, so two
 * tenants with the same CAs never reach each other. The rewrite (destination MAC, router MAC as
 * source, TTL or hop limit - 1) is composed into the action by the engine.
 */
import { CONTINUE, type Decision } from '../decision.js';
import { Drop } from '../drops.js';
import { K_IPV4, K_IPV6 } from '../flowkey.js';
import type { Layer } from '../layer.js';
import { dropWith, ipText, type LayerCtx } from './ctx.js';
import { outsideVn } from './hnv-gateway.js';

export function router(c: LayerCtx, d: Decision, L: Layer): number {
  const f = d.f;
  const X = d.src!;
  const snap = c.snap;
  const rec = d.rec !== null;
  if (f.dstMac !== snap.routerMac) {
    if (rec) d.step(L.name, null, 'not addressed to the router: pass');
    return CONTINUE;
  }
  const ep = f.kind === K_IPV4 ? (snap.endpointByIp[X.rdid].get(f.dst) ?? -1) : f.kind === K_IPV6 && f.dst !== 0 ? (snap.v6.endpointById[X.rdid].get(f.dst) ?? -1) : -1;
  if (ep < 0 && f.kind === K_IPV4 && X.gatewayOf < 0) {
    // outside every subnet of the virtual network: its HNV gateway, if it has one
    const g = snap.gateways[X.rdid];
    if (g !== null && outsideVn(snap, X.rdid, f.dst)) {
      d.routed = true;
      d.toGateway = true;
      d.dstSubnet = X.subnetIndex;
      if (rec) d.step(L.name, `${ipText(f.dst)} is outside every subnet of ${X.virtualNetwork}`, `route to the gateway on host ${g.hostName}${g.nat ? ' (NAT)' : ''}: dst MAC ${g.macText}, src MAC ${snap.routerMacText}, TTL - 1, VSID ${X.vsid}`);
      return CONTINUE;
    }
  }
  if (ep < 0 || ep === X.endpoint) {
    if (rec) d.step(L.name, null, f.kind === K_IPV4 ? `no port with address ${ipText(f.dst)} in virtual network ${X.virtualNetwork}: drop (no route)` : f.kind === K_IPV6 ? `no port with that IPv6 address in virtual network ${X.virtualNetwork}: drop (no route)` : 'not IP: drop (no route)');
    return dropWith(c, d, Drop.NoRoute);
  }
  const e = snap.endpoints[ep];
  const s = snap.subnets[e.subnetIndex];
  d.routed = true;
  d.dstEp = ep;
  d.dstSubnet = e.subnetIndex;
  if (rec) d.step(L.name, `${f.kind === K_IPV6 ? e.v6!.text : ipText(f.dst)} is ${e.name} in ${s.virtualNetwork}/${s.name} (${s.prefixText})`, `route: dst MAC ${e.macText}, src MAC ${snap.routerMacText}, TTL - 1, VSID ${X.vsid} -> ${s.vsid}`);
  return CONTINUE;
}
