/**
 * IPv6 ACL rules: compiled from rules whose prefixes are IPv6 (acl.ts hands them here), and the
 * match for IPv6 frames. A table's rules stay in one rank order for both families; an IPv6 frame
 * is matched linearly against the rules of family 6 and 0 ('*' both ways), on the address words
 * in FlowFields.a6 (ids are not prefixes). Linear is enough here: it runs on the slow path only
 * (a flow's first frame), and IPv6 rule sets are small; the IPv4 classifier is untouched.
 * Protocol 'ICMP' (1) in a rule matches ICMPv6 (58) in an IPv6 frame.
 */
import type { AclRule } from '../policy/types.js';
import { formatIpv6, parseCidr6, words6 } from '../wire/addr6.js';
import type { AclRuleC } from './acl-types.js';
import { PROTO_ANY } from './acl-types.js';
import { PROTO_ICMPV6, type FlowFields } from './flowkey.js';

function prefix6(text: string): { w: [number, number, number, number]; len: number; text: string } {
  const t = text.trim();
  if (t === '*' || t === '' || t.toLowerCase() === 'any') return { w: [0, 0, 0, 0], len: 0, text: '*' };
  const c = parseCidr6(t, true);
  if (typeof c === 'string') throw new Error(`bad IPv6 address prefix ${text}`);
  return { w: words6(c.net), len: c.len, text: c.len === 128 ? formatIpv6(c.net) : `${formatIpv6(c.net)}/${c.len}` };
}

function rangeOf(text: string): { lo: number; hi: number; text: string } {
  const t = text.trim();
  if (t === '*' || t === '') return { lo: 0, hi: 65535, text: '*' };
  const m = /^(\d+)(?:\s*-\s*(\d+))?$/.exec(t);
  if (!m) throw new Error(`bad port range ${text}`);
  const lo = Number(m[1]);
  const hi = m[2] === undefined ? lo : Number(m[2]);
  return { lo, hi, text: lo === hi ? `${lo}` : `${lo}-${hi}` };
}

/** A rule with an IPv6 prefix (the other one '*' or IPv6; validation refuses a mix). */
export function compileRule6(r: AclRule, acl: string, rank: number, proto: number): AclRuleC {
  if ((r.sourceAddressPrefix !== '*' && !r.sourceAddressPrefix.includes(':')) || (r.destinationAddressPrefix !== '*' && !r.destinationAddressPrefix.includes(':'))) {
    throw new Error(`ACL ${acl} rule ${r.name}: an IPv4 and an IPv6 prefix in one rule`);
  }
  const s = prefix6(r.sourceAddressPrefix);
  const d = prefix6(r.destinationAddressPrefix);
  const sp = rangeOf(r.sourcePortRange);
  const dp = rangeOf(r.destinationPortRange);
  const allow = r.action === 'Allow';
  const pt = proto === PROTO_ANY ? 'any' : proto === 6 ? 'tcp' : proto === 17 ? 'udp' : proto === 1 || proto === 58 ? 'icmpv6' : `proto ${proto}`;
  return {
    rank,
    name: r.name,
    acl,
    priority: r.priority,
    proto,
    srcNet: 0,
    srcLen: s.len,
    dstNet: 0,
    dstLen: d.len,
    spLo: sp.lo,
    spHi: sp.hi,
    dpLo: dp.lo,
    dpHi: dp.hi,
    allow,
    text: `${acl}/${r.name} (priority ${r.priority}) ${allow ? 'allow' : 'deny'} ${pt} ${s.text}:${sp.text} -> ${d.text}:${dp.text}`,
    family: 6,
    net6: Uint32Array.from([...s.w, ...d.w]),
    logging: r.logging === true,
  };
}

/** True when the first `len` bits of words a[at..at+4) equal those of n[nt..nt+4). */
function prefixMatch(a: Uint32Array, at: number, n: Uint32Array, nt: number, len: number): boolean {
  for (let i = 0; i < 4 && len > 0; i++, len -= 32) {
    const m = len >= 32 ? 0xffffffff : (0xffffffff << (32 - len)) >>> 0;
    if (((a[at + i] & m) >>> 0) !== ((n[nt + i] & m) >>> 0)) return false;
  }
  return true;
}

/** True when rule `r` matches the IPv6 frame `f`. */
export function ruleMatches6(r: AclRuleC, f: FlowFields): boolean {
  if (r.family === 4) return false;
  if (r.proto !== PROTO_ANY && r.proto !== f.proto && !(r.proto === 1 && f.proto === PROTO_ICMPV6)) return false;
  if (r.family === 6) {
    const n = r.net6!;
    if (r.srcLen !== 0 && !prefixMatch(f.a6, 0, n, 0, r.srcLen)) return false;
    if (r.dstLen !== 0 && !prefixMatch(f.a6, 4, n, 4, r.dstLen)) return false;
  }
  const spAny = r.spLo === 0 && r.spHi === 65535;
  const dpAny = r.dpLo === 0 && r.dpHi === 65535;
  if (spAny && dpAny) return true;
  if (!f.l4) return false;
  return f.sport >= r.spLo && f.sport <= r.spHi && f.dport >= r.dpLo && f.dport <= r.dpHi;
}

/** Rank of the first rule of `t` matching the IPv6 frame `f`, or -1. */
export function aclMatch6(t: { readonly rules: readonly AclRuleC[] }, f: FlowFields): number {
  const rules = t.rules;
  for (let i = 0; i < rules.length; i++) if (ruleMatches6(rules[i], f)) return rules[i].rank;
  return -1;
}
