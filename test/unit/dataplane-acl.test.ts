// The ACL layer, stateful: allow/deny by 5-tuple and priority, return traffic of allowed
// connections, TCP teardown and UDP idle timeouts, cached denials that a later connection
// reopens, generation invalidation (an ACL added while a flow runs stops its next frame), and
// replication copies filtered per receiving port.
import { describe, expect, it } from 'vitest';
import type { Policy } from '../../src/policy/types.js';
import { buildIpv4Udp, buildTcp, buildVxlan } from '../../src/wire/build/frames.js';
import { MAC, PA2, figure8, rig } from '../helpers/vfp-fixtures.js';
import { compileSnapshot } from '../../src/vfp/snapshot.js';
import { countersToJson } from '../../src/dataplane/counters.js';
import { rule } from '../helpers/acl-rule.js';


/** contoso-sql: inbound only TCP 80 from the virtual network; everything outbound. */
function guarded(): Policy {
  const p = figure8({
    accessControlLists: [
      {
        name: 'sql',
        aclRules: [
          rule('web', { protocol: 'TCP', sourceAddressPrefix: '10.1.0.0/16', destinationPortRange: '80', priority: 100 }),
          rule('deny-in', { action: 'Deny', priority: 4000 }),
          rule('all-out', { type: 'Outbound', priority: 100 }),
        ],
      },
    ],
  });
  p.networkInterfaces.find((n) => n.name === 'contoso-sql')!.accessControlList = 'sql';
  return p;
}

const wire = (full: Uint8Array) => full.slice(34);
const TCP_SYN = 0x02;
const TCP_SYNACK = 0x12;
const TCP_ACK = 0x10;
const TCP_RST = 0x04;
const webToSql = (sp: number, dp: number, flags = TCP_ACK) =>
  wire(buildVxlan({ vni: 5001, inner: buildTcp({ srcMac: MAC.contosoWeb, dstMac: MAC.contosoSql, srcIp: '10.1.1.12', dstIp: '10.1.1.11', srcPort: sp, dstPort: dp, flags }) }));
const sqlToWeb = (sp: number, dp: number, flags = TCP_ACK) =>
  buildTcp({ srcMac: MAC.contosoSql, dstMac: MAC.contosoWeb, srcIp: '10.1.1.11', dstIp: '10.1.1.12', srcPort: sp, dstPort: dp, flags });

