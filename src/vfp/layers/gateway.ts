/**
 * gateway (outbound): what the dataplane answers itself instead of forwarding, from policy. ARP
 * requests (broadcast, or unicast as a kernel refreshing its cache sends them) for the subnet's
 * gateway get the router MAC, for a CA of the same subnet that endpoint's MAC, and nothing else
 * gets an answer; requests are never forwarded. Gratuitous ARP and requests for the sender's own
 * address are dropped, and so are ARP replies to a group address (they would poison every
 * neighbour's cache). An ICMP echo request to the gateway address is answered; anything else to
 * it is dropped. A DHCP or ND responder is a rule of this layer later.
 */
import { CONTINUE, H_ARP_REPLY, H_ECHO_REPLY, V_HAIRPIN, DONE, type Decision } from '../decision.js';
import { Drop } from '../drops.js';
import { K_ARP, K_IPV4, PROTO_ICMP } from '../flowkey.js';
import type { Layer } from '../layer.js';
import { dropWith, ipText, isGroupMac, type LayerCtx } from './ctx.js';

function hairpin(d: Decision, kind: number, mac: number): number {
  d.verdict = V_HAIRPIN;
  d.hairpin = kind;
  d.hairpinMac = mac;
  d.cacheable = false;
  return DONE;
}

export function gateway(c: LayerCtx, d: Decision, L: Layer): number {
  const f = d.f;
  const X = d.src!;
  const snap = c.snap;
  const rec = d.rec !== null;
  if (f.kind === K_ARP) {
    if (f.arpOp === 2) {
      if (isGroupMac(f.dstMac)) {
        if (rec) d.step(L.name, 'ARP reply to a group address', 'gratuitous: drop (the dataplane answers ARP itself)');
        return dropWith(c, d, Drop.ArpIgnored);
      }
      if (rec) d.step(L.name, null, 'unicast ARP reply: forward like unicast');
      return CONTINUE;
    }
    const tpa = f.arpTpa;
    if (f.arpSpa === tpa || tpa === X.ip) {
      if (rec) d.step(L.name, `who-has ${ipText(tpa)}`, 'gratuitous or for its own address: drop');
      return dropWith(c, d, Drop.ArpIgnored);
    }
    if (tpa === X.gateway) {
      if (rec) d.step(L.name, `${ipText(tpa)} is the gateway: router MAC ${snap.routerMacText}`, `reply in place, back out ${X.name}`);
      return hairpin(d, H_ARP_REPLY, snap.routerMac);
    }
    const ep = snap.endpointByIp[X.rdid].get(tpa);
    if (ep !== undefined && snap.endpoints[ep].subnetIndex === X.subnetIndex) {
      const e = snap.endpoints[ep];
      if (rec) d.step(L.name, `${ipText(tpa)} is ${e.name}: ${e.macText}`, `reply in place, back out ${X.name}`);
      return hairpin(d, H_ARP_REPLY, e.mac);
    }
    if (rec) d.step(L.name, null, `who-has ${ipText(tpa)}: unknown in VSID ${X.vsid}, no answer`);
    return dropWith(c, d, Drop.ArpUnknown);
  }
  if (f.kind === K_IPV4 && f.dst === X.gateway && f.dstMac === snap.routerMac) {
    const echo = f.proto === PROTO_ICMP && !f.frag && f.sport >>> 8 === 8;
    if (rec) d.step(L.name, `${ipText(f.dst)} is the router's address in ${X.subnet}`, echo ? 'ICMP echo request: answer with an echo reply' : 'not an echo request: drop');
    if (!echo) return dropWith(c, d, Drop.RouterLocal);
    return hairpin(d, H_ECHO_REPLY, snap.routerMac);
  }
  if (rec) d.step(L.name, null, 'nothing the dataplane answers itself: pass');
  return CONTINUE;
}
