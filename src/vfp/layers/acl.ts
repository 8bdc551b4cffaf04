/**
 * acl-out / acl-in: the port's ACL for that direction (acl.ts: subnet + port rules merged by
 * priority; no rules = allow all; rules = default deny), stateful. Before the first ACL layer of
 * a unicast IPv4 frame whose local port(s) have rules in either direction, connection tracking is
 * consulted once (conntrackStage): the reply direction of a live connection skips the ACLs, and so
 * does an ICMP or ICMPv6 error that quotes a packet of a tracked connection sent by the error's
 * destination (RELATED: flowkey.ts parseQuoted / parseQuoted6); otherwise the rules decide and, when the frame is allowed, the engine starts tracking it.
 * Connections are keyed by the virtual network's stable id (zone), never its position.
 * Broadcast and multicast are not tracked: each copy is checked against the rules.
 */
import { aclMatchLinear, type AclTable } from '../acl.js';
import { aclMatch6 } from '../acl6.js';
import { K_IPV6, type FlowFields } from '../flowkey.js';
import { CT_ORIG, CT_REPLY, CT_STATE_NAMES } from '../conntrack.js';
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
      d.ctRelated = true;
      if (d.rec) {
        const quoted = f.kind === K_IPV6 ? `ICMPv6 error quoting an IPv6 packet (next header ${f.qProto & 0xff}) sent by its destination` : `ICMP error quoting ${ipText(f.qSrc)} -> ${ipText(f.qDst)} proto ${f.qProto}`;
        d.step('conntrack', quoted, `related to a ${CT_STATE_NAMES[ct.state[q]]} connection: allow (ACLs skipped)`);
      }
      return;
    }
  }
  const s = ct.find(zone, f, d.now);
  const dir = s >= 0 ? ct.direction(s, f) : CT_ORIG;
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
  // a denied orig direction ends the connection it would have continued (not while tracing)
  if (d.ct >= 0 && d.rec === null) c.ct.kill(d.ct);
  return dropWith(c, d, Drop.AclDeny, d.track ? UF_DENY_CT_CHECK : 0);
}

export function aclOut(c: LayerCtx, d: Decision, L: Layer): number {
  return aclLayer(c, d, L, d.src!.name);
}

export function aclIn(c: LayerCtx, d: Decision, L: Layer): number {
  return aclLayer(c, d, L, d.dstPort!.name);
}
