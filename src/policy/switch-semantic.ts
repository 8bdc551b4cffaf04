/**
 * Cross-object checks of the Hyper-V style switches and NATs (issue 14), run by semantic.ts on the
 * well-formed fields of a raw document: unique switch and NAT names; a NAT's internal prefix is the
 * prefix of an Internal switch's host vNIC (New-NetNat on an internal switch, as the seed's NAT
 * networking); NAT prefixes do not overlap; a static mapping's internal address is inside its
 * NAT's prefix; no two static mappings take the same external protocol/port (an address of 0.0.0.0
 * means every address of the host, so it clashes with any). Whether a netAdapterName exists is a
 * fact of one host: its agent checks that when it applies the policy (agent/vswitch.ts).
 */
import type { PathSegment } from './errors.js';
import { formatPath } from './errors.js';
import { cidrContainsAddress, formatCidr, parseCidr, parseInterfaceAddress, parseIpv4 } from './addr.js';
import type { Cidr } from './addr.js';
import { NatSchema, NatStaticMappingSchema, VirtualSwitchSchema } from './schema.js';
import { z } from 'zod';

type Report = (path: PathSegment[], message: string) => void;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The fields of `raw` that pass their own schema. */
function fields<S extends z.ZodObject>(schema: S, raw: Record<string, unknown>): Partial<z.output<S>> {
  const out: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(schema.shape as Record<string, z.ZodType>)) {
    const r = field.safeParse(raw[key]);
    if (r.success) out[key] = r.data;
  }
  return out as Partial<z.output<S>>;
}

function each(raw: unknown, path: PathSegment[], fn: (element: Record<string, unknown>, path: PathSegment[]) => void): void {
  if (!Array.isArray(raw)) return;
  raw.forEach((element, index) => {
    if (isRecord(element)) fn(element, [...path, index]);
  });
}

const overlaps = (a: Cidr, b: Cidr): boolean => {
  const len = Math.min(a.prefixLength, b.prefixLength);
  const mask = len === 0 ? 0 : (~0 << (32 - len)) >>> 0;
  return ((a.network & mask) >>> 0) === ((b.network & mask) >>> 0);
};

/** Reports the problems of `doc.switches` and `doc.nats`; returns the switch names. */
export function switchErrors(doc: Record<string, unknown>, report: Report): Set<string> {
  const names = new Set<string>();
  const seen = new Map<string, PathSegment[]>();
  /** Internal switches' host prefixes (network/len) -> switch name. */
  const internal = new Map<string, string>();
  each(doc.switches, ['switches'], (raw, path) => {
    const sw = fields(VirtualSwitchSchema as unknown as z.ZodObject, raw) as { name?: string; switchType?: string; hostAddress?: string };
    if (sw.name !== undefined) {
      const earlier = seen.get(sw.name);
      if (earlier) report([...path, 'name'], `duplicate switch name ${sw.name} (also ${formatPath(earlier)})`);
      else seen.set(sw.name, path);
      names.add(sw.name);
    }
    if (sw.switchType === 'Internal' && sw.hostAddress !== undefined && sw.name !== undefined) {
      const c = parseInterfaceAddress(sw.hostAddress);
      if (typeof c !== 'string') internal.set(formatCidr(c.prefix), sw.name);
    }
  });

  const natSeen = new Map<string, PathSegment[]>();
  const prefixes: { cidr: Cidr; name: string; path: PathSegment[] }[] = [];
  const ports = new Map<string, { ext: number; path: PathSegment[] }[]>();
  each(doc.nats, ['nats'], (raw, path) => {
    const nat = fields(NatSchema, raw);
    if (nat.name !== undefined) {
      const earlier = natSeen.get(nat.name);
      if (earlier) report([...path, 'name'], `duplicate NAT name ${nat.name} (also ${formatPath(earlier)})`);
      else natSeen.set(nat.name, path);
    }
    let cidr: Cidr | undefined;
    if (nat.internalIPInterfaceAddressPrefix !== undefined) {
      const c = parseCidr(nat.internalIPInterfaceAddressPrefix);
      if (typeof c !== 'string') {
        cidr = c;
        const at = [...path, 'internalIPInterfaceAddressPrefix'];
        if (!internal.has(formatCidr(c))) {
          report(at, `${nat.internalIPInterfaceAddressPrefix} is no Internal switch's prefix (a NAT serves the ports behind an Internal switch whose hostAddress is in exactly this prefix)`);
        }
        const clash = prefixes.find((p) => overlaps(p.cidr, c));
        if (clash) report(at, `NAT prefix ${nat.internalIPInterfaceAddressPrefix} overlaps NAT ${clash.name} (${formatCidr(clash.cidr)})`);
        prefixes.push({ cidr: c, name: nat.name ?? formatPath(path), path });
      }
    }
    each(raw.staticMappings, [...path, 'staticMappings'], (mraw, mpath) => {
      const m = fields(NatStaticMappingSchema, mraw);
      if (m.internalIPAddress !== undefined && cidr !== undefined && !cidrContainsAddress(cidr, parseIpv4(m.internalIPAddress)!)) {
        report([...mpath, 'internalIPAddress'], `${m.internalIPAddress} is outside the NAT's prefix ${formatCidr(cidr)}`);
      }
      if (m.protocol === undefined || m.externalPort === undefined) return;
      const ext = parseIpv4(m.externalIPAddress ?? '0.0.0.0') ?? 0;
      const key = `${m.protocol} ${m.externalPort}`;
      const taken = (ports.get(key) ?? []).find((p) => p.ext === 0 || ext === 0 || p.ext === ext);
      if (taken) report([...mpath, 'externalPort'], `external port ${m.protocol} ${m.externalPort} is taken by ${formatPath(taken.path)}`);
      else ports.set(key, [...(ports.get(key) ?? []), { ext, path: mpath }]);
    });
  });
  return names;
}
