// ACL logging: a rule with logging: true logs each new flow it decides once (later frames take the
// flow table), allow and deny, outbound and inbound; replies of a tracked connection and traced
// frames are not logged; over the rate limit records are counted as suppressed.
import { describe, expect, it } from 'vitest';
import { countersToJson } from '../../src/dataplane/counters.js';
import { parsePolicy } from '../../src/policy/validate.js';
import type { AclLogRecord } from '../../src/vfp/acl-log.js';
import type { Policy } from '../../src/policy/types.js';
import { buildIpv4Udp } from '../../src/wire/build/frames.js';
import { MAC, figure8, rig } from '../helpers/vfp-fixtures.js';

function logged(): Policy {
  return figure8({
    accessControlLists: [
      {
        name: 'sql-acl',
        aclRules: [
          { name: 'dns-out', protocol: 'UDP', sourceAddressPrefix: '*', destinationAddressPrefix: '*', sourcePortRange: '*', destinationPortRange: '53', action: 'Allow', type: 'Outbound', priority: 100, logging: true },
          { name: 'no-tftp', protocol: 'UDP', sourceAddressPrefix: '*', destinationAddressPrefix: '*', sourcePortRange: '*', destinationPortRange: '69', action: 'Deny', type: 'Outbound', priority: 110, logging: true },
          { name: 'rest-out', protocol: 'All', sourceAddressPrefix: '*', destinationAddressPrefix: '*', sourcePortRange: '*', destinationPortRange: '*', action: 'Allow', type: 'Outbound', priority: 200 },
          { name: 'web-in', protocol: 'UDP', sourceAddressPrefix: '10.1.1.0/24', destinationAddressPrefix: '*', sourcePortRange: '*', destinationPortRange: '8080', action: 'Allow', type: 'Inbound', priority: 100, logging: true },
        ],
      },
    ],
  });
}

function withAcl(): Policy {
  const p = logged();
  p.networkInterfaces.find((n) => n.name === 'contoso-sql')!.accessControlList = 'sql-acl';
  return p;
}

const fromSql = (dport: number, sport = 40000) => buildIpv4Udp({ srcMac: MAC.contosoSql, dstMac: MAC.contosoApp, srcIp: '10.1.1.11', dstIp: '10.1.1.13', srcPort: sport, dstPort: dport });
const toSql = (dport: number, sport = 40000) => buildIpv4Udp({ srcMac: MAC.contosoApp, dstMac: MAC.contosoSql, srcIp: '10.1.1.13', dstIp: '10.1.1.11', srcPort: sport, dstPort: dport });

describe('ACL logging', () => {
  it('logs each new flow once, with rule, port, 5-tuple and verdict; replies and unlogged rules are silent', () => {
    const r = rig(withAcl());
    const lines: AclLogRecord[] = [];
    r.fwd.engine.aclLog.sink = (x) => lines.push(x);
    for (let k = 0; k < 5; k++) r.send('contoso-sql', fromSql(53));
    expect(r.pull('contoso-app')).toHaveLength(5);
    expect(lines).toEqual([{ rule: 'sql-acl/dns-out', port: 'contoso-sql', direction: 'outbound', proto: 17, src: '10.1.1.11', sport: 40000, dst: '10.1.1.13', dport: 53, verdict: 'allow' }]);
    // the reply of that connection skips the ACLs: no line
    r.send('contoso-app', buildIpv4Udp({ srcMac: MAC.contosoApp, dstMac: MAC.contosoSql, srcIp: '10.1.1.13', dstIp: '10.1.1.11', srcPort: 53, dstPort: 40000 }));
    expect(r.pull('contoso-sql')).toHaveLength(1);
    // a rule without logging, and a denied flow (once, though 3 frames are dropped)
    r.send('contoso-sql', fromSql(80));
    for (let k = 0; k < 3; k++) r.send('contoso-sql', fromSql(69));
    r.send('contoso-app', toSql(8080));
    expect(lines.slice(1).map((l) => `${l.rule} ${l.direction} ${l.dport} ${l.verdict}`)).toEqual(['sql-acl/no-tftp outbound 69 deny', 'sql-acl/web-in inbound 8080 allow']);
    expect(lines[2].port).toBe('contoso-sql');
    // traced: nothing logged
    r.fwd.trace('contoso-sql', fromSql(53, 41000), 'out');
    expect(lines).toHaveLength(3);
    const c = countersToJson(r.fwd.counters, r.snap).counters;
    expect(c['acl-log-lines']).toBe(3);
    expect(c['acl-log-suppressed']).toBe(0);
  });

  it('rate-limits: 100 records at once, then 100 per second; the rest counted as suppressed', () => {
    const r = rig(withAcl());
    const lines: AclLogRecord[] = [];
    r.fwd.engine.aclLog.sink = (x) => lines.push(x);
    for (let k = 0; k < 300; k++) r.send('contoso-sql', fromSql(53, 10000 + k));
    expect(lines).toHaveLength(100);
    r.clock.t += 500;
    for (let k = 0; k < 100; k++) r.send('contoso-sql', fromSql(53, 20000 + k));
    expect(lines).toHaveLength(150);
    const c = countersToJson(r.fwd.counters, r.snap).counters;
    expect(c['acl-log-lines']).toBe(150);
    expect(c['acl-log-suppressed']).toBe(250);
    // every frame still forwarded: the log never decides
    expect(r.pull('contoso-app')).toHaveLength(400);
  });

  it('reports a logging flag that is not true or false by path', () => {
    const p = logged() as unknown as { accessControlLists: { aclRules: Record<string, unknown>[] }[] };
    p.accessControlLists[0].aclRules[1].logging = 'yes';
    const text = JSON.stringify(parsePolicy(p));
    expect(text).toMatch(/accessControlLists\[0\]\.aclRules\[1\]\.logging.*expected true or false, got string \\"yes\\"/);
  });
});
