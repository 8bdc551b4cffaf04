// Change-scoped validation (change-scope.ts) against full validation (the whole candidate policy):
// random walks of PUTs and DELETEs, valid and invalid, from an empty policy; at every step both
// checks must give the same verdict, status, message and errors (paths included), and the accepted
// changes build up the policy the next steps are checked against. Pools of names, addresses, MACs
// and prefixes are small so that duplicates, dangling references and overlaps are frequent.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { POLICY_KINDS } from '../../src/agent/controller-sync-protocol.js';
import type { PolicyKind } from '../../src/agent/controller-sync-protocol.js';
import { ChangeScopeIndex } from '../../src/controller/change-scope.js';
import { checkDelete, checkPut } from '../../src/controller/changes.js';
import type { PolicyAt } from '../../src/controller/changes.js';
import type { Policy } from '../../src/policy/types.js';

type Resource = { name: string } & Record<string, unknown>;

const pick = <T>(...values: T[]): fc.Arbitrary<T> => fc.constantFrom(...values);
const maybe = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => fc.option(arb, { nil: undefined, freq: 2 });

const NAMES: Record<PolicyKind, string[]> = {
  hosts: ['h0', 'h1', 'h2'],
  virtualNetworks: ['v0', 'v1', 'v2'],
  networkInterfaces: ['p0', 'p1', 'p2', 'p3', 'p4', 'p5'],
  accessControlLists: ['a0', 'a1'],
  switches: ['w0', 'w1'],
  nats: ['n0', 'n1'],
};

/** Drop undefined fields (an absent optional field, not one set to undefined). */
function clean(record: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(record).filter(([, value]) => value !== undefined));
}

const host = fc.record({ providerAddresses: fc.subarray(['192.168.0.1', '192.168.0.2', '192.168.0.3', '127.0.0.1'], { minLength: 0, maxLength: 2 }) });

const rule = fc
  .record({
    name: pick('r0', 'r1'),
    protocol: pick('All', 'TCP'),
    sourceAddressPrefix: pick('*', '10.0.0.0/8', 'fd00::/8'),
    destinationAddressPrefix: pick('*', '10.0.0.0/8', 'fd00::/8'),
    sourcePortRange: pick('*'),
    destinationPortRange: pick('*', '80'),
    action: pick('Allow', 'Deny'),
    type: pick('Inbound', 'Outbound'),
    priority: pick(100, 200),
  })
  .map(clean);
const acl = fc.record({ aclRules: fc.array(rule, { maxLength: 2 }) });

const subnet = fc
  .record({
    name: pick('s0', 's1'),
    vsid: pick(5000, 5001, 5002),
    addressPrefix: pick('10.0.1.0/24', '10.0.2.0/24', '10.1.1.0/24', '10.0.1.0/25', '172.30.0.0/24'),
    ipv6AddressPrefix: maybe(pick('fd00:0:0:1::/64', 'fd00:0:0:2::/64')),
    accessControlList: maybe(pick('a0', 'a1', 'a9')),
  })
  .map(clean);
const vnet = fc
  .record({
    addressPrefixes: pick(['10.0.0.0/16'], ['10.0.0.0/16', 'fd00::/48'], ['10.1.0.0/16'], ['172.30.0.0/16']),
    subnets: fc.array(subnet, { minLength: 1, maxLength: 2 }),
    // HNV gateways (gateway-semantic.ts): overlaps between networks behind one host and with an
    // Internal switch's host vNIC prefix (172.30.0.0/24) there, unknown hosts
    gateway: maybe(fc.record({ host: pick('h0', 'h1', 'h9'), nat: fc.boolean() })),
  })
  .map(clean);

const nic = fc
  .record({
    host: pick('h0', 'h1', 'h2'),
    bind: fc.oneof(
      fc.record({ virtualNetwork: pick('v0', 'v1', 'v2'), subnet: pick('s0', 's1'), ipAddress: pick('10.0.1.10', '10.0.1.11', '10.0.2.10', '10.1.1.10', '10.0.1.1') }),
      fc.record({ switch: pick('w0', 'w1') }),
    ),
    macAddress: pick('02:00:00:00:00:01', '02:00:00:00:00:02', '02:00:00:00:00:0a', '02:00:00:00:00:0A'),
    ifname: maybe(pick('tap-x', 'tap-y')),
    ipv6Address: maybe(pick('fd00:0:0:1::10', 'fd00:0:0:1:0:0:0:10', 'fd00:0:0:2::10')),
    accessControlList: maybe(pick('a0', 'a1', 'a9')),
    vhostUser: maybe(fc.record({ socket: pick('/run/a.sock', '/run/b.sock') })),
  })
  .map(({ bind, ...rest }) => clean({ ...rest, ...bind }));

const vswitch = fc.oneof(
  fc.constant({ switchType: 'Private' }),
  pick('172.30.0.1/24', '172.31.0.1/24').map((hostAddress) => ({ switchType: 'Internal', hostAddress })),
  fc.constant({ switchType: 'External', netAdapterName: 'eth1' }),
);

