// The controller's in-memory policy index: after any sequence of writes, the incremental per-host
// views equal views computed from scratch from the store, and a write rebuilds only the views of
// the virtual networks it touched (not every host's); and change-scoped validation from the same
// index agrees with full validation.
import path from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { viewDigest } from '../../src/agent/controller-sync-protocol.js';
import type { PolicyKind } from '../../src/agent/controller-sync-protocol.js';
import { checkDelete, checkPut } from '../../src/controller/changes.js';
import { parsePolicy } from '../../src/policy/validate.js';
import { hostView, storedPolicy } from '../../src/controller/host-view.js';
import { SqliteStore } from '../../src/controller/sqlite-store.js';
import { SyncHub } from '../../src/controller/sync-hub.js';
import { tempDir } from './controller-fixture.js';

let tmp: ReturnType<typeof tempDir>;
let store: SqliteStore;
let hub: SyncHub;

const HOSTS = 6;
const VNETS = 4;

function seed(): void {
  store.batch(() => {
    for (let h = 0; h < HOSTS; h++) store.put('hosts', `h${h}`, { name: `h${h}`, providerAddresses: [`192.168.0.${h + 1}`] });
    store.put('accessControlLists', 'acl', { name: 'acl', aclRules: [] });
    for (let v = 0; v < VNETS; v++) {
      store.put('virtualNetworks', `v${v}`, { name: `v${v}`, addressPrefixes: [`10.${v}.0.0/16`], subnets: [{ name: 's', vsid: 100 + v, addressPrefix: `10.${v}.0.0/24`, encapsulation: 'VXLAN' }] });
    }
  });
}

const nic = (n: number, host: number, vnet: number, acl: boolean) => ({
  name: `n${n}`, host: `h${host}`, virtualNetwork: `v${vnet}`, subnet: 's', macAddress: `02:00:00:00:00:${(n + 16).toString(16)}`, ipAddress: `10.${vnet}.0.${n + 10}`, ...(acl ? { accessControlList: 'acl' } : {}),
});

function expectViewsMatch(): void {
  const policy = storedPolicy(store);
  for (let h = 0; h <= HOSTS; h++) {
    const host = `h${h}`; // h{HOSTS} has no ports and no host resource: the shared empty view
    const incremental = hub.viewOf(host);
    expect(incremental.revision).toBe(store.revision());
    expect(incremental.digest, host).toBe(viewDigest(hostView(policy, host)));
  }
}

/**
 * Change-scoped validation from the hub's index (fed by the same refreshes as the views) gives what
 * full validation gives, for probes that collide, break references or delete what is used. Only
 * for a valid stored policy: these tests write the store directly, and scoped validation takes
 * the stored policy as valid (the REST layer keeps it so).
 */
function expectScopeMatches(): void {
  const current = hub.current();
  const whole = { policy: current.policy, revision: current.revision };
  if (!parsePolicy(whole.policy).ok) return;
  const puts: [PolicyKind, string, unknown][] = [
    ['networkInterfaces', 'probe', { ...nic(0, 1, 0, true), name: 'probe' }],
    ['networkInterfaces', 'n1', { ...nic(1, 2, 1, false), ipAddress: '10.1.0.1' }],
    ['virtualNetworks', 'v0', { addressPrefixes: ['10.0.0.0/16'], subnets: [{ name: 's', vsid: 101, addressPrefix: '10.0.1.0/24' }] }],
    ['hosts', 'h0', { providerAddresses: ['192.168.0.2', '192.168.1.7'] }],
    ['accessControlLists', 'acl', { name: 'other', aclRules: [] }],
  ];
  for (const [kind, id, body] of puts) expect(checkPut(current, kind, id, body), `PUT ${kind}/${id}`).toEqual(checkPut(whole, kind, id, body));
  for (const [kind, id] of [['hosts', 'h2'], ['accessControlLists', 'acl'], ['virtualNetworks', 'v1'], ['networkInterfaces', 'n3']] as [PolicyKind, string][]) {
    expect(checkDelete(current, kind, id), `DELETE ${kind}/${id}`).toEqual(checkDelete(whole, kind, id));
  }
}

beforeEach(() => {
  tmp = tempDir();
  store = new SqliteStore(path.join(tmp.dir, 'store.db'));
  seed();
  hub = new SyncHub(store, { heartbeatMs: 60_000 });
});

afterEach(() => {
  hub.close();
  store.close();
  tmp.cleanup();
});

