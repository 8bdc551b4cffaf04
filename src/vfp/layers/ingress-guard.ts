/**
 * ingress-guard (from the wire, after decapsulation): the tunnel is no licence. The inner frame
 * must be IPv4 or ARP (IPv6: guards6.ts), untagged, and its source must be what policy places on the host that sent
 * it: an endpoint of this VSID on the host owning the outer source PA, with that endpoint's CA
 * as IPv4 source or ARP sender (0.0.0.0 only for a DHCP client's broadcast), or the router MAC
 * with a source CA of the same virtual network on that host (a frame that host routed), or, from
 * the virtual network's HNV gateway host, the router MAC with a source outside every subnet of
 * the network (a reply from outside: layers/hnv-gateway.ts). A host
 * cannot speak for another host's CAs, for CAs of this host, or in a VSID it has no port in.
 */
import { CONTINUE, type Decision } from '../decision.js';
import { Drop } from '../drops.js';
import { K_ARP, K_IPV4, K_IPV6, K_OTHER, K_VLAN } from '../flowkey.js';
import type { Layer } from '../layer.js';
import { dropWith, ipText, isDhcpClient, isGroupMac, macText, type LayerCtx } from './ctx.js';
import { ingressGuard6 } from './guards6.js';
import { outsideVn } from './hnv-gateway.js';

export function ingressGuard(c: LayerCtx, d: Decision, L: Layer): number {
  const f = d.f;
  const snap = c.snap;
  const rec = d.rec !== null;
  if (f.kind === K_IPV6) return ingressGuard6(c, d, L);
  if (f.kind === K_VLAN || f.kind === K_OTHER) {
    if (rec) d.step(L.name, `inner EtherType 0x${f.ethertype.toString(16).padStart(4, '0')}`, 'not untagged IPv4, ARP or IPv6: drop');
    return dropWith(c, d, f.kind === K_VLAN ? Drop.VlanTagged : Drop.Ethertype);
  }
  const s = snap.subnets[d.subnet];
  const host = d.srcHost >= 0 ? snap.hosts[d.srcHost].name : 'an unknown host';
  if (f.srcMac === snap.routerMac) {
    const ep = f.kind === K_IPV4 ? (snap.endpointByIp[s.rdid].get(f.src) ?? -1) : -1;
    if (ep < 0 && f.kind === K_IPV4) {
      // a reply from outside that the virtual network's gateway host routed in
      const g = snap.gateways[s.rdid];
      if (g !== null && g.hostIndex === d.srcHost && outsideVn(snap, s.rdid, f.src)) {
        if (rec) d.step(L.name, `routed by ${host}, the gateway of ${s.virtualNetwork}`, `source ${ipText(f.src)} is outside the virtual network: pass`);
        return CONTINUE;
      }
    }
    if (ep < 0 || snap.endpoints[ep].hostIndex !== d.srcHost) {
      if (rec) d.step(L.name, `routed frame from ${host}`, `source ${f.kind === K_IPV4 ? ipText(f.src) : 'non-IPv4'} is no CA of ${s.virtualNetwork} on ${host}: drop`);
      return dropWith(c, d, Drop.SrcNotOwned);
    }
    if (rec) d.step(L.name, `routed by ${host}`, `source ${ipText(f.src)} is ${snap.endpoints[ep].name} on ${host}: pass`);
    return CONTINUE;
  }
  const ep = snap.endpointByMac[d.subnet].get(f.srcMac) ?? -1;
  const e = ep >= 0 ? snap.endpoints[ep] : null;
  if (e === null || e.hostIndex !== d.srcHost) {
    if (rec) d.step(L.name, null, `source MAC ${macText(f.srcMac)} is no endpoint of VSID ${s.vsid} on ${host}: drop`);
    return dropWith(c, d, Drop.SrcNotOwned);
  }
  if (f.kind === K_ARP) {
    if (f.arpSha !== e.mac || f.arpSpa !== e.ip) {
      if (rec) d.step(L.name, `ARP sender must be ${e.macText} ${e.ipText}`, `sender ${macText(f.arpSha)} ${ipText(f.arpSpa)}: drop`);
      return dropWith(c, d, Drop.SrcNotOwned);
    }
    if (f.arpOp === 2 && isGroupMac(f.dstMac)) {
      if (rec) d.step(L.name, 'ARP reply to a group address', 'gratuitous: drop');
      return dropWith(c, d, Drop.ArpIgnored);
    }
  } else if (f.kind === K_IPV4 && f.src !== e.ip && !(f.src === 0 && isDhcpClient(d))) {
    if (rec) d.step(L.name, `IPv4 source must be ${e.ipText}`, `source ${ipText(f.src)}: drop`);
    return dropWith(c, d, Drop.SrcNotOwned);
  }
  if (rec) d.step(L.name, `${e.name} on ${host}`, 'source owned by the sending host: pass');
  return CONTINUE;
}
