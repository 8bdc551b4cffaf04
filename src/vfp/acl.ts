/**
 * The ACL layer's rule model. A port's rules for one direction are its subnet's ACL and its own
 * ACL merged by priority (lower number first; on a tie the port's own rule first, then document
 * order): the merged position is the rule's `rank`, and the first matching rank wins. A direction
 * with no rules at all allows everything (no ACL attached means allow all); a direction with rules
 * denies what none of them matches (an allow-list, as an attached ACL means "these are the rules").
 *
 * Matching: protocol (any, or a number; TCP 6, UDP 17, ICMP 1), source and destination prefix,
 * source and destination port ranges. A rule with a port range other than '*' matches only TCP and
 * UDP frames that carry ports (first fragments). A rule with IPv6 prefixes matches only IPv6
 * frames (acl6.ts), one with IPv4 prefixes only IPv4 frames, one with '*' both; 'ICMP' means
 * ICMPv6 for IPv6 frames. Other frames (ARP, other ethertypes) match only rules that match
 * everything (protocol All, both prefixes '*', both ranges '*').
 *
 * `aclMatchLinear` is the trivial reference the classifier (classifier.ts) is checked against.
 */
import type { AccessControlList, AclProtocol, AclRule } from '../policy/types.js';
import { maskOf, parseCidr, parseIpv4 } from '../policy/addr.js';
import { AclClassifier } from './classifier.js';
import { compileRule6 } from './acl6.js';
import { PROTO_ANY, type AclInput, type AclRuleC } from './acl-types.js';

export { PROTO_ANY, type AclInput, type AclRuleC };

/** A port's rules for one direction, in rank order, and their classifier. */
export interface AclTable {
  readonly rules: readonly AclRuleC[];
  readonly classifier: AclClassifier;
}

export function protoNumber(p: AclProtocol): number {
  if (typeof p === 'number') return p;
  switch (p) {
    case 'All':
      return PROTO_ANY;
    case 'TCP':
      return 6;
    case 'UDP':
      return 17;
    case 'ICMP':
      return 1;
  }
  throw new Error(`unknown protocol ${String(p)}`);
}

function protoText(p: number): string {
  return p === PROTO_ANY ? 'any' : p === 6 ? 'tcp' : p === 17 ? 'udp' : p === 1 ? 'icmp' : `proto ${p}`;
}

function parsePrefix(text: string): { net: number; len: number } {
  const t = text.trim();
  if (t === '*' || t === '' || t.toLowerCase() === 'any') return { net: 0, len: 0 };
  const c = parseCidr(t, true);
  if (typeof c !== 'string') return { net: c.network, len: c.prefixLength };
  // tolerate host bits: mask them off (validation reports them; compilation must not fail)
  const slash = t.indexOf('/');
  const ip = parseIpv4(slash < 0 ? t : t.slice(0, slash));
  const len = slash < 0 ? 32 : Number(t.slice(slash + 1));
  if (ip === undefined || !(len >= 0 && len <= 32)) throw new Error(`bad address prefix ${text}`);
  return { net: (ip & maskOf(len)) >>> 0, len };
}

function parseRange(text: string): { lo: number; hi: number } {
  const t = text.trim();
  if (t === '*' || t === '') return { lo: 0, hi: 65535 };
  const m = /^(\d+)(?:\s*-\s*(\d+))?$/.exec(t);
  if (!m) throw new Error(`bad port range ${text}`);
  const lo = Number(m[1]);
  const hi = m[2] === undefined ? lo : Number(m[2]);
  if (lo > 65535 || hi > 65535 || lo > hi) throw new Error(`bad port range ${text}`);
  return { lo, hi };
}

function prefixText(net: number, len: number): string {
  if (len === 0) return '*';
  const a = `${net >>> 24}.${(net >>> 16) & 255}.${(net >>> 8) & 255}.${net & 255}`;
  return len === 32 ? a : `${a}/${len}`;
}

