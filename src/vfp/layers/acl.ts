/**
 * acl-out / acl-in: the port's ACL for that direction (acl.ts: subnet + port rules merged by
 * priority; no rules = allow all; rules = default deny), stateful. Before the first ACL layer of
 * a unicast IPv4 frame whose local port(s) have rules in either direction, connection tracking is
 * consulted once (conntrackStage): the reply direction of a live connection skips the ACLs, and so
 * does an ICMP or ICMPv6 error that quotes a packet of a tracked connection sent by the error's
 * destination (RELATED: flowkey.ts parseQuoted / parseQuoted6); otherwise the rules decide and, when the frame is allowed, the engine starts tracking it.
 * Only a party of the connection may use it (takesPart: on a virtual switch, the port that opened
 * it for the orig direction, the port it was delivered to for replies and related errors); a frame
 * of another port with the same 5-tuple is decided by that port's rules as a new frame (ctForeign)
 * and neither continues, ends nor restarts the connection.
 * Connections are keyed by the virtual network's stable id (zone), never its position.
 * Broadcast and multicast are not tracked: each copy is checked against the rules.
 */
import { aclMatchLinear, type AclTable } from '../acl.js';
import { aclMatch6 } from '../acl6.js';
import { K_IPV6, PROTO_TCP, PROTO_UDP, type FlowFields } from '../flowkey.js';
import { CT_ANY, CT_FLOOD, CT_ORIG, CT_REPLY, CT_STATE_NAMES } from '../conntrack.js';
import { CONTINUE, type Decision } from '../decision.js';
import { Drop } from '../drops.js';
import type { AclInput } from '../acl-types.js';
import type { Layer } from '../layer.js';
import type { PortInfo } from '../snapshot.js';
import { UF_DENY_CT_CHECK } from '../uft.js';
import { dropWith, ipText, isGroupMac, type LayerCtx } from './ctx.js';

/** The rank of the first rule of `t` matching `f`, or -1. */
export function aclLookup(c: LayerCtx, t: AclTable, f: AclInput): number {
  if ((f as FlowFields).kind === K_IPV6) return aclMatch6(t, f as FlowFields);
  const rank = t.classifier.lookup(f);
  if (c.checkLinear && rank !== aclMatchLinear(t, f)) throw new Error('ACL classifier disagrees with the linear reference');
  return rank;
}

/** The zone (virtual network id) of the frame being decided. */
function zoneOf(c: LayerCtx, d: Decision): number {
  return d.src !== null ? d.src.zone : c.snap.subnets[d.subnet].zone;
}

/** The orig-direction packet a flood's would-be receiver is asked about (one scratch record: no
 * allocation per frame). */
const floodProbe: AclInput = { isIp: true, proto: 0, src: 0, dst: 0, sport: 0, dport: 0, l4: false };

/**
 * True when the frame's input port may use connection `s` as side `dir` (conntrack.ts "Parties"):
 * the orig side is the port that opened it, the reply side the port it was delivered to. A
 * virtual switch's VMs set their own addresses, so the 5-tuple alone would let any port of the
 * switch speak for another's connection (its "reply" skipping its outbound rules and the
 * receiver's inbound ones). While only a flood delivered the connection (CT_FLOOD), the reply side
 * is any other port of the switch whose inbound rules take the orig-direction packet (`proto`
 * `src`:`sp` -> `dst`:`dp`; a port without inbound rules took every copy): the first such port to
 * use it becomes its receiver (not while tracing). CT_ANY (HNV) admits any port.
 */
function takesPart(c: LayerCtx, d: Decision, s: number, dir: number, proto: number, src: number, dst: number, sp: number, dp: number): boolean {
  const ct = c.ct;
  const o = ct.origin[s];
  if (o === CT_ANY) return true;
  const P = d.src;
  if (P === null) return false;
  if (dir === CT_ORIG) return P.index === o;
  const r = ct.receiver[s];
  if (r === P.index || r === CT_ANY) return true;
  if (r !== CT_FLOOD || P.index === o) return false;
  if (P.aclIn !== null) {
    const q = floodProbe;
    q.proto = proto & 0xff;
    q.src = src;
    q.dst = dst;
    q.l4 = q.proto === PROTO_TCP || q.proto === PROTO_UDP;
    q.sport = q.l4 ? sp : 0;
    q.dport = q.l4 ? dp : 0;
    const rank = aclLookup(c, P.aclIn, q);
    if (rank < 0 || !P.aclIn.rules[rank].allow) return false;
  }
  if (d.rec === null) ct.receiver[s] = P.index;
  return true;
}

/** A port's name for a trace. */
function portName(c: LayerCtx, p: number): string {
  return c.snap.portById[p]?.name ?? `port ${p}`;
}

