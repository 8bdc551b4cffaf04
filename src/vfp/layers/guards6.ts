/**
 * The IPv6 halves of the two guard layers (port-security.ts and ingress-guard.ts hand IPv6 frames
 * here). Source validation, decided and documented: a dual-stack port may send from its IPv6 CA
 * and from exactly one link-local address, the EUI-64 one derived from its MAC (what Linux, and
 * Windows with stable privacy off, configure; any other fe80:: address would let one port claim
 * link-local addresses that ND on its segment answers for nobody, so it is refused). The
 * unspecified address :: is allowed only for ICMPv6 messages a host sends before it has an
 * address: duplicate address detection (NS), router solicitation and MLD reports; the nd layer
 * then answers or drops them, and nothing from :: is ever forwarded. IPv6 fragments are handled
 * as IPv4's: each meets these guards (a later fragment has no upper-layer header: its source is
 * checked, then the verdict of its datagram's first fragment applies, frag.ts); only fragmented
 * neighbour discovery and MLD are dropped (RFC 6980: receivers discard them), as ipv6-fragment.
 * From the wire, an inner IPv6 frame must belong to a dual-stack subnet, carry no neighbour
 * discovery or MLD (each host answers ND itself, so none crosses a tunnel), and come from the CA
 * or link-local address of the endpoint it claims on the host that sent it (or, routed, from a
 * CA of the virtual network on that host).
 */
import { CONTINUE, type Decision } from '../decision.js';
import { Drop } from '../drops.js';
import { PROTO_ICMPV6 } from '../flowkey.js';
import type { Layer } from '../layer.js';
import { dropWith, macText, type LayerCtx } from './ctx.js';

function unspecified(a: Uint32Array): boolean {
  return a[0] === 0 && a[1] === 0 && a[2] === 0 && a[3] === 0;
}

/** ICMPv6 types a host sends from :: (DAD NS, RS, MLD). */
function fromUnspecifiedOk(proto: number, type: number): boolean {
  return proto === PROTO_ICMPV6 && (type === 135 || type === 133 || type === 131 || type === 132 || type === 143);
}

/** Neighbour discovery and MLD: answered by each host itself, never carried between hosts. */
function isNdOrMld(proto: number, type: number): boolean {
  return proto === PROTO_ICMPV6 && ((type >= 130 && type <= 137) || type === 143);
}

/** A malformed IPv6 packet: dropped, and never cached (its key fields may be partly stale). */
function malformed(c: LayerCtx, d: Decision, L: Layer): number {
  d.cacheable = false;
  if (d.rec) d.step(L.name, 'IPv6', 'malformed (lengths, extension headers or L4 header): drop');
  return dropWith(c, d, Drop.Malformed);
}

/** port-security for an IPv6 frame from port d.src (its source MAC already checked). */
export function portSecurity6(c: LayerCtx, d: Decision, L: Layer): number {
  const f = d.f;
  const X = d.src!;
  const rec = d.rec !== null;
  const e6 = X.v6;
  if (e6 === null) {
    if (rec) d.step(L.name, 'IPv6', `${X.name} has no IPv6 CA: drop`);
    return dropWith(c, d, Drop.Ipv6Disabled);
  }
  if (f.bad6) return malformed(c, d, L);
  if (f.frag && f.fragOff === 0 && isNdOrMld(f.proto, f.sport >>> 8)) {
    if (rec) d.step(L.name, `fragmented ICMPv6 type ${f.sport >>> 8}`, 'drop (neighbour discovery and MLD are never fragmented, RFC 6980)');
    return dropWith(c, d, Drop.Ipv6Fragment);
  }
  if (f.src !== 0 && (f.src === e6.id || f.src === e6.llId)) {
    if (rec) d.step(L.name, `from ${X.macText} ${f.src === e6.id ? e6.text : e6.llText}`, 'own addresses: pass');
    return CONTINUE;
  }
  if (unspecified(f.a6) && fromUnspecifiedOk(f.proto, f.sport >>> 8)) {
    if (rec) d.step(L.name, 'from ::', `ICMPv6 type ${f.sport >>> 8} before an address is configured: pass (never forwarded)`);
    return CONTINUE;
  }
  if (rec) d.step(L.name, `IPv6 source must be ${e6.text} or ${e6.llText}`, 'other source: drop (spoofed)');
  return dropWith(c, d, Drop.Spoofed);
}

/** ingress-guard for a decapsulated IPv6 frame from host d.srcHost for subnet d.subnet. */
export function ingressGuard6(c: LayerCtx, d: Decision, L: Layer): number {
  const f = d.f;
  const snap = c.snap;
  const rec = d.rec !== null;
  const s = snap.subnets[d.subnet];
  if (s.v6 === null) {
    if (rec) d.step(L.name, 'inner IPv6', `VSID ${s.vsid} has no IPv6 prefix: drop`);
    return dropWith(c, d, Drop.Ipv6Disabled);
  }
  if (f.bad6) return malformed(c, d, L);
  if (isNdOrMld(f.proto, f.sport >>> 8)) {
    if (rec) d.step(L.name, `inner ICMPv6 type ${f.sport >>> 8}`, 'neighbour discovery / MLD never crosses the wire: drop');
    return dropWith(c, d, Drop.NdIgnored);
  }
  const host = d.srcHost >= 0 ? snap.hosts[d.srcHost].name : 'an unknown host';
  if (f.srcMac === snap.routerMac) {
    const ep = f.src === 0 ? -1 : (snap.v6.endpointById[s.rdid].get(f.src) ?? -1);
    if (ep < 0 || snap.endpoints[ep].hostIndex !== d.srcHost) {
      if (rec) d.step(L.name, `routed IPv6 frame from ${host}`, `source is no IPv6 CA of ${s.virtualNetwork} on ${host}: drop`);
      return dropWith(c, d, Drop.SrcNotOwned);
    }
    if (rec) d.step(L.name, `routed by ${host}`, `source ${snap.endpoints[ep].v6!.text} is ${snap.endpoints[ep].name} on ${host}: pass`);
    return CONTINUE;
  }
  const ep = snap.endpointByMac[d.subnet].get(f.srcMac) ?? -1;
  const e = ep >= 0 ? snap.endpoints[ep] : null;
  if (e === null || e.hostIndex !== d.srcHost) {
    if (rec) d.step(L.name, null, `source MAC ${macText(f.srcMac)} is no endpoint of VSID ${s.vsid} on ${host}: drop`);
    return dropWith(c, d, Drop.SrcNotOwned);
  }
  if (e.v6 === null || f.src === 0 || (f.src !== e.v6.id && f.src !== e.v6.llId)) {
    if (rec) d.step(L.name, e.v6 === null ? `${e.name} has no IPv6 CA` : `IPv6 source must be ${e.v6.text} or ${e.v6.llText}`, 'other source: drop');
    return dropWith(c, d, Drop.SrcNotOwned);
  }
  if (rec) d.step(L.name, `${e.name} on ${host}`, 'source owned by the sending host: pass');
  return CONTINUE;
}