function rangeText(lo: number, hi: number): string {
  return lo === 0 && hi === 65535 ? '*' : lo === hi ? `${lo}` : `${lo}-${hi}`;
}

function compileRule(r: AclRule, acl: string, rank: number): AclRuleC {
  if (r.sourceAddressPrefix.includes(':') || r.destinationAddressPrefix.includes(':')) return compileRule6(r, acl, rank, protoNumber(r.protocol));
  const proto = protoNumber(r.protocol);
  const s = parsePrefix(r.sourceAddressPrefix);
  const d = parsePrefix(r.destinationAddressPrefix);
  const sp = parseRange(r.sourcePortRange);
  const dp = parseRange(r.destinationPortRange);
  const allow = r.action === 'Allow';
  const text =
    `${acl}/${r.name} (priority ${r.priority}) ${allow ? 'allow' : 'deny'} ${protoText(proto)} ` +
    `${prefixText(s.net, s.len)}:${rangeText(sp.lo, sp.hi)} -> ${prefixText(d.net, d.len)}:${rangeText(dp.lo, dp.hi)}`;
  return {
    rank,
    name: r.name,
    acl,
    priority: r.priority,
    proto,
    srcNet: s.net,
    srcLen: s.len,
    dstNet: d.net,
    dstLen: d.len,
    spLo: sp.lo,
    spHi: sp.hi,
    dpLo: dp.lo,
    dpHi: dp.hi,
    allow,
    logging: r.logging === true,
    text,
    family: s.len === 0 && d.len === 0 ? 0 : 4,
    net6: null,
  };
}

/**
 * Merges the rules of `type` from the subnet's ACL and the port's ACL (either may be absent) into
 * one ranked table; null when there are none (allow all).
 */
export function compileAclTable(
  subnetAcl: AccessControlList | undefined,
  portAcl: AccessControlList | undefined,
  type: 'Inbound' | 'Outbound',
): AclTable | null {
  const items: { r: AclRule; acl: string; own: number; order: number }[] = [];
  let order = 0;
  for (const [acl, own] of [
    [portAcl, 0],
    [subnetAcl, 1],
  ] as const) {
    if (!acl) continue;
    for (const r of acl.aclRules) if (r.type === type) items.push({ r, acl: acl.name, own, order: order++ });
  }
  if (items.length === 0) return null;
  items.sort((a, b) => a.r.priority - b.r.priority || a.own - b.own || a.order - b.order);
  const rules = items.map((it, rank) => compileRule(it.r, it.acl, rank));
  // IPv6 rules are matched by acl6.ts on the address bits; the IPv4 classifier never sees them
  return { rules, classifier: new AclClassifier(rules.filter((r) => r.family !== 6)) };
}

/** True when rule `r` matches `f` (the definition both classifiers implement). */
export function ruleMatches(r: AclRuleC, f: AclInput): boolean {
  if (r.family === 6) return false;
  if (!f.isIp) {
    return r.proto === PROTO_ANY && r.srcLen === 0 && r.dstLen === 0 && r.spLo === 0 && r.spHi === 65535 && r.dpLo === 0 && r.dpHi === 65535;
  }
  if (r.proto !== PROTO_ANY && r.proto !== f.proto) return false;
  if (r.srcLen !== 0 && ((f.src & maskOf(r.srcLen)) >>> 0) !== r.srcNet) return false;
  if (r.dstLen !== 0 && ((f.dst & maskOf(r.dstLen)) >>> 0) !== r.dstNet) return false;
  const spAny = r.spLo === 0 && r.spHi === 65535;
  const dpAny = r.dpLo === 0 && r.dpHi === 65535;
  if (spAny && dpAny) return true;
  if (!f.l4) return false;
  return f.sport >= r.spLo && f.sport <= r.spHi && f.dport >= r.dpLo && f.dport <= r.dpHi;
}

/** The linear reference: rank of the first matching rule, or -1. */
export function aclMatchLinear(t: AclTable, f: AclInput): number {
  for (const r of t.rules) if (ruleMatches(r, f)) return r.rank;
  return -1;
}
