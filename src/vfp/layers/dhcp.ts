/**
 * dhcp (outbound, after port-security): DHCP from policy. A DHCPv4 client message (UDP 68 -> 67)
 * from a Dynamic port is answered by the dataplane itself (a hairpin: dataplane/dhcp-reply.ts
 * reads the message and writes the offer, ack or nak from the port's policy); from a Static port
 * it is dropped. Server messages (UDP 67 -> 68) from any port are dropped (no rogue DHCP server
 * reaches a neighbour, as Hyper-V's DHCP guard). So no DHCP is ever forwarded between ports or to
 * the wire. dhcp-in (from the wire): the same two kinds are dropped, whatever another host sends.
 */
import { CONTINUE, DONE, H_DHCP, V_HAIRPIN, type Decision } from '../decision.js';
import { Drop } from '../drops.js';
import { K_IPV4, PROTO_UDP } from '../flowkey.js';
import type { Layer } from '../layer.js';
import { dropWith, type LayerCtx } from './ctx.js';

/** 1: client -> server (68 -> 67), 2: server -> client (67 -> 68), 0: not DHCP. */
function dhcpKind(d: Decision): number {
  const f = d.f;
  if (f.kind !== K_IPV4 || f.proto !== PROTO_UDP || !f.l4) return 0;
  if (f.sport === 68 && f.dport === 67) return 1;
  if (f.sport === 67 && f.dport === 68) return 2;
  return 0;
}

export function dhcp(c: LayerCtx, d: Decision, L: Layer): number {
  const k = dhcpKind(d);
  const rec = d.rec !== null;
  if (k === 0) {
    if (rec) d.step(L.name, null, 'not DHCP: pass');
    return CONTINUE;
  }
  const X = d.src!;
  if (k === 2) {
    if (rec) d.step(L.name, 'DHCP server message (67 -> 68) from a port', 'drop (only the dataplane serves DHCP)');
    return dropWith(c, d, Drop.Dhcp);
  }
  if (!X.dhcp) {
    if (rec) d.step(L.name, `DHCP client message from ${X.name}`, 'Static port (its CA is set by the agent): drop, never forwarded');
    return dropWith(c, d, Drop.Dhcp);
  }
  if (rec) d.step(L.name, `DHCP client message from Dynamic port ${X.name}`, `answer from policy: ${X.ipText}/${X.prefixLen}, router ${X.gatewayText}, MTU ${X.mtu}`);
  d.verdict = V_HAIRPIN;
  d.hairpin = H_DHCP;
  d.hairpinMac = c.snap.routerMac;
  d.cacheable = false;
  return DONE;
}

export function dhcpIn(c: LayerCtx, d: Decision, L: Layer): number {
  if (dhcpKind(d) === 0) {
    if (d.rec) d.step(L.name, null, 'not DHCP: pass');
    return CONTINUE;
  }
  if (d.rec) d.step(L.name, 'DHCP message from the wire', 'drop (DHCP is answered on the port\'s own host, never forwarded)');
  return dropWith(c, d, Drop.Dhcp);
}