/** Connection tracking for a unicast IPv4 frame with rules on its path (runs once per decision). */
function conntrackStage(c: LayerCtx, d: Decision): void {
  const f = d.f;
  d.track = true;
  const ct = c.ct;
  const zone = zoneOf(c, d);
  if (f.icmpErr) {
    d.cacheable = false; // relatedness depends on the quoted header, which is not in the flow key
    const q = f.qSrc === f.dst ? ct.findTuple(zone, f.qProto, f.qSrc, f.qDst, f.qSport, f.qDport, d.now) : -1;
    if (q >= 0 && ct.admitsReply(q)) {
      const quoted = d.rec === null ? '' : f.kind === K_IPV6 ? `ICMPv6 error quoting an IPv6 packet (next header ${f.qProto & 0xff}) sent by its destination` : `ICMP error quoting ${ipText(f.qSrc)} -> ${ipText(f.qDst)} proto ${f.qProto}`;
      // the error answers the quoted packet: its sender must be that packet's other side
      const other = ct.directionOf(q, f.qSrc, f.qSport) === CT_ORIG ? CT_REPLY : CT_ORIG;
      if (takesPart(c, d, q, other, f.qProto, f.qSrc, f.qDst, f.qSport, f.qDport)) {
        d.ctRelated = true;
        if (d.rec) d.step('conntrack', quoted, `related to a ${CT_STATE_NAMES[ct.state[q]]} connection: allow (ACLs skipped)`);
        return;
      }
      if (d.rec) d.step('conntrack', quoted, `related to a connection ${d.src!.name} took no part in (opened by ${portName(c, ct.origin[q])}): its own rules decide`);
    }
  }
  const s = ct.find(zone, f, d.now);
  const dir = s >= 0 ? ct.direction(s, f) : CT_ORIG;
  if (s >= 0 && !takesPart(c, d, s, dir, f.proto, f.dst, f.src, f.dport, f.sport)) {
    // another conversation's 5-tuple: decided as a new frame, and the connection is left alone
    d.ctForeign = true;
    d.cacheable = false;
    if (d.rec) {
      const r = ct.receiver[s];
      const parties = `opened by ${portName(c, ct.origin[s])}, ${r === CT_FLOOD ? 'flooded' : `delivered to ${portName(c, r)}`}`;
      d.step('conntrack', `${CT_STATE_NAMES[ct.state[s]]} connection from ${ipText(ct.origSrc[s])} (${dir === CT_ORIG ? 'orig' : 'reply'} direction; ${parties})`, `${d.src!.name} took no part in it: its own rules decide, as a new frame (the connection is left alone)`);
    }
    return;
  }
  if (s >= 0 && dir === CT_REPLY && ct.admitsReply(s, f.tcpFlags)) {
    d.ctReply = true;
    d.ct = s;
    if (d.rec) d.step('conntrack', `${CT_STATE_NAMES[ct.state[s]]} connection from ${ipText(ct.origSrc[s])}`, 'reply direction: allow (ACLs skipped)');
    return;
  }
  d.ct = s >= 0 && dir === CT_ORIG ? s : -1;
  if (d.rec) d.step('conntrack', s >= 0 ? `${CT_STATE_NAMES[ct.state[s]]} connection, ${dir === CT_ORIG ? 'orig' : 'closed reply'} direction` : null, 'evaluate ACLs');
}

/** True when local port `p` has rules in either direction: its connections are tracked both
 * ways (a reply that meets its inbound rules must find the connection its outbound frame made). */
export function hasRules(p: PortInfo | null): boolean {
  return p !== null && (p.aclIn !== null || p.aclOut !== null);
}

function aclLayer(c: LayerCtx, d: Decision, L: Layer, who: string): number {
  const f = d.f;
  // a switch port's VM speaks ARP (and whatever else it likes) itself: ACLs are for IP
  if (!f.isIp && f.kind !== K_IPV6 && (L.name === 'acl-out' ? d.src : d.dstPort)!.switchIndex >= 0) {
    if (d.rec) d.step(L.name, null, 'not IP on a switch port: ACLs apply to IP only, pass');
    return CONTINUE;
  }
  // A switch port's VM uses IPv6 addresses of its own, which policy does not know: they all share
  // id 0 (ip6.ts), so a connection or a cached verdict keyed by them would stand for every other
  // such flow (another flow with the ports reversed passed as a reply). Its rules decide each frame.
  const onSwitch = (L.name === 'acl-out' ? d.src : d.dstPort)!.switchIndex >= 0;
  const ownV6 = f.kind === K_IPV6 && onSwitch;
  // broadcast/multicast are never tracked (as on an HNV port); a switch port's acl-out runs before
  // the switch layer marks the frame a group one, so look at the MAC here (a broadcast "reply"
  // passed every port's inbound rules)
  const group = d.group || (onSwitch && isGroupMac(f.dstMac));
  if (ownV6) d.cacheable = false;
  else if (!group && !d.track && (f.isIp || f.kind === K_IPV6) && (hasRules(d.src) || hasRules(d.dstPort))) conntrackStage(c, d);
  if (d.ctReply || d.ctRelated) return CONTINUE;
  const t = L.acl;
  if (t === null) {
    if (d.rec) d.step(L.name, null, `no ${L.name === 'acl-in' ? 'inbound' : 'outbound'} rules on ${who}: allow`);
    return CONTINUE;
  }
  const rank = aclLookup(c, t, f);
  const allow = rank >= 0 && t.rules[rank].allow;
  if (rank >= 0 && t.rules[rank].logging && d.rec === null) {
    const r = t.rules[rank];
    const outbound = L.name === 'acl-out';
    c.aclLog.record(`${r.acl}/${r.name}`, who, outbound ? 'outbound' : 'inbound', f, allow, d.now);
  }
  if (d.rec) d.step(L.name, rank >= 0 ? t.rules[rank].text : null, rank >= 0 ? (allow ? 'allow' : 'deny') : `no rule matches on ${who}: deny (default)`);
  if (allow) return CONTINUE;
  // a denied orig direction ends the connection it would have continued (not while tracing); a
  // flooded copy only when it is the connection's receiver's (layers/switch.ts flood)
  if (d.ct >= 0 && d.rec === null && (!d.flooding || c.ct.receiver[d.ct] === d.dstPort!.index)) c.ct.kill(d.ct);
  return dropWith(c, d, Drop.AclDeny, d.track ? UF_DENY_CT_CHECK : 0);
}

export function aclOut(c: LayerCtx, d: Decision, L: Layer): number {
  return aclLayer(c, d, L, d.src!.name);
}

export function aclIn(c: LayerCtx, d: Decision, L: Layer): number {
  return aclLayer(c, d, L, d.dstPort!.name);
}
