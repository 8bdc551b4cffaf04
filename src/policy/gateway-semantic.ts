/**
 * Cross-object checks of the HNV gateway (issue 14: `virtualNetworks[].gateway: {host, nat}`),
 * run by semantic.ts on the well-formed fields of a raw document:
 *   - the gateway host is a host of the policy;
 *   - on one gateway host, the IPv4 subnets of two virtual networks do not overlap: the host's
 *     kernel routes a reply (after NAT) by its destination prefix to one gateway vNIC, so two
 *     tenants with the same CAs need different gateway hosts (Figure 8's Contoso and Fabrikam);
 *   - nor do they overlap the prefix of an Internal switch's host vNIC on that host (two routes
 *     for one prefix; and a NAT serves exactly such a prefix).
 */
import { formatPath, type PathSegment } from './errors.js';
import { formatCidr, parseCidr, parseInterfaceAddress, type Cidr } from './addr.js';

type Report = (path: PathSegment[], message: string) => void;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const overlaps = (a: Cidr, b: Cidr): boolean => {
  const len = Math.min(a.prefixLength, b.prefixLength);
  const mask = len === 0 ? 0 : (~0 << (32 - len)) >>> 0;
  return ((a.network & mask) >>> 0) === ((b.network & mask) >>> 0);
};

const text = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

interface Routed {
  vn: string;
  subnet: string;
  cidr: Cidr;
}

/** Reports the gateway problems of `doc.virtualNetworks`; `hostNames` are the policy's hosts. */
export function gatewayErrors(doc: Record<string, unknown>, hostNames: ReadonlySet<string>, report: Report): void {
  if (!Array.isArray(doc.virtualNetworks)) return;
  // Internal switches' host vNIC prefixes, on the hosts where the switch has a port
  const vnicPrefixes = new Map<string, { sw: string; cidr: Cidr }[]>();
  const switchHosts = new Map<string, Set<string>>();
  for (const n of Array.isArray(doc.networkInterfaces) ? doc.networkInterfaces : []) {
    if (!isRecord(n) || text(n.switch) === undefined || text(n.host) === undefined) continue;
    let s = switchHosts.get(n.switch as string);
    if (s === undefined) switchHosts.set(n.switch as string, (s = new Set()));
    s.add(n.host as string);
  }
  for (const sw of Array.isArray(doc.switches) ? doc.switches : []) {
    if (!isRecord(sw) || text(sw.name) === undefined || text(sw.hostAddress) === undefined) continue;
    const a = parseInterfaceAddress(sw.hostAddress as string);
    if (typeof a === 'string') continue;
    for (const h of switchHosts.get(sw.name as string) ?? []) {
      let l = vnicPrefixes.get(h);
      if (l === undefined) vnicPrefixes.set(h, (l = []));
      l.push({ sw: sw.name as string, cidr: a.prefix });
    }
  }
  const byHost = new Map<string, Routed[]>();
  doc.virtualNetworks.forEach((vn, i) => {
    if (!isRecord(vn) || !isRecord(vn.gateway)) return;
    const host = text(vn.gateway.host);
    if (host === undefined) return; // the schema reports it
    const at: PathSegment[] = ['virtualNetworks', i, 'gateway', 'host'];
    if (!hostNames.has(host)) {
      report(at, `unknown host ${host}`);
      return;
    }
    const name = text(vn.name) ?? formatPath(['virtualNetworks', i]);
    const mine: Routed[] = [];
    for (const s of Array.isArray(vn.subnets) ? vn.subnets : []) {
      if (!isRecord(s) || text(s.addressPrefix) === undefined) continue;
      const c = parseCidr(s.addressPrefix as string);
      if (typeof c !== 'string') mine.push({ vn: name, subnet: text(s.name) ?? '?', cidr: c });
    }
    const placed = byHost.get(host) ?? [];
    for (const m of mine) {
      const clash = placed.find((p) => overlaps(p.cidr, m.cidr));
      if (clash) {
        report(at, `subnet ${m.subnet} (${formatCidr(m.cidr)}) overlaps subnet ${clash.subnet} (${formatCidr(clash.cidr)}) of virtual network ${clash.vn}, whose gateway is host ${host} too: a gateway host routes replies by destination prefix, so overlapping address spaces need different gateway hosts`);
        return;
      }
      const vnic = (vnicPrefixes.get(host) ?? []).find((p) => overlaps(p.cidr, m.cidr));
      if (vnic) {
        report(at, `subnet ${m.subnet} (${formatCidr(m.cidr)}) overlaps the host vNIC prefix ${formatCidr(vnic.cidr)} of Internal switch ${vnic.sw} on host ${host}: the host would have two routes for it`);
        return;
      }
    }
    byHost.set(host, [...placed, ...mine]);
  });
}
