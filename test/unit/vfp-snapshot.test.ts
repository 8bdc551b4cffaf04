// compileSnapshot: ports of one host, endpoints, subnets, gateways, PAs, ACL tables.
import { describe, expect, it } from 'vitest';
import { compileSnapshot, ROUTER_MAC_TEXT } from '../../src/vfp/snapshot.js';
import { Counters, COUNTER_NAMES, C, countersToJson, GLOBAL_COUNT } from '../../src/dataplane/counters.js';
import { DROP_NAMES, Drop } from '../../src/vfp/drops.js';
import { figure8, ipNum } from '../helpers/vfp-fixtures.js';

describe('compileSnapshot', () => {
  const snap = compileSnapshot(figure8(), 'host1', 7);

  it('holds this host ports, indexed in policy order, with their addressing', () => {
    expect(snap.generation).toBe(7);
    expect(snap.ports.map((p) => p.name)).toEqual(['contoso-sql', 'contoso-app', 'contoso-db2', 'contoso-grl', 'fabrikam-sql']);
    const sql = snap.ports[0];
    expect(sql).toMatchObject({
      index: 0,
      ifname: 'sy-contoso-sql',
      macText: '00:1d:d8:b7:1c:01',
      mac: 0x001dd8b71c01,
      ipText: '10.1.1.11',
      ip: ipNum('10.1.1.11'),
      prefixLen: 24,
      gatewayText: '10.1.1.1',
      vsid: 5001,
      encapsulation: 'vxlan',
      virtualNetwork: 'contoso',
      subnet: 's1',
      aclIn: null,
      aclOut: null,
    });
    expect(snap.ports[3].encapsulation).toBe('nvgre');
    expect(Object.isFrozen(snap.ports)).toBe(true);
  });

  it('knows the PAs: its own, and the other hosts as the accepted outer sources', () => {
    expect(snap.localPasText).toEqual(['192.168.1.10']);
    expect(snap.paHost.get(ipNum('192.168.2.20'))).toBe(1);
    expect(snap.paHost.get(ipNum('192.168.3.30'))).toBe(2);
    expect(snap.paHost.get(ipNum('192.168.1.10'))).toBe(-1);
    expect(snap.routerMacText).toBe(ROUTER_MAC_TEXT);
  });

  it('maps VSIDs to subnets with local ports and remote hosts for replication', () => {
    const s1 = snap.subnets[snap.vsidSubnet.get(5001)];
    expect(s1.localPorts).toEqual([0, 1]);
    expect(s1.remoteHosts).toEqual([1]);
    expect(s1.gatewayText).toBe('10.1.1.1');
    expect(snap.vsidSubnet.get(4242)).toBe(-1);
    const f1 = snap.subnets[snap.vsidSubnet.get(6001)];
    expect(f1.rdid).not.toBe(s1.rdid);
  });

  it('keeps overlapping CAs apart by virtual network', () => {
    const c = snap.endpointByIp[0].get(ipNum('10.1.1.12'))!;
    const f = snap.endpointByIp[1].get(ipNum('10.1.1.12'))!;
    expect(snap.endpoints[c].name).toBe('contoso-web');
    expect(snap.endpoints[f].name).toBe('fabrikam-web');
  });

  it('merges subnet and port ACLs by priority; shares compiled tables', () => {
    const p = figure8({
      accessControlLists: [
        {
          name: 'subnet-acl',
          aclRules: [
            { name: 'deny-ssh', protocol: 'TCP', sourceAddressPrefix: '*', destinationAddressPrefix: '*', sourcePortRange: '*', destinationPortRange: '22', action: 'Deny', type: 'Inbound', priority: 200 },
            { name: 'all', protocol: 'All', sourceAddressPrefix: '*', destinationAddressPrefix: '*', sourcePortRange: '*', destinationPortRange: '*', action: 'Allow', type: 'Inbound', priority: 1000 },
          ],
        },
        {
          name: 'port-acl',
          aclRules: [{ name: 'web', protocol: 'TCP', sourceAddressPrefix: '10.1.0.0/16', destinationAddressPrefix: '*', sourcePortRange: '*', destinationPortRange: '22', action: 'Allow', type: 'Inbound', priority: 100 }],
        },
      ],
    });
    p.virtualNetworks[0].subnets[0].accessControlList = 'subnet-acl';
    p.networkInterfaces[0].accessControlList = 'port-acl';
    const s = compileSnapshot(p, 'host1', 1);
    expect(s.ports[0].aclIn!.rules.map((r) => r.name)).toEqual(['web', 'deny-ssh', 'all']);
    expect(s.ports[0].aclOut).toBeNull();
    expect(s.ports[1].aclIn!.rules.map((r) => r.name)).toEqual(['deny-ssh', 'all']);
    expect(s.ports[2].aclIn).toBeNull();
  });

  it('rejects a host that is not in the policy', () => {
    expect(() => compileSnapshot(figure8(), 'nope', 1)).toThrow(/not in the policy/);
  });
});

describe('counters', () => {
  it('names every global counter and drop reason', () => {
    expect(COUNTER_NAMES.length).toBe(GLOBAL_COUNT);
    expect(COUNTER_NAMES[C.DropBase + Drop.UnknownVni]).toBe('drop-unknown-vni');
    expect(DROP_NAMES[Drop.TxFull]).toBe('tx-full');
  });

  it('lives on shared memory, grows per port, and turns into JSON by name', () => {
    const c = new Counters(2);
    expect(c.global.buffer).toBeInstanceOf(SharedArrayBuffer);
    c.global[C.PortRxFrames] = 3;
    c.global[C.DropBase + Drop.AclDeny] = 2;
    c.ensurePorts(40);
    c.port[1 * 8 + 0] = 5;
    const snap = compileSnapshot(figure8(), 'host1', 1);
    const j = countersToJson(c, snap);
    expect(j.counters['port-rx-frames']).toBe(3);
    expect(j.drops['acl-deny']).toBe(2);
    expect(j.ports['contoso-app']['rx-frames']).toBe(5);
    expect(JSON.parse(JSON.stringify(j))).toEqual(j);
  });
});
