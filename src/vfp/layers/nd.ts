/**
 * nd (outbound, dual-stack ports): IPv6 neighbour discovery answered from policy, as the gateway
 * layer answers ARP. A neighbour solicitation for the subnet's gateway (prefix::1) or the
 * router's link-local address gets an advertisement with the router MAC (router flag); for a CA
 * or link-local address of an endpoint of the same subnet, that endpoint's MAC; anything else gets
 * no answer (nd-unknown), and a solicitation is never forwarded. A solicitation from :: is
 * duplicate address detection: no answer, so the port's address is free (nd-ignored). A router
 * solicitation gets the router's advertisement (on-link prefix, default router). Advertisements,
 * router advertisements, redirects and MLD from a port are dropped: a tenant never speaks for an
 * address it does not own, nor as a router (nd-ignored). ND with a hop limit other than 255 is
 * dropped as a receiver would (RFC 4861 7.1.1). An ICMPv6 echo request to the router's addresses
 * is answered; anything else to them is dropped (router-local). None of it is cached: the answer
 * depends on the target, which the flow key does not hold.
 */
import { CONTINUE, DONE, H_ECHO6_REPLY, H_NA, H_RA, V_HAIRPIN, type Decision } from '../decision.js';
import { Drop } from '../drops.js';
import { K_IPV6, PROTO_ICMPV6 } from '../flowkey.js';
import type { Layer } from '../layer.js';
import { dropWith, type LayerCtx } from './ctx.js';

function hairpin(d: Decision, kind: number, mac: number): number {
  d.verdict = V_HAIRPIN;
  d.hairpin = kind;
  d.hairpinMac = mac;
  d.cacheable = false;
  return DONE;
}

function ignored(c: LayerCtx, d: Decision, L: Layer, what: string, why: string): number {
  d.cacheable = false;
  if (d.rec) d.step(L.name, what, why);
  return dropWith(c, d, Drop.NdIgnored);
}

export function nd(c: LayerCtx, d: Decision, L: Layer): number {
  const f = d.f;
  if (f.kind !== K_IPV6) return CONTINUE;
  const X = d.src!;
  const snap = c.snap;
  const v6 = snap.v6;
  const s6 = snap.subnets[X.subnetIndex].v6!;
  const rec = d.rec !== null;
  const toRouter = f.dst !== 0 && (f.dst === s6.gatewayId || f.dst === v6.routerLlId);
  if (f.proto === PROTO_ICMPV6 && !f.frag) {
    const type = f.sport >>> 8;
    if (type === 130 || type === 131 || type === 132 || type === 143) return ignored(c, d, L, 'MLD from a port', 'drop (no multicast listener policy)');
    if (f.ext6 && ((type >= 133 && type <= 137) || toRouter)) return ignored(c, d, L, `ICMPv6 type ${type} with extension headers`, 'drop (the dataplane answers only plain neighbour discovery and echo)');
    if (type === 135) {
      d.cacheable = false;
      if (f.ttl !== 255) return ignored(c, d, L, `NS with hop limit ${f.ttl}`, 'not 255: drop (RFC 4861)');
      if (f.a6[0] === 0 && f.a6[1] === 0 && f.a6[2] === 0 && f.a6[3] === 0) return ignored(c, d, L, 'NS from ::', 'duplicate address detection: no answer (the address is free)');
      const t = f.ndTarget;
      if (t !== 0 && (t === s6.gatewayId || t === v6.routerLlId)) {
        if (rec) d.step(L.name, `NS for ${t === s6.gatewayId ? s6.gatewayText : v6.routerLlText}: the router`, `NA with ${snap.routerMacText}, back out ${X.name}`);
        return hairpin(d, H_NA, snap.routerMac);
      }
      const ep = t === 0 ? -1 : (v6.endpointById[X.rdid].get(t) ?? v6.endpointByLl[X.rdid].get(t) ?? -1);
      const e = ep >= 0 ? snap.endpoints[ep] : null;
      if (e !== null && ep !== X.endpoint && e.subnetIndex === X.subnetIndex && e.v6 !== null && (t === e.v6.id || t === e.v6.llId)) {
        if (rec) d.step(L.name, `NS for ${t === e.v6.id ? e.v6.text : e.v6.llText}: ${e.name}`, `NA with ${e.macText}, back out ${X.name}`);
        return hairpin(d, H_NA, e.mac);
      }
      if (rec) d.step(L.name, null, `NS for an address unknown in VSID ${X.vsid}: no answer`);
      return dropWith(c, d, Drop.NdUnknown);
    }
    if (type === 133) {
      d.cacheable = false;
      if (f.ttl !== 255) return ignored(c, d, L, `RS with hop limit ${f.ttl}`, 'not 255: drop (RFC 4861)');
      if (rec) d.step(L.name, 'router solicitation', `RA from ${v6.routerLlText} (${snap.routerMacText}): on-link ${s6.prefixText}, back out ${X.name}`);
      return hairpin(d, H_RA, snap.routerMac);
    }
    if (type === 136) return ignored(c, d, L, 'neighbour advertisement from a port', 'drop (the dataplane answers neighbour discovery itself)');
    if (type === 134) return ignored(c, d, L, 'router advertisement from a port', 'drop (a tenant is never a router)');
    if (type === 137) return ignored(c, d, L, 'redirect from a port', 'drop (a tenant is never a router)');
    if (type === 128 && toRouter && f.dstMac === snap.routerMac) {
      if (rec) d.step(L.name, `echo request to the router (${f.dst === s6.gatewayId ? s6.gatewayText : v6.routerLlText})`, 'answer with an echo reply');
      return hairpin(d, H_ECHO6_REPLY, snap.routerMac);
    }
  }
  if (toRouter) {
    if (rec) d.step(L.name, "to the router's own IPv6 address", 'not an echo request: drop');
    return dropWith(c, d, Drop.RouterLocal);
  }
  if (rec) d.step(L.name, null, 'not neighbour discovery or for the router: pass');
  return CONTINUE;
}