const nat = fc.record({
  internalIPInterfaceAddressPrefix: pick('172.30.0.0/24', '172.31.0.0/24', '172.30.0.0/16'),
  staticMappings: fc.array(fc.record({ protocol: pick('TCP'), externalPort: pick(80, 81), internalIPAddress: pick('172.30.0.5', '172.31.0.5'), internalPort: pick(80) }), { maxLength: 1 }),
});

const BODIES: Record<PolicyKind, fc.Arbitrary<Record<string, unknown>>> = {
  hosts: host,
  virtualNetworks: vnet,
  networkInterfaces: nic,
  accessControlLists: acl,
  switches: vswitch,
  nats: nat,
};

/** Mostly well-formed bodies; some with a wrong name, a wrong type, a missing or unknown field. */
const corruption = fc.oneof(
  { weight: 6, arbitrary: fc.constant({ type: 'none' as const }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('rename' as const), name: fc.oneof(pick(...Object.values(NAMES).flat()), fc.constant(7)) }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('retype' as const), index: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('drop' as const), index: fc.nat() }) },
  { weight: 1, arbitrary: fc.constant({ type: 'unknown' as const }) },
);

type Op = { type: 'put'; kind: PolicyKind; id: string; body: Record<string, unknown> } | { type: 'delete'; kind: PolicyKind; id: string };

const op: fc.Arbitrary<Op> = fc.constantFrom(...POLICY_KINDS).chain((kind) =>
  fc.oneof(
    { weight: 5, arbitrary: fc.record({ id: pick(...NAMES[kind]), body: BODIES[kind], corrupt: corruption }).map(({ id, body, corrupt }): Op => {
      const out: Record<string, unknown> = { ...body };
      const keys = Object.keys(out);
      if (corrupt.type === 'rename') out.name = corrupt.name;
      else if (corrupt.type === 'retype' && keys.length > 0) out[keys[corrupt.index % keys.length] as string] = 42;
      else if (corrupt.type === 'drop' && keys.length > 0) delete out[keys[corrupt.index % keys.length] as string];
      else if (corrupt.type === 'unknown') out.bogus = true;
      return { type: 'put', kind, id, body: out };
    }) },
    { weight: 1, arbitrary: pick(...NAMES[kind]).map((id): Op => ({ type: 'delete', kind, id })) },
  ),
);

/** The stored policy as the controller's index holds it: per kind, insertion order. */
class Model {
  readonly items = new Map<PolicyKind, Map<string, Resource>>(POLICY_KINDS.map((kind) => [kind, new Map()]));
  readonly scope = new ChangeScopeIndex();

  policy(): Policy {
    return Object.fromEntries(POLICY_KINDS.map((kind) => [kind, [...(this.items.get(kind) as Map<string, Resource>).values()]])) as unknown as Policy;
  }

  full(): PolicyAt {
    return { policy: this.policy(), revision: 1 };
  }

  scoped(): PolicyAt {
    return {
      get policy(): Policy {
        throw new Error('a scoped check read the whole policy');
      },
      revision: 1,
      scope: this.scope,
    };
  }

  set(kind: PolicyKind, name: string, item: Resource): void {
    (this.items.get(kind) as Map<string, Resource>).set(name, item);
    this.scope.set(kind, name, item);
  }

  remove(kind: PolicyKind, name: string): void {
    (this.items.get(kind) as Map<string, Resource>).delete(name);
    this.scope.remove(kind, name);
  }
}

/** A valid start with something of everything (half the runs start empty): ports to break, a NAT on a switch. */
const BASE: [PolicyKind, Record<string, unknown>][] = [
  ['hosts', { name: 'h0', providerAddresses: ['192.168.0.1'] }],
  ['hosts', { name: 'h1', providerAddresses: ['192.168.0.2'] }],
  ['accessControlLists', { name: 'a0', aclRules: [] }],
  ['virtualNetworks', { name: 'v0', addressPrefixes: ['10.0.0.0/16', 'fd00::/48'], subnets: [{ name: 's0', vsid: 5000, addressPrefix: '10.0.1.0/24', ipv6AddressPrefix: 'fd00:0:0:1::/64', accessControlList: 'a0' }, { name: 's1', vsid: 5001, addressPrefix: '10.0.2.0/24' }] }],
  ['virtualNetworks', { name: 'v1', addressPrefixes: ['10.1.0.0/16'], subnets: [{ name: 's0', vsid: 5002, addressPrefix: '10.1.1.0/24' }] }],
  ['switches', { name: 'w0', switchType: 'Internal', hostAddress: '172.30.0.1/24' }],
  ['switches', { name: 'w1', switchType: 'Private' }],
  ['nats', { name: 'n0', internalIPInterfaceAddressPrefix: '172.30.0.0/24', staticMappings: [{ protocol: 'TCP', externalPort: 80, internalIPAddress: '172.30.0.5', internalPort: 80 }] }],
  ['networkInterfaces', { name: 'p0', host: 'h0', virtualNetwork: 'v0', subnet: 's0', macAddress: '02:00:00:00:00:01', ipAddress: '10.0.1.10', ipv6Address: 'fd00:0:0:1::10', accessControlList: 'a0' }],
  ['networkInterfaces', { name: 'p1', host: 'h1', virtualNetwork: 'v0', subnet: 's1', macAddress: '02:00:00:00:00:02', ipAddress: '10.0.2.10', ifname: 'tap-x' }],
  ['networkInterfaces', { name: 'p2', host: 'h0', virtualNetwork: 'v1', subnet: 's0', macAddress: '02:00:00:00:00:0a', ipAddress: '10.1.1.10', vhostUser: { socket: '/run/a.sock' } }],
  ['networkInterfaces', { name: 'p3', host: 'h1', switch: 'w0', macAddress: '02:00:00:00:00:01' }],
];