describe('ACL layer', () => {
  it('allows and denies new inbound connections by rule priority', () => {
    const r = rig(guarded());
    r.fromWire('vxlan', webToSql(40000, 80, TCP_SYN), PA2);
    r.fromWire('vxlan', webToSql(40001, 22, TCP_SYN), PA2);
    expect(r.pull('contoso-sql')).toHaveLength(1);
    const j = countersToJson(r.fwd.counters, r.snap);
    expect(j.drops['acl-deny']).toBe(1);
  });

  it('lets the return traffic of an allowed outbound connection in, until it is reset', () => {
    const r = rig(guarded());
    r.send('contoso-sql', sqlToWeb(45000, 443, TCP_SYN));
    expect(r.vx.pullAll()).toHaveLength(1);
    r.fromWire('vxlan', webToSql(443, 45000, TCP_SYNACK), PA2); // would be denied as a new connection
    r.send('contoso-sql', sqlToWeb(45000, 443, TCP_ACK));
    r.fromWire('vxlan', webToSql(443, 45000, TCP_ACK), PA2);
    expect(r.pull('contoso-sql')).toHaveLength(2);
    expect(r.fwd.dumpFlows({ port: 'contoso-sql' }).some((f) => f.conntrack === 'established')).toBe(true);
    // a new connection from web to sql on another port is still refused
    r.fromWire('vxlan', webToSql(443, 45001, TCP_SYN), PA2);
    expect(r.pull('contoso-sql')).toHaveLength(0);
    // after a reset, the reply direction is closed
    r.send('contoso-sql', sqlToWeb(45000, 443, TCP_RST));
    r.fromWire('vxlan', webToSql(443, 45000, TCP_ACK), PA2);
    expect(r.pull('contoso-sql')).toHaveLength(0);
    expect(countersToJson(r.fwd.counters, r.snap).drops['acl-deny']).toBe(2);
  });

  it('lets the last segments of a teardown in through TIME_WAIT, but not a new SYN from the other side', () => {
    const TCP_FIN = 0x01;
    const r = rig(guarded());
    r.send('contoso-sql', sqlToWeb(45010, 443, TCP_SYN));
    r.fromWire('vxlan', webToSql(443, 45010, TCP_SYNACK), PA2);
    r.send('contoso-sql', sqlToWeb(45010, 443, TCP_ACK));
    // web closes first; sql answers with FIN|ACK and then a duplicate ACK, which brings the
    // connection to TIME_WAIT before web's ACK of sql's FIN has crossed
    r.fromWire('vxlan', webToSql(443, 45010, TCP_FIN | TCP_ACK), PA2);
    r.send('contoso-sql', sqlToWeb(45010, 443, TCP_FIN | TCP_ACK));
    r.send('contoso-sql', sqlToWeb(45010, 443, TCP_ACK));
    expect(r.fwd.dumpFlows({ port: 'contoso-sql' }).some((f) => f.conntrack === 'time-wait')).toBe(true);
    r.fromWire('vxlan', webToSql(443, 45010, TCP_ACK), PA2);
    r.fromWire('vxlan', webToSql(443, 45010, TCP_FIN | TCP_ACK), PA2); // a retransmitted FIN
    expect(r.pull('contoso-sql')).toHaveLength(4);
    expect(countersToJson(r.fwd.counters, r.snap).drops['acl-deny'] ?? 0).toBe(0);
    // the same 5-tuple opened from web's side is a new connection: sql's inbound rules deny it
    r.fromWire('vxlan', webToSql(443, 45010, TCP_SYN), PA2);
    expect(r.pull('contoso-sql')).toHaveLength(0);
    expect(countersToJson(r.fwd.counters, r.snap).drops['acl-deny']).toBe(1);
  });

  it('keeps UDP reply traffic by idle timeout', () => {
    const r = rig(guarded(), 'host1', { ctTimeouts: { udpMs: 30_000 } });
    const out = buildIpv4Udp({ srcMac: MAC.contosoSql, dstMac: MAC.contosoWeb, srcIp: '10.1.1.11', dstIp: '10.1.1.12', srcPort: 5353, dstPort: 53 });
    const back = wire(buildVxlan({ vni: 5001, inner: buildIpv4Udp({ srcMac: MAC.contosoWeb, dstMac: MAC.contosoSql, srcIp: '10.1.1.12', dstIp: '10.1.1.11', srcPort: 53, dstPort: 5353 }) }));
    r.send('contoso-sql', out);
    r.fromWire('vxlan', back, PA2);
    r.clock.t += 20_000;
    r.fromWire('vxlan', back, PA2);
    expect(r.pull('contoso-sql')).toHaveLength(2);
    r.clock.t += 31_000;
    r.fromWire('vxlan', back, PA2);
    expect(r.pull('contoso-sql')).toHaveLength(0);
  });

  it('re-checks a cached denial once a connection makes it a reply', () => {
    const r = rig(guarded());
    const back = wire(buildVxlan({ vni: 5001, inner: buildIpv4Udp({ srcMac: MAC.contosoWeb, dstMac: MAC.contosoSql, srcIp: '10.1.1.12', dstIp: '10.1.1.11', srcPort: 53, dstPort: 5353 }) }));
    r.fromWire('vxlan', back, PA2); // denied, cached
    r.send('contoso-sql', buildIpv4Udp({ srcMac: MAC.contosoSql, dstMac: MAC.contosoWeb, srcIp: '10.1.1.11', dstIp: '10.1.1.12', srcPort: 5353, dstPort: 53 }));
    r.fromWire('vxlan', back, PA2); // now the reply of an allowed flow
    expect(r.pull('contoso-sql')).toHaveLength(1);
  });

  it('applies the receiving port inbound ACL to same-host traffic, and tracks it', () => {
    const r = rig(guarded());
    const appToSql = (dp: number, flags: number) => buildTcp({ srcMac: MAC.contosoApp, dstMac: MAC.contosoSql, srcIp: '10.1.1.13', dstIp: '10.1.1.11', srcPort: 50000, dstPort: dp, flags });
    r.send('contoso-app', appToSql(22, TCP_SYN));
    r.send('contoso-app', appToSql(80, TCP_SYN));
    expect(r.pull('contoso-sql')).toHaveLength(1);
    r.send('contoso-sql', buildTcp({ srcMac: MAC.contosoSql, dstMac: MAC.contosoApp, srcIp: '10.1.1.11', dstIp: '10.1.1.13', srcPort: 80, dstPort: 50000, flags: TCP_SYNACK }));
    expect(r.pull('contoso-app')).toHaveLength(1);
    const j = countersToJson(r.fwd.counters, r.snap);
    expect(j.ports['contoso-app']['acl-deny']).toBe(1);
  });

  it('stops an active flow at its next frame when an ACL is added (generation)', () => {
    const p = figure8();
    const r = rig(p);
    const f = buildIpv4Udp({ srcMac: MAC.contosoSql, dstMac: MAC.contosoApp, srcIp: '10.1.1.11', dstIp: '10.1.1.13', srcPort: 7000, dstPort: 7001 });
    r.send('contoso-sql', f);
    r.send('contoso-sql', f);
    expect(r.pull('contoso-app')).toHaveLength(2);
    const p2 = figure8({ accessControlLists: [{ name: 'block-app', aclRules: [rule('no-app', { type: 'Outbound', action: 'Deny', destinationAddressPrefix: '10.1.1.13', priority: 100 }), rule('rest', { type: 'Outbound', priority: 200 })] }] });
    p2.networkInterfaces.find((n) => n.name === 'contoso-sql')!.accessControlList = 'block-app';
    r.fwd.setSnapshot(compileSnapshot(p2, 'host1', 2));
    r.send('contoso-sql', f);
    expect(r.pull('contoso-app')).toHaveLength(0);
    expect(countersToJson(r.fwd.counters, r.snap).drops['acl-deny']).toBe(1);
    // and traffic the new ACL allows still flows
    r.send('contoso-sql', sqlToWeb(1, 2));
    expect(r.vx.pullAll()).toHaveLength(1);
  });

  it('an ACL added on the receiving side stops the return traffic of a tracked flow too', () => {
    const r = rig(guarded());
    r.send('contoso-sql', sqlToWeb(45000, 443, TCP_SYN));
    r.fromWire('vxlan', webToSql(443, 45000, TCP_SYNACK), PA2);
    expect(r.pull('contoso-sql')).toHaveLength(1);
    expect(r.vx.pullAll()).toHaveLength(1);
    const p2 = guarded();
    p2.accessControlLists[0].aclRules = [rule('deny-out', { type: 'Outbound', action: 'Deny', priority: 100 }), rule('deny-in', { action: 'Deny', priority: 100 })];
    r.fwd.setSnapshot(compileSnapshot(p2, 'host1', 2));
    r.send('contoso-sql', sqlToWeb(45000, 443, TCP_ACK)); // orig direction: denied, connection dropped
    r.fromWire('vxlan', webToSql(443, 45000, TCP_ACK), PA2);
    expect(r.vx.pullAll()).toHaveLength(0);
    expect(r.pull('contoso-sql')).toHaveLength(0);
  });

  it('filters each replicated copy by the receiving port ACL', () => {
    const r = rig(guarded());
    const bc = buildIpv4Udp({ dstMac: 'ff:ff:ff:ff:ff:ff', srcMac: MAC.contosoApp, srcIp: '10.1.1.13', dstIp: '255.255.255.255', dstPort: 9999 });
    r.send('contoso-app', bc);
    expect(r.pull('contoso-sql')).toHaveLength(0); // deny-in matches everything
    expect(r.vx.pullAll()).toHaveLength(1); // the remote copy: web's host applies its own ACLs
    expect(countersToJson(r.fwd.counters, r.snap).ports['contoso-sql']['acl-deny']).toBe(1);
  });
});
