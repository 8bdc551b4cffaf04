// Subnet overlap and containment checks (semantic.ts) are map-based, not a scan of every earlier
// subnet: checked against the old quadratic algorithm on random prefixes, and on 8000 subnets.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cidrContains, cidrsOverlap, formatCidr, parseCidr } from '../../src/policy/addr.js';
import type { Cidr } from '../../src/policy/addr.js';
import { semanticErrors } from '../../src/policy/semantic.js';

function doc(addressPrefixes: string[], prefixes: string[]): unknown {
  const subnets = prefixes.map((addressPrefix, i) => ({ name: `s${i}`, vsid: 10000 + i, addressPrefix }));
  return { hosts: [], networkInterfaces: [], virtualNetworks: [{ name: 'v', addressPrefixes, subnets }] };
}

/** The subnet messages as the quadratic algorithm (before issue 16) gave them. */
function reference(addressPrefixes: string[], prefixes: string[]): string[] {
  const outer = addressPrefixes.map((text) => parseCidr(text) as Cidr);
  const placed: { name: string; prefix: string; cidr: Cidr }[] = [];
  const out: string[] = [];
  prefixes.forEach((prefix, i) => {
    const cidr = parseCidr(prefix) as Cidr;
    if (!outer.some((o) => cidrContains(o, cidr))) out.push(`subnet ${prefix} outside the address prefixes of virtual network v`);
    const clash = placed.find((other) => cidrsOverlap(other.cidr, cidr));
    if (clash) out.push(`subnet ${prefix} overlaps subnet ${clash.name} (${clash.prefix})`);
    else placed.push({ name: `s${i}`, prefix, cidr });
  });
  return out;
}

const subnetMessages = (input: unknown): string[] =>
  semanticErrors(input)
    .map((error) => error.message)
    .filter((message) => /^subnet .* (overlaps|outside)/.test(message));

/** A prefix in 10.0.0.0/14 (so random ones often nest), host bits cleared. */
const prefix = fc.record({ address: fc.integer({ min: 0, max: (1 << 18) - 1 }), length: fc.integer({ min: 12, max: 30 }) }).map(({ address, length }) => {
  const mask = (0xffffffff << (32 - length)) >>> 0;
  return formatCidr({ network: ((0x0a000000 + (address << 8)) & mask) >>> 0, prefixLength: length });
});

describe('subnet overlap checks', () => {
  it('report the same overlaps and containment problems as the quadratic algorithm', () => {
    fc.assert(
      fc.property(fc.array(prefix, { minLength: 1, maxLength: 3 }), fc.array(prefix, { maxLength: 60 }), (outer, prefixes) => {
        expect(subnetMessages(doc(outer, prefixes))).toEqual(reference(outer, prefixes));
      }),
      { numRuns: 400 },
    );
  });

  it('8000 disjoint subnets pass; one more that covers sixteen of them is blamed on the first of those', () => {
    const prefixes = Array.from({ length: 8000 }, (_, i) => `10.${100 + (i >> 12)}.${(i >> 4) & 255}.${(i & 15) * 16}/28`);
    expect(subnetMessages(doc(['10.0.0.0/8'], prefixes))).toEqual([]);
    // 10.100.5.0/24 holds s80..s95.
    expect(subnetMessages(doc(['10.0.0.0/8'], [...prefixes, '10.100.5.0/24']))).toEqual(['subnet 10.100.5.0/24 overlaps subnet s80 (10.100.5.0/28)']);
    // A /30 inside s8000-ish space: inside s4097 (10.101.0.16/28).
    expect(subnetMessages(doc(['10.0.0.0/8'], [...prefixes, '10.101.0.20/30']))).toEqual(['subnet 10.101.0.20/30 overlaps subnet s4097 (10.101.0.16/28)']);
    expect(subnetMessages(doc(['10.100.0.0/16'], prefixes))).toHaveLength(8000 - 4096);
  });
});