describe('incremental host views', () => {
  it('equal views from scratch after any sequence of port, network, ACL and host writes', () => {
    const op = fc.oneof(
      fc.record({ type: fc.constant('nic' as const), n: fc.nat(11), host: fc.nat(HOSTS - 1), vnet: fc.nat(VNETS - 1), acl: fc.boolean() }),
      fc.record({ type: fc.constant('delnic' as const), n: fc.nat(11) }),
      fc.record({ type: fc.constant('acl' as const), priority: fc.integer({ min: 100, max: 200 }) }),
      // a network may name an HNV gateway host (its view goes there too, with or without ports)
      fc.record({ type: fc.constant('vnet' as const), vnet: fc.nat(VNETS - 1), prefix: fc.nat(1), gw: fc.integer({ min: -1, max: HOSTS }) }),
      fc.record({ type: fc.constant('host' as const), host: fc.nat(HOSTS - 1), octet: fc.integer({ min: 1, max: 250 }) }),
      // a switch port, with or without an ACL (switch ports and their ACLs are in every view)
      fc.record({ type: fc.constant('swnic' as const), n: fc.nat(2), host: fc.nat(HOSTS - 1), acl: fc.boolean() }),
    );
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 30 }), (ops) => {
        for (const o of ops) {
          if (o.type === 'nic') {
            // a port keeps its network (its address is in that network's prefix)
            const vnet = Number(store.get('networkInterfaces', `n${o.n}`)?.resource.virtualNetwork?.toString().slice(1) ?? o.vnet);
            store.put('networkInterfaces', `n${o.n}`, nic(o.n, o.host, vnet, o.acl));
          } else if (o.type === 'delnic') {
            if (store.get('networkInterfaces', `n${o.n}`) !== undefined) store.delete('networkInterfaces', `n${o.n}`);
          } else if (o.type === 'acl') {
            store.put('accessControlLists', 'acl', { name: 'acl', aclRules: [{ name: 'r', priority: o.priority, action: 'Allow', type: 'Inbound', protocol: 'TCP', sourceAddressPrefix: '*', destinationAddressPrefix: '*', sourcePortRange: '*', destinationPortRange: '80' }] });
          } else if (o.type === 'vnet') {
            const v = o.vnet;
            store.put('virtualNetworks', `v${v}`, { name: `v${v}`, addressPrefixes: [`10.${v}.0.0/16`], subnets: [{ name: 's', vsid: 100 + v, addressPrefix: `10.${v}.0.0/24`, encapsulation: 'VXLAN', ...(o.prefix === 1 ? { accessControlList: 'acl' } : {}) }], ...(o.gw >= 0 ? { gateway: { host: `h${o.gw}`, nat: true } } : {}) });
          } else if (o.type === 'swnic') {
            store.put('networkInterfaces', `sw${o.n}`, { name: `sw${o.n}`, host: `h${o.host}`, switch: 'sw', macAddress: `02:00:00:00:01:${(o.n + 16).toString(16)}`, ...(o.acl ? { accessControlList: 'acl' } : {}) });
          } else {
            store.put('hosts', `h${o.host}`, { name: `h${o.host}`, providerAddresses: [`192.168.1.${o.octet}`] });
          }
          // publish after some writes only: a refresh may apply several changes at once
          if (o.type !== 'nic' || o.n % 2 === 0) hub.publish();
        }
        expectViewsMatch();
        expectScopeMatches();
      }),
      { numRuns: 40 },
    );
  });

  it('a port write rebuilds only the views of its network; a host write rebuilds them all', () => {
    // h0..h2 in v0, h3..h5 in v1: two distinct views plus the empty one
    store.batch(() => {
      for (let h = 0; h < HOSTS; h++) store.put('networkInterfaces', `n${h}`, nic(h, h, h < 3 ? 0 : 1, false));
    });
    hub.publish();
    for (let h = 0; h < HOSTS; h++) hub.viewOf(`h${h}`);
    const built = () => hub.stats().viewsBuilt;
    const before = built();
    store.put('networkInterfaces', 'n0', { ...nic(0, 0, 0, false), ipAddress: '10.0.0.99' });
    for (let h = 0; h < HOSTS; h++) hub.viewOf(`h${h}`);
    expect(built() - before).toBe(1);
    const next = built();
    store.put('hosts', 'h1', { name: 'h1', providerAddresses: ['192.168.9.9'] });
    for (let h = 0; h < HOSTS; h++) hub.viewOf(`h${h}`);
    expect(built() - next).toBe(2);
    expectViewsMatch();
  });

  it('carries switches, NATs and switch interfaces to every view, and follows their changes', () => {
    store.batch(() => {
      store.put('networkInterfaces', 'n0', nic(0, 0, 0, false));
      store.put('switches', 'int', { name: 'int', switchType: 'Internal', hostAddress: '172.30.0.1/24' });
      store.put('networkInterfaces', 'vm1', { name: 'vm1', host: 'h1', switch: 'int', macAddress: '02:00:00:00:04:0c' });
    });
    hub.publish();
    expect(hub.viewOf('h0').view.switches?.map((x) => x.name)).toEqual(['int']);
    expectViewsMatch();
    store.put('nats', 'labnat', { name: 'labnat', internalIPInterfaceAddressPrefix: '172.30.0.0/24', staticMappings: [] });
    hub.publish();
    expectViewsMatch();
    store.delete('networkInterfaces', 'vm1');
    store.put('switches', 'priv', { name: 'priv', switchType: 'Private' });
    hub.publish();
    expectViewsMatch();
    expect(hub.viewOf('h3').view.switches?.map((x) => x.name).sort()).toEqual(['int', 'priv']);
  });
});
