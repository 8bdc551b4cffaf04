/**
 * vnet: CA -> where. Outbound: a routed frame goes to the endpoint the router chose; a group
 * destination (broadcast/multicast) is replicated within the sender's VSID (the engine walks
 * each copy through its receiver's inbound layers); a unicast frame goes to the endpoint with
 * that MAC in the sender's VSID - a local port, or its host's PA. Inbound from the wire: the VSID
 * and destination MAC pick the local port. Either way a port receives only frames for its own CA
 * (or broadcast/multicast): unicast IPv4 to its MAC with another destination IP is dropped.
 */
import { CONTINUE, DONE, type Decision } from '../decision.js';
import { Drop } from '../drops.js';
import { K_IPV4, K_IPV6 } from '../flowkey.js';
import type { Layer } from '../layer.js';
import type { EndpointInfo, SubnetInfo } from '../snapshot.js';
import { dropWith, ipText, isGroupIp, isGroupMac, macText, type LayerCtx } from './ctx.js';
import { outsideVn } from './hnv-gateway.js';

/** The destination IP check of unicast to endpoint `e`; CONTINUE when it holds. */
function forEndpoint(c: LayerCtx, d: Decision, L: Layer, e: EndpointInfo, s: SubnetInfo): number {
  const f = d.f;
  if (f.kind === K_IPV4 && f.dst !== e.ip && !isGroupIp(f.dst, s.broadcast)) {
    if (d.rec) d.step(L.name, `MAC ${e.macText} is ${e.name} (${e.ipText})`, `destination IP ${ipText(f.dst)} is not its CA: drop`);
    return dropWith(c, d, Drop.NotForPort);
  }
  // IPv6: its CA, its link-local address or a multicast group (ff00::/8)
  if (f.kind === K_IPV6 && (e.v6 === null || f.dst === 0 || (f.dst !== e.v6.id && f.dst !== e.v6.llId)) && f.a6[4] >>> 24 !== 0xff) {
    if (d.rec) d.step(L.name, `MAC ${e.macText} is ${e.name} (${e.v6 === null ? 'no IPv6 CA' : e.v6.text})`, 'destination IPv6 address is not its own: drop');
    return dropWith(c, d, Drop.NotForPort);
  }
  return CONTINUE;
}

export function vnet(c: LayerCtx, d: Decision, L: Layer): number {
  const f = d.f;
  const X = d.src!;
  const snap = c.snap;
  const rec = d.rec !== null;
  if (!d.routed) {
    if (isGroupMac(f.dstMac)) {
      d.group = true;
      if (rec) d.step(L.name, `${f.dstMac === 0xffffffffffff ? 'broadcast' : 'multicast'} in VSID ${X.vsid}`, 'replicate to every other port of the VSID');
      return CONTINUE;
    }
    const ep = snap.endpointByMac[X.subnetIndex].get(f.dstMac) ?? -1;
    if (ep < 0 || ep === X.endpoint) {
      if (rec) d.step(L.name, null, `no port with MAC ${macText(f.dstMac)} in VSID ${X.vsid} other than the sender: drop (no port)`);
      return dropWith(c, d, Drop.NoPort);
    }
    if (forEndpoint(c, d, L, snap.endpoints[ep], snap.subnets[X.subnetIndex]) !== CONTINUE) return DONE;
    d.dstEp = ep;
    d.dstSubnet = X.subnetIndex;
  }
  if (d.toGateway) {
    const g = snap.gateways[X.rdid]!;
    d.dstPort = g.port >= 0 ? (snap.portById[g.port] ?? null) : null;
    if (rec) d.step(L.name, `the gateway of ${X.virtualNetwork} is on host ${g.hostName}`, d.dstPort !== null ? `deliver to ${d.dstPort.name} (the host's stack${g.nat ? ', NAT' : ''})` : `encapsulate ${X.encapsulation} VSID ${X.vsid} to host ${g.hostName}`);
    return CONTINUE;
  }
  const e = snap.endpoints[d.dstEp];
  const s = snap.subnets[d.dstSubnet];
  d.dstPort = e.port >= 0 ? (snap.portById[e.port] ?? null) : null;
  if (rec) {
    if (d.dstPort) d.step(L.name, `MAC ${e.macText} in VSID ${s.vsid} is local port ${d.dstPort.name}`, `deliver to ${d.dstPort.name}`);
    else d.step(L.name, `MAC ${e.macText} in VSID ${s.vsid} is ${e.name} on host ${snap.hosts[e.hostIndex].name}`, `encapsulate ${s.encapsulation} to host ${snap.hosts[e.hostIndex].name}`);
  }
  return CONTINUE;
}

export function vnetIn(c: LayerCtx, d: Decision, L: Layer): number {
  const f = d.f;
  const snap = c.snap;
  const s = snap.subnets[d.subnet];
  const rec = d.rec !== null;
  if (isGroupMac(f.dstMac)) {
    d.group = true;
    if (rec) d.step(L.name, `${f.dstMac === 0xffffffffffff ? 'broadcast' : 'multicast'} in VSID ${s.vsid}`, 'a copy to every local port of the VSID');
    return CONTINUE;
  }
  const g = snap.gateways[s.rdid];
  if (g !== null && g.port >= 0 && f.dstMac === g.mac) {
    // this host is the virtual network's gateway: a frame another host routed out
    if (f.kind !== K_IPV4 || !outsideVn(snap, s.rdid, f.dst)) {
      if (rec) d.step(L.name, `MAC ${g.macText} is the gateway of ${s.virtualNetwork}`, 'not IPv4 to an address outside the virtual network: drop');
      return dropWith(c, d, Drop.NotForPort);
    }
    d.dstSubnet = d.subnet;
    d.dstPort = snap.portById[g.port] ?? null;
    if (d.dstPort === null) return dropWith(c, d, Drop.NoPort);
    if (rec) d.step(L.name, `MAC ${g.macText} is the gateway of ${s.virtualNetwork}`, `decapsulated; deliver to ${d.dstPort.name} (the host's stack${g.nat ? ', NAT' : ''})`);
    return CONTINUE;
  }
  const ep = snap.endpointByMac[d.subnet].get(f.dstMac) ?? -1;
  const e = ep >= 0 ? snap.endpoints[ep] : null;
  const port = e !== null && e.port >= 0 ? (snap.portById[e.port] ?? null) : null;
  if (e === null || port === null) {
    if (rec) d.step(L.name, null, `no local port with MAC ${macText(f.dstMac)} in VSID ${s.vsid}: drop (no port)`);
    return dropWith(c, d, Drop.NoPort);
  }
  if (forEndpoint(c, d, L, e, s) !== CONTINUE) return DONE;
  d.dstEp = ep;
  d.dstSubnet = d.subnet;
  d.dstPort = port;
  if (rec) d.step(L.name, `MAC ${port.macText} in VSID ${s.vsid} is local port ${port.name}`, `decapsulated; deliver to ${port.name}`);
  return CONTINUE;
}
