// trace and dump-flows: layer-by-layer explanations and the flow table as JSON, without side effects.
import { describe, expect, it } from 'vitest';
import type { Policy } from '../../src/policy/types.js';
import { buildArpRequest, buildIcmpEcho, buildIpv4Udp, buildTcp } from '../../src/wire/build/frames.js';
import { MAC, ROUTER, figure8, rig } from '../helpers/vfp-fixtures.js';

function withAcl(): Policy {
  const p = figure8({
    accessControlLists: [
      {
        name: 'sql',
        aclRules: [
          { name: 'no-ssh-out', protocol: 'TCP', sourceAddressPrefix: '*', destinationAddressPrefix: '*', sourcePortRange: '*', destinationPortRange: '22', action: 'Deny', type: 'Outbound', priority: 100 },
          { name: 'out', protocol: 'All', sourceAddressPrefix: '*', destinationAddressPrefix: '*', sourcePortRange: '*', destinationPortRange: '*', action: 'Allow', type: 'Outbound', priority: 200 },
        ],
      },
    ],
  });
  p.networkInterfaces[0].accessControlList = 'sql';
  return p;
}

describe('trace', () => {
  it('explains a forwarded, encapsulated flow layer by layer', () => {
    const r = rig(withAcl());
    const t = r.fwd.trace('contoso-sql', buildTcp({ srcMac: MAC.contosoSql, dstMac: MAC.contosoWeb, srcIp: '10.1.1.11', dstIp: '10.1.1.12', srcPort: 40000, dstPort: 80 }), 'out');
    expect(t.verdict).toBe('forward');
    expect(t.uft).toBe('miss');
    expect(t.steps.map((s) => s.layer)).toEqual(['edge', 'uft', 'port-security', 'dhcp', 'gateway', 'router', 'vnet', 'conntrack', 'acl-out', 'conntrack', 'encap']);
    expect(t.steps.find((s) => s.layer === 'acl-out')!.rule).toMatch(/sql\/out/);
    expect(t.outputs[0]).toMatch(/vxlan vni 5001 192\.168\.1\.10 -> 192\.168\.2\.20/);
    expect(JSON.parse(JSON.stringify(t))).toEqual(t);
    // no side effects
    expect(r.fwd.dumpFlows()).toHaveLength(0);
    expect(r.fwd.ct.count).toBe(0);
  });

  it('names the rule that denied', () => {
    const r = rig(withAcl());
    const t = r.fwd.trace('contoso-sql', buildTcp({ srcMac: MAC.contosoSql, dstMac: MAC.contosoWeb, srcIp: '10.1.1.11', dstIp: '10.1.1.12', dstPort: 22 }), 'out');
    expect(t.verdict).toBe('drop');
    expect(t.dropReason).toBe('acl-deny');
    expect(t.steps.find((s) => s.layer === 'acl-out')).toMatchObject({ action: 'deny' });
    expect(t.steps.find((s) => s.layer === 'acl-out')!.rule).toMatch(/no-ssh-out/);
  });

  it('explains routing, ARP, the gateway, inbound delivery, and a cached flow', () => {
    const r = rig();
    const routed = r.fwd.trace('contoso-sql', buildIpv4Udp({ srcMac: MAC.contosoSql, dstMac: ROUTER, srcIp: '10.1.1.11', dstIp: '10.1.2.21' }), 'out');
    expect(routed.outputs).toEqual(['port contoso-db2']);
    expect(routed.steps.find((s) => s.layer === 'router')!.action).toMatch(/VSID 5001 -> 5002/);
    const arp = r.fwd.trace('contoso-sql', buildArpRequest({ srcMac: MAC.contosoSql, senderMac: MAC.contosoSql, senderIp: '10.1.1.11', targetIp: '10.1.1.99' }), 'out');
    expect(arp).toMatchObject({ verdict: 'drop', dropReason: 'arp-unknown' });
    const gw = r.fwd.trace('contoso-sql', buildIcmpEcho({ srcMac: MAC.contosoSql, dstMac: ROUTER, srcIp: '10.1.1.11', dstIp: '10.1.1.1' }), 'out');
    expect(gw.verdict).toBe('reply');
    const inbound = r.fwd.trace('fabrikam-sql', buildIpv4Udp({ srcMac: MAC.fabrikamWeb, dstMac: MAC.fabrikamSql, srcIp: '10.1.1.12', dstIp: '10.1.1.11' }), 'in');
    expect(inbound).toMatchObject({ verdict: 'forward', outputs: ['port fabrikam-sql'] });
    const cross = r.fwd.trace('fabrikam-sql', buildIpv4Udp({ srcMac: MAC.fabrikamSql, dstMac: ROUTER, srcIp: '10.1.1.11', dstIp: '10.1.2.21' }), 'out');
    expect(cross).toMatchObject({ verdict: 'drop', dropReason: 'no-route' });
    const f = buildIpv4Udp({ srcMac: MAC.contosoSql, dstMac: MAC.contosoApp, srcIp: '10.1.1.11', dstIp: '10.1.1.13' });
    r.send('contoso-sql', f);
    expect(r.fwd.trace('contoso-sql', f, 'out').uft).toBe('hit');
    expect(r.fwd.trace('contoso-sql', new Uint8Array(5), 'out')).toMatchObject({ verdict: 'drop', dropReason: 'malformed' });
    expect(() => r.fwd.trace('nope', f, 'out')).toThrow(/no port/);
  });
});

describe('dumpFlows', () => {
  it('lists entries with match, action, counters, age and generation; filters by port', () => {
    const r = rig();
    r.send('contoso-sql', buildIpv4Udp({ srcMac: MAC.contosoSql, dstMac: MAC.contosoApp, srcIp: '10.1.1.11', dstIp: '10.1.1.13', srcPort: 1, dstPort: 2 }));
    r.clock.t += 250;
    r.send('contoso-sql', buildTcp({ srcMac: MAC.contosoSql, dstMac: MAC.contosoWeb, srcIp: '10.1.1.11', dstIp: '10.1.1.12', srcPort: 3, dstPort: 4 }));
    r.send('fabrikam-sql', buildIpv4Udp({ srcMac: MAC.fabrikamSql, dstMac: MAC.fabrikamWeb, srcIp: '10.1.1.11', dstIp: '10.1.1.12' }));
    const all = r.fwd.dumpFlows();
    expect(all).toHaveLength(3);
    const app = r.fwd.dumpFlows({ port: 'contoso-app' });
    expect(app).toHaveLength(1);
    expect(app[0]).toMatchObject({
      port: 'contoso-sql',
      direction: 'out',
      output: 'contoso-app',
      action: 'output contoso-app',
      match: { vsid: 5001, srcIp: '10.1.1.11', dstIp: '10.1.1.13', proto: 17, srcPort: 1, dstPort: 2, srcMac: MAC.contosoSql, dstMac: MAC.contosoApp, ethertype: '0x0800' },
      counters: { frames: 1 },
      generation: 1,
      stale: false,
      ageMs: 250,
    });
    expect(r.fwd.dumpFlows({ port: 'contoso-sql' })).toHaveLength(2);
    expect(r.fwd.dumpFlows({ port: 'nope' })).toEqual([]);
    expect(JSON.parse(JSON.stringify(all))).toEqual(all);
  });
});
