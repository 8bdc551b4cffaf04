/**
 * Cross-object checks of the IPv6 part of a policy (semantic.ts calls ipv6Errors with the raw
 * document; like the rest of the semantic checks it looks only at fields that are well formed and
 * leaves malformed ones to the schema): a subnet's ipv6AddressPrefix lies inside an IPv6 prefix
 * of its virtual network and overlaps no other subnet's; an interface's ipv6Address needs a
 * dual-stack subnet, lies inside its prefix, is neither the prefix's own address nor the gateway
 * (prefix::1) and is unique in its virtual network; an ACL rule does not mix an IPv4 and an IPv6
 * prefix (no frame could match it).
 */
import { cidr6Contains, cidr6Overlap, formatIpv6, parseCidr6, parseIpv6, type Cidr6 } from '../wire/addr6.js';
import { formatPath } from './errors.js';
import type { PathSegment } from './errors.js';
import { ipv6Gateway } from './ipv6.js';

type Report = (path: PathSegment[], message: string) => void;

function records(raw: unknown): [number, Record<string, unknown>][] {
  if (!Array.isArray(raw)) return [];
  const out: [number, Record<string, unknown>][] = [];
  raw.forEach((e, i) => {
    if (typeof e === 'object' && e !== null && !Array.isArray(e)) out.push([i, e as Record<string, unknown>]);
  });
  return out;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function prefix6(v: unknown): Cidr6 | undefined {
  const s = str(v);
  if (s === undefined || !s.includes(':')) return undefined;
  const c = parseCidr6(s);
  return typeof c === 'string' ? undefined : c;
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < 16; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function ipv6Errors(doc: Record<string, unknown>, report: Report): void {
  const subnets = new Map<string, Cidr6 | null>();
  for (const [vi, vn] of records(doc.virtualNetworks)) {
    const vnName = str(vn.name) ?? `#${vi}`;
    const own = Array.isArray(vn.addressPrefixes) ? vn.addressPrefixes.map(prefix6).filter((c): c is Cidr6 => c !== undefined) : [];
    const placed: { name: string; c: Cidr6 }[] = [];
    for (const [si, s] of records(vn.subnets)) {
      const name = str(s.name) ?? `#${si}`;
      const c = prefix6(s.ipv6AddressPrefix);
      subnets.set(`${vnName}\u0000${name}`, c ?? null);
      if (c === undefined) continue;
      const path: PathSegment[] = ['virtualNetworks', vi, 'subnets', si, 'ipv6AddressPrefix'];
      if (!own.some((o) => cidr6Contains(o, c.net) && o.len <= c.len)) {
        report(path, `subnet ${formatIpv6(c.net)}/${c.len} outside the IPv6 address prefixes of virtual network ${vnName}`);
      }
      const clash = placed.find((p) => cidr6Overlap(p.c, c));
      if (clash) report(path, `subnet ${formatIpv6(c.net)}/${c.len} overlaps subnet ${clash.name} (${formatIpv6(clash.c.net)}/${clash.c.len})`);
      else placed.push({ name, c });
    }
  }
  const seen = new Map<string, number>();
  for (const [ni, nic] of records(doc.networkInterfaces)) {
    const text = str(nic.ipv6Address);
    const a = text === undefined ? undefined : parseIpv6(text);
    if (a === undefined) continue;
    const path: PathSegment[] = ['networkInterfaces', ni, 'ipv6Address'];
    const vnName = str(nic.virtualNetwork);
    const sub = subnets.get(`${vnName ?? ''}\u0000${str(nic.subnet) ?? ''}`);
    if (sub === null) {
      report(path, `subnet ${str(nic.subnet) ?? '?'} has no ipv6AddressPrefix`);
    } else if (sub !== undefined) {
      if (!cidr6Contains(sub, a)) report(path, `address ${formatIpv6(a)} outside subnet ${str(nic.subnet) ?? '?'} (${formatIpv6(sub.net)}/${sub.len})`);
      else if (same(a, sub.net)) report(path, `address ${formatIpv6(a)} is the subnet-router anycast address of subnet ${str(nic.subnet) ?? '?'}`);
      else if (same(a, ipv6Gateway(sub.net))) report(path, `address ${formatIpv6(a)} is the gateway of subnet ${str(nic.subnet) ?? '?'} (owned by the distributed router)`);
    }
    const key = `${vnName ?? ''} ${formatIpv6(a)}`;
    const earlier = seen.get(key);
    if (earlier !== undefined) report(path, `duplicate address ${formatIpv6(a)} in virtual network ${vnName ?? '?'} (also ${formatPath(['networkInterfaces', earlier])})`);
    else seen.set(key, ni);
  }
  for (const [ai, acl] of records(doc.accessControlLists)) {
    for (const [ri, r] of records(acl.aclRules)) {
      const s = str(r.sourceAddressPrefix);
      const d = str(r.destinationAddressPrefix);
      if (s === undefined || d === undefined || s === '*' || d === '*') continue;
      if (s.includes(':') !== d.includes(':')) {
        report(['accessControlLists', ai, 'aclRules', ri, 'destinationAddressPrefix'], `an IPv4 and an IPv6 prefix in one rule (${s} -> ${d}): no frame can match it`);
      }
    }
  }
}
