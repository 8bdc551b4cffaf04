/**
 * The HNV gateway (issue 14: `virtualNetworks[].gateway: {host, nat}`), the seed's forwarding /
 * NAT gateway. Where it is decided:
 *   - router (layers/router.ts): a tenant's IPv4 frame to the router MAC whose destination is
 *     outside every subnet of its virtual network goes to the gateway (`outsideVn`), when the
 *     network has one; else it stays no-route.
 *   - vnet: to the gateway port when the gateway is this host, else encapsulated to the gateway
 *     host's PA with the VSID of the sender's subnet (engine.ts commit); the destination MAC is
 *     the gateway vNIC's (`gatewayMac`, the same on every host).
 *   - on the gateway host, from the wire: ingress-guard lets the routed frame in (the router MAC
 *     with a CA of the sending host), vnet-in delivers frames to the gateway vNIC's MAC to the
 *     gateway port, whose TAP is in the host's stack (routing, nftables masquerade: agent/nat.ts).
 *   - back: the host's stack routes a reply (after conntrack undid the NAT) to the VN's prefixes
 *     via the gateway vNIC, to the router MAC; the gateway port's layers are gateway-guard (this
 *     file), router, vnet: the CA's port here, or its host's PA. The CA's host lets it in
 *     (ingress-guard): the router MAC with a source outside the VN, from the VN's gateway host.
 */
import { CONTINUE, type Decision } from '../decision.js';
import { Drop } from '../drops.js';
import { K_ARP, K_IPV4, K_IPV6, K_VLAN } from '../flowkey.js';
import type { Layer } from '../layer.js';
import type { Snapshot } from '../snapshot.js';
import { dropWith, ipText, macText, type LayerCtx } from './ctx.js';

/** True when `ip` is a unicast address outside every subnet of virtual network `rdid` (and not
 * 0/8, loopback, link-local or a group address: those are never routed out). */
export function outsideVn(snap: Snapshot, rdid: number, ip: number): boolean {
  const a = ip >>> 24;
  if (a === 0 || a === 127 || a >= 224 || ip >>> 16 === 0xa9fe) return false;
  const subs = snap.subnetsByRdid[rdid];
  for (let k = 0; k < subs.length; k++) {
    const s = snap.subnets[subs[k]];
    if (((ip & s.mask) >>> 0) === s.network) return false;
  }
  return true;
}

/**
 * gateway-guard (outbound, on the gateway port): what the host's stack may send into the virtual
 * network. Its own MAC, IPv4 only (the neighbour entry of the router MAC is permanent: no ARP;
 * IPv6 is not routed out), to the router MAC, and from a source outside every subnet of the
 * virtual network: the host never speaks for a CA.
 */
export function gatewayGuard(c: LayerCtx, d: Decision, L: Layer): number {
  const f = d.f;
  const X = d.src!;
  const snap = c.snap;
  const rec = d.rec !== null;
  if (f.srcMac !== X.mac) {
    if (rec) d.step(L.name, `source MAC must be ${X.macText}`, `source MAC ${macText(f.srcMac)}: drop (spoofed)`);
    return dropWith(c, d, Drop.Spoofed);
  }
  if (f.kind !== K_IPV4) {
    if (rec) d.step(L.name, 'IPv4 only', `${f.kind === K_ARP ? 'ARP' : f.kind === K_IPV6 ? 'IPv6' : `EtherType 0x${f.ethertype.toString(16)}`}: drop`);
    return dropWith(c, d, f.kind === K_ARP ? Drop.ArpIgnored : f.kind === K_IPV6 ? Drop.Ipv6Disabled : f.kind === K_VLAN ? Drop.VlanTagged : Drop.Ethertype);
  }
  if (f.dstMac !== snap.routerMac) {
    if (rec) d.step(L.name, `destination MAC must be the router ${snap.routerMacText}`, `${macText(f.dstMac)}: drop (no route)`);
    return dropWith(c, d, Drop.NoRoute);
  }
  if (!outsideVn(snap, X.rdid, f.src)) {
    if (rec) d.step(L.name, `source outside every subnet of ${X.virtualNetwork}`, `source ${ipText(f.src)} is inside: drop (spoofed)`);
    return dropWith(c, d, Drop.Spoofed);
  }
  if (rec) d.step(L.name, `from outside ${X.virtualNetwork} (${ipText(f.src)}) through the host's stack`, 'pass to the router');
  return CONTINUE;
}