describe('change-scoped validation', () => {
  it('gives the same verdicts and errors as full validation on random changes', () => {
    let accepted = 0;
    let refused = 0;
    fc.assert(
      fc.property(fc.boolean(), fc.array(op, { minLength: 10, maxLength: 80 }), (based, ops) => {
        const model = new Model();
        for (const [kind, item] of based ? BASE : []) {
          const check = checkPut(model.full(), kind, item.name as string, item);
          if (!check.ok) throw new Error(`base ${kind}/${String(item.name)}: ${JSON.stringify(check.errors)}`);
          model.set(kind, item.name as string, check.resource);
        }
        for (const step of ops) {
          if (step.type === 'put') {
            const full = checkPut(model.full(), step.kind, step.id, step.body);
            const scoped = checkPut(model.scoped(), step.kind, step.id, step.body);
            expect(scoped, `PUT ${step.kind}/${step.id} ${JSON.stringify(step.body)}`).toEqual(full);
            if (full.ok) model.set(step.kind, step.id, full.resource);
            if (full.ok) accepted++;
            else refused++;
          } else {
            const full = checkDelete(model.full(), step.kind, step.id);
            const scoped = checkDelete(model.scoped(), step.kind, step.id);
            expect(scoped, `DELETE ${step.kind}/${step.id}`).toEqual(full);
            if (full.ok) model.remove(step.kind, step.id);
          }
        }
      }),
      { numRuns: 200 },
    );
    // the walk must exercise both sides
    expect(accepted).toBeGreaterThan(300);
    expect(refused).toBeGreaterThan(1000);
  });

  it('checks a port against a handful of resources, not the whole policy', () => {
    const model = new Model();
    model.set('hosts', 'h0', { name: 'h0', providerAddresses: ['192.168.0.1'] });
    for (let v = 0; v < 50; v++) {
      model.set('virtualNetworks', `v${v}`, { name: `v${v}`, addressPrefixes: [`10.${v}.0.0/16`], subnets: [{ name: 's', vsid: 5000 + v, addressPrefix: `10.${v}.0.0/24`, encapsulation: 'vxlan' }] });
      for (let p = 0; p < 40; p++) {
        model.set('networkInterfaces', `v${v}-p${p}`, { name: `v${v}-p${p}`, host: 'h0', virtualNetwork: `v${v}`, subnet: 's', macAddress: `02:00:00:00:${v.toString(16).padStart(2, '0')}:${p.toString(16).padStart(2, '0')}`, ipAddress: `10.${v}.0.${p + 10}` });
      }
    }
    const body = { name: 'v7-p3', host: 'h0', virtualNetwork: 'v7', subnet: 's', macAddress: '02:00:00:00:07:03', ipAddress: '10.7.0.99' };
    const { doc, target } = model.scope.candidate('networkInterfaces', 'v7-p3', body);
    expect(target).toEqual({ kind: 'networkInterfaces', index: 0 });
    // a body without a well-formed name sits where it would in the whole policy (messages may name it by index)
    expect(model.scope.candidate('networkInterfaces', 'v7-p3', { ...body, name: 7 }).target).toEqual({ kind: 'networkInterfaces', index: 1999 });
    // the host, the network, and nothing of the 1999 other ports (the MAC and ifname are its own)
    expect(Object.fromEntries(POLICY_KINDS.map((kind) => [kind, doc[kind].filter(() => true).length]))).toEqual({ hosts: 1, virtualNetworks: 1, networkInterfaces: 1, accessControlLists: 0, switches: 0, nats: 0 });
    const dup = model.scope.candidate('networkInterfaces', 'new', { ...body, name: 'new', ipAddress: '10.7.0.20' });
    // the port holding 10.7.0.20, and the one whose MAC it copies (v7-p3 itself)
    expect(dup.doc.networkInterfaces.filter(() => true).map((item) => (item as Resource).name)).toEqual(['v7-p3', 'v7-p10', 'new']);
    expect(checkPut(model.scoped(), 'networkInterfaces', 'new', { ...body, name: 'new', ipAddress: '10.7.0.20' })).toMatchObject({
      ok: false,
      status: 400,
      errors: [
        { path: 'macAddress', message: 'duplicate MAC 02:00:00:00:07:03 in subnet s (also networkInterfaces/v7-p3)' },
        { path: 'ipAddress', message: 'duplicate address 10.7.0.20 in virtual network v7 (also networkInterfaces/v7-p10)' },
      ],
    });
  });
});
