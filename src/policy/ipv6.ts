/**
 * IPv6 in the tenant model: the text checks the schema uses (addresses and prefixes, normalised
 * to RFC 5952 form so that one address has one spelling in every later comparison), and the
 * cross-object checks semantic.ts runs (semantic-ipv6.ts). A dual-stack subnet's gateway is the
 * first address after the prefix's own (prefix::1), as for IPv4; the prefix's own address is the
 * subnet-router anycast address (RFC 4291 2.6.1). Neither is a usable CA.
 */
import { formatIpv6, parseCidr6, parseIpv6 } from '../wire/addr6.js';

export type TextResult = { ok: string } | { problem: string };

/** An IPv6 unicast address (not ::, not multicast, not link-local: a CA is routable) in RFC 5952 form. */
export function ipv6AddressText(value: string): TextResult {
  const a = parseIpv6(value);
  if (a === undefined) return { problem: `not an IPv6 address: ${value}` };
  if (a[0] === 0xff) return { problem: `not a unicast IPv6 address: ${value}` };
  if (a[0] === 0xfe && (a[1]! & 0xc0) === 0x80) return { problem: `link-local address ${value}: a CA must be global or unique-local (the link-local one is derived from the MAC)` };
  if (a.every((x) => x === 0)) return { problem: `unspecified address ${value}` };
  return { ok: formatIpv6(a) };
}

/** An IPv6 prefix (no host bits) in RFC 5952 form; `bare`: an address alone means /128. */
export function ipv6PrefixText(value: string, opts: { bare?: boolean; minLen?: number; maxLen?: number } = {}): TextResult {
  const c = parseCidr6(value, opts.bare ?? false);
  if (typeof c === 'string') return { problem: c };
  if (opts.minLen !== undefined && c.len < opts.minLen) return { problem: `IPv6 prefix ${value} too large (at least /${opts.minLen})` };
  if (opts.maxLen !== undefined && c.len > opts.maxLen) return { problem: `IPv6 prefix ${value} too small (at most /${opts.maxLen})` };
  return { ok: `${formatIpv6(c.net)}/${c.len}` };
}

/** The gateway of a subnet's IPv6 prefix: prefix::1. */
export function ipv6Gateway(prefix: Uint8Array): Uint8Array {
  const g = prefix.slice();
  g[15] = g[15]! | 1;
  return g;
}
