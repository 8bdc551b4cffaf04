// The ACL classifier (tuple space search) against the trivial linear reference (OVS
// test-classifier style): random rule sets and random frames must pick the same rule.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { AccessControlList, AclRule } from '../../src/policy/types.js';
import { aclMatchLinear, compileAclTable, type AclInput } from '../../src/vfp/acl.js';

// a small address/port space so that rules and frames collide often
const octet = fc.constantFrom(0, 1, 2, 255);
const addr = fc.tuple(octet, octet).map(([a, b]) => ((10 << 24) | (1 << 16) | (a << 8) | b) >>> 0);
const text = (v: number) => `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
const prefix = fc.oneof(
  fc.constant('*'),
  fc.tuple(addr, fc.constantFrom(8, 16, 24, 30, 32)).map(([a, len]) => {
    const mask = (0xffffffff << (32 - len)) >>> 0;
    return `${text((a & mask) >>> 0)}/${len}`;
  }),
  addr.map(text),
);
const port = fc.constantFrom(0, 22, 53, 80, 443, 1024, 65535);
const range = fc.oneof(
  fc.constant('*'),
  port.map(String),
  fc.tuple(port, port).map(([a, b]) => `${Math.min(a, b)}-${Math.max(a, b)}`),
);
const protocol = fc.constantFrom<AclRule['protocol']>('All', 'TCP', 'UDP', 'ICMP', 47);
const ruleArb = fc.record({
  protocol,
  sourceAddressPrefix: prefix,
  destinationAddressPrefix: prefix,
  sourcePortRange: range,
  destinationPortRange: range,
  action: fc.constantFrom<'Allow' | 'Deny'>('Allow', 'Deny'),
  priority: fc.integer({ min: 100, max: 140 }),
});
const acl = (name: string) =>
  fc.array(ruleArb, { maxLength: 40 }).map(
    (rs): AccessControlList => ({ name, aclRules: rs.map((r, i) => ({ ...r, name: `${name}${i}`, type: 'Inbound' as const })) }),
  );
const frame = fc.record({
  isIp: fc.boolean(),
  proto: fc.constantFrom(1, 6, 17, 47),
  src: addr,
  dst: addr,
  sport: port,
  dport: port,
  l4: fc.boolean(),
}).map((f): AclInput => ({ ...f, l4: f.l4 && (f.proto === 6 || f.proto === 17), proto: f.isIp ? f.proto : -1 }));

describe('ACL classifier vs linear reference', () => {
  it('agrees on random rule sets and frames', () => {
    fc.assert(
      fc.property(acl('port'), acl('subnet'), fc.array(frame, { minLength: 1, maxLength: 30 }), (portAcl, subnetAcl, frames) => {
        const t = compileAclTable(subnetAcl, portAcl, 'Inbound');
        if (t === null) return portAcl.aclRules.length + subnetAcl.aclRules.length === 0;
        for (const f of frames) expect(t.classifier.lookup(f)).toBe(aclMatchLinear(t, f));
        return true;
      }),
      { numRuns: 400, seed: 20261126 },
    );
  });

  it('orders by priority, then the port ACL before the subnet ACL', () => {
    const mk = (name: string, prio: number, action: 'Allow' | 'Deny'): AclRule => ({
      name,
      protocol: 'All',
      sourceAddressPrefix: '*',
      destinationAddressPrefix: '*',
      sourcePortRange: '*',
      destinationPortRange: '*',
      action,
      type: 'Inbound',
      priority: prio,
    });
    const t = compileAclTable({ name: 's', aclRules: [mk('s1', 100, 'Deny')] }, { name: 'p', aclRules: [mk('p1', 100, 'Allow'), mk('p0', 50, 'Deny')] }, 'Inbound')!;
    expect(t.rules.map((r) => r.name)).toEqual(['p0', 'p1', 's1']);
    const any: AclInput = { isIp: false, proto: -1, src: 0, dst: 0, sport: 0, dport: 0, l4: false };
    expect(t.classifier.lookup(any)).toBe(0);
  });

  it('matches port ranges only on TCP/UDP first fragments', () => {
    const t = compileAclTable(undefined, { name: 'p', aclRules: [{ name: 'web', protocol: 'All', sourceAddressPrefix: '*', destinationAddressPrefix: '10.1.1.0/24', sourcePortRange: '*', destinationPortRange: '80-90', action: 'Allow', type: 'Outbound', priority: 100 }] }, 'Outbound')!;
    const f: AclInput = { isIp: true, proto: 6, src: 1, dst: 0x0a010105, sport: 1, dport: 85, l4: true };
    expect(t.classifier.lookup(f)).toBe(0);
    expect(t.classifier.lookup({ ...f, l4: false })).toBe(-1);
    expect(t.classifier.lookup({ ...f, dst: 0x0a010205 })).toBe(-1);
  });
});
