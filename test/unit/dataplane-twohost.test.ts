// Two (and three) Forwarders joined by a MemoryUnderlay: the Figure 8 scenario end to end in
// memory - ARP, ping across hosts in each tenant with overlapping CAs, routing across hosts,
// NVGRE, and a stateful ACL on one side. Plus a fuzz check: mutated and random frames into ports
// and uplinks never throw, and every frame read is accounted for.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { MemoryPort, MemoryUnderlay, MemoryUplink } from '../../src/io/memory.js';
import type { Policy } from '../../src/policy/types.js';
import { Forwarder } from '../../src/dataplane/forwarder.js';
import { C, countersToJson } from '../../src/dataplane/counters.js';
import { compileSnapshot } from '../../src/vfp/snapshot.js';
import { buildArpRequest, buildIcmpEcho, buildIpv4Udp, buildTcp, buildVxlan, buildNvgre } from '../../src/wire/build/frames.js';
import { MAC, ROUTER, figure8, ipNum } from '../helpers/vfp-fixtures.js';

interface Host {
  fwd: Forwarder;
  ports: Map<string, MemoryPort>;
  vx: MemoryUplink;
  nv: MemoryUplink;
}

function world(policy: Policy = figure8()) {
  const underlay = new MemoryUnderlay(true);
  const hosts = new Map<string, Host>();
  for (const h of policy.hosts) {
    const snap = compileSnapshot(policy, h.name, 1);
    const addrs = h.providerAddresses.map(ipNum);
    const vx = new MemoryUplink('vxlan', { localAddrs: addrs });
    const nv = new MemoryUplink('nvgre', { localAddrs: addrs });
    underlay.attach(vx);
    underlay.attach(nv);
    const fwd = new Forwarder({ ports: [], vxlan: vx, nvgre: nv }, snap, { checkAclLinear: true });
    const ports = new Map<string, MemoryPort>();
    for (const p of snap.ports) {
      const mp = new MemoryPort(p.name);
      ports.set(p.name, mp);
      fwd.setPort(p.index, mp);
    }
    hosts.set(h.name, { fwd, ports, vx, nv });
  }
  /** Runs every host's queues until nothing moves. */
  const settle = (): void => {
    for (let round = 0; round < 10; round++) {
      let moved = false;
      for (const h of hosts.values()) {
        const snap = h.fwd.snapshot;
        for (const p of snap.ports) {
          if (h.ports.get(p.name)!.pending > 0) {
            moved = true;
            h.fwd.pollPort(p.index);
          }
        }
        if (h.vx.pending > 0) {
          moved = true;
          h.fwd.pollUplink('vxlan');
        }
        if (h.nv.pending > 0) {
          moved = true;
          h.fwd.pollUplink('nvgre');
        }
      }
      if (!moved) return;
    }
  };
  const port = (host: string, name: string) => hosts.get(host)!.ports.get(name)!;
  return { hosts, underlay, settle, port };
}

describe('two hosts over a memory underlay', () => {
  it('pings across hosts inside each tenant, with the same CAs, and keeps tenants apart', () => {
    const w = world();
    for (const [tenant, sql, web] of [
      ['contoso', MAC.contosoSql, MAC.contosoWeb],
      ['fabrikam', MAC.fabrikamSql, MAC.fabrikamWeb],
    ] as const) {
      // web (host2) asks for sql, then pings it
      w.port('host2', `${tenant}-web`).push(buildArpRequest({ srcMac: web, senderMac: web, senderIp: '10.1.1.12', targetIp: '10.1.1.11' }));
      w.settle();
      const [reply] = w.port('host2', `${tenant}-web`).pullAll();
      expect(Array.from(reply.slice(6, 12), (b) => b.toString(16).padStart(2, '0')).join(':')).toBe(sql);
      const ping = buildIcmpEcho({ srcMac: web, dstMac: sql, srcIp: '10.1.1.12', dstIp: '10.1.1.11', echoId: tenant.length });
      w.port('host2', `${tenant}-web`).push(ping);
      w.settle();
      expect(w.port('host1', `${tenant}-sql`).pullAll()).toEqual([ping]);
    }
    expect(w.port('host1', 'contoso-sql').queued + w.port('host1', 'fabrikam-sql').queued).toBe(0);
    expect(w.underlay.log.map((p) => p.kind)).toEqual(['vxlan', 'vxlan']);
  });

  it('routes across hosts and into the NVGRE subnet on a third host', () => {
    const w = world();
    const toApi = buildIpv4Udp({ srcMac: MAC.contosoSql, dstMac: ROUTER, srcIp: '10.1.1.11', dstIp: '10.1.2.22', ttl: 64 });
    const toGre = buildTcp({ srcMac: MAC.contosoSql, dstMac: ROUTER, srcIp: '10.1.1.11', dstIp: '10.1.3.31', ttl: 64 });
    w.port('host1', 'contoso-sql').push(toApi);
    w.port('host1', 'contoso-sql').push(toGre);
    w.settle();
    const [a] = w.port('host2', 'contoso-api').pullAll();
    expect(a[22]).toBe(63);
    const [g] = w.port('host3', 'contoso-gre').pullAll();
    expect(g[22]).toBe(63);
    expect(w.underlay.log.map((p) => p.kind)).toEqual(['vxlan', 'nvgre']);
  });

  it('an ACL that denies a port blocks it end to end, and its own connections still get answers', () => {
    const p = figure8({
      accessControlLists: [
        {
          name: 'closed',
          aclRules: [
            { name: 'in', protocol: 'All', sourceAddressPrefix: '*', destinationAddressPrefix: '*', sourcePortRange: '*', destinationPortRange: '*', action: 'Deny', type: 'Inbound', priority: 100 },
            { name: 'out', protocol: 'All', sourceAddressPrefix: '*', destinationAddressPrefix: '*', sourcePortRange: '*', destinationPortRange: '*', action: 'Allow', type: 'Outbound', priority: 100 },
          ],
        },
      ],
    });
    p.networkInterfaces.find((n) => n.name === 'contoso-sql')!.accessControlList = 'closed';
    const w = world(p);
    w.port('host2', 'contoso-web').push(buildTcp({ srcMac: MAC.contosoWeb, dstMac: MAC.contosoSql, srcIp: '10.1.1.12', dstIp: '10.1.1.11', srcPort: 5555, dstPort: 80, flags: 0x02 }));
    w.settle();
    expect(w.port('host1', 'contoso-sql').pullAll()).toHaveLength(0);
    w.port('host1', 'contoso-sql').push(buildTcp({ srcMac: MAC.contosoSql, dstMac: MAC.contosoWeb, srcIp: '10.1.1.11', dstIp: '10.1.1.12', srcPort: 6666, dstPort: 80, flags: 0x02 }));
    w.settle();
    expect(w.port('host2', 'contoso-web').pullAll()).toHaveLength(1);
    w.port('host2', 'contoso-web').push(buildTcp({ srcMac: MAC.contosoWeb, dstMac: MAC.contosoSql, srcIp: '10.1.1.12', dstIp: '10.1.1.11', srcPort: 80, dstPort: 6666, flags: 0x12 }));
    w.settle();
    expect(w.port('host1', 'contoso-sql').pullAll()).toHaveLength(1);
  });
});

describe('fuzz: malformed frames never break the dataplane', () => {
  const seeds = [
    buildTcp({ srcMac: MAC.contosoSql, dstMac: MAC.contosoWeb, srcIp: '10.1.1.11', dstIp: '10.1.1.12' }),
    buildIpv4Udp({ srcMac: MAC.contosoSql, dstMac: ROUTER, srcIp: '10.1.1.11', dstIp: '10.1.2.21', ttl: 1 }),
    buildIcmpEcho({ srcMac: MAC.contosoSql, dstMac: ROUTER, srcIp: '10.1.1.11', dstIp: '10.1.1.1' }),
    buildArpRequest({ srcMac: MAC.contosoSql, senderMac: MAC.contosoSql, senderIp: '10.1.1.11', targetIp: '10.1.1.12' }),
    buildIpv4Udp({ srcMac: MAC.contosoSql, dstMac: 'ff:ff:ff:ff:ff:ff', srcIp: '10.1.1.11', dstIp: '255.255.255.255' }),
  ];
  const outer = [
    buildVxlan({ vni: 5001, inner: buildIcmpEcho({ srcMac: MAC.contosoWeb, dstMac: MAC.contosoSql, srcIp: '10.1.1.12', dstIp: '10.1.1.11' }) }).slice(34),
    buildNvgre({ vsid: 5003, inner: buildIpv4Udp({ srcMac: MAC.contosoGre, dstMac: MAC.contosoGreLocal, srcIp: '10.1.3.31', dstIp: '10.1.3.32' }) }).slice(34),
  ];
  const mutated = (base: Uint8Array[]) =>
    fc.tuple(fc.constantFrom(...base), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }), fc.option(fc.nat(), { nil: undefined })).map(([b, edits, cut]) => {
      const f = b.slice();
      for (const [at, v] of edits) f[at % f.length] = v;
      return cut === undefined ? f : f.slice(0, cut % (f.length + 1));
    });
  const anyBytes = fc.uint8Array({ maxLength: 120 });

  it('counts every frame from a port or the wire as forwarded, answered or dropped', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(mutated(seeds), anyBytes), { maxLength: 20 }), fc.array(fc.oneof(mutated(outer), anyBytes), { maxLength: 20 }), (fromPort, fromWire) => {
        const w = world();
        const h1 = w.hosts.get('host1')!;
        for (const f of fromPort) w.port('host1', 'contoso-sql').push(f);
        for (const f of fromWire) h1.vx.push(f, ipNum('192.168.2.20'));
        for (const f of fromWire) h1.nv.push(f, ipNum('192.168.3.30'));
        h1.fwd.pollPort(0);
        h1.fwd.pollUplink('vxlan');
        h1.fwd.pollUplink('nvgre');
        const g = h1.fwd.counters.global;
        const j = countersToJson(h1.fwd.counters, h1.fwd.snapshot);
        const drops = Object.values(j.drops).reduce((a, b) => a + b, 0);
        const rx = g[C.PortRxFrames] + g[C.UplinkRxFrames];
        // every frame: dropped, or at least one frame out (replies and copies may add more)
        const out = g[C.PortTxFrames] + g[C.UplinkTxFrames] + w.underlay.noRoute;
        expect(rx).toBe(fromPort.length + 2 * fromWire.length);
        expect(drops + out).toBeGreaterThanOrEqual(rx);
      }),
      { numRuns: 150, seed: 42 },
    );
  });
});
