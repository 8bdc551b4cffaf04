// Isolation is one decision path: crafted frames of every kind, from a port and from the wire,
// frames in -> frames out with the drop reason counted; each attack beside a control that
// arrives. Then: trace agrees with forwarding on every case; connection tracking keeps its
// tenants apart across a reload that reorders them; quotas; fragments; ICMP errors.
import { describe, expect, it } from 'vitest';
import type { Policy } from '../../src/policy/types.js';
import { countersToJson } from '../../src/dataplane/counters.js';
import { compileSnapshot } from '../../src/vfp/snapshot.js';
import { IdRegistry } from '../../src/vfp/ids.js';
import { MemoryPort, MemoryUplink } from '../../src/io/memory.js';
import { Forwarder, TSO_SLOT } from '../../src/dataplane/forwarder.js';
import { C } from '../../src/dataplane/counters.js';
import { buildArpReply, buildArpRequest, buildEth, buildIcmpEcho, buildIcmpv6, buildIpv4, buildIpv4Udp, buildIpv6, buildTcp, buildVxlan } from '../../src/wire/build/frames.js';
import { MAC, PA2, PA3, ROUTER, figure8, rig, type Rig } from '../helpers/vfp-fixtures.js';

const wire = (full: Uint8Array): Uint8Array => full.slice(34);
const BCAST = 'ff:ff:ff:ff:ff:ff';

function denyAllIn(p: Policy, ...nics: string[]): Policy {
  p.accessControlLists = [
    ...(p.accessControlLists ?? []),
    {
      name: 'deny-in',
      aclRules: [{ name: 'deny', protocol: 'All', sourceAddressPrefix: '*', destinationAddressPrefix: '*', sourcePortRange: '*', destinationPortRange: '*', action: 'Deny', type: 'Inbound', priority: 4000 }],
    },
  ];
  for (const n of nics) p.networkInterfaces.find((x) => x.name === n)!.accessControlList = 'deny-in';
  return p;
}

/** What came out: frames per local port, datagrams on the underlay, and the drop counters. */
function outcome(r: Rig): { ports: Record<string, number>; remote: number; drops: Record<string, number> } {
  const ports: Record<string, number> = {};
  for (const [name] of r.ports) {
    const n = r.pull(name).length;
    if (n) ports[name] = n;
  }
  const remote = r.vx.pullAll().length + r.nv.pullAll().length;
  const drops = Object.fromEntries(Object.entries(countersToJson(r.fwd.counters, r.snap).drops).filter(([, v]) => v > 0));
  return { ports, remote, drops };
}

interface Case {
  name: string;
  /** A port name (egress) or the PA a VXLAN datagram comes from (ingress). */
  from: string;
  frame: Uint8Array;
  vni?: number;
  ports?: Record<string, number>;
  remote?: number;
  drop?: string;
}

const sqlUdp = (o: Parameters<typeof buildIpv4Udp>[0] = {}) => buildIpv4Udp({ srcMac: MAC.contosoSql, dstMac: MAC.contosoApp, srcIp: '10.1.1.11', dstIp: '10.1.1.13', dstPort: 7000, ...o });

const egress: Case[] = [
  { name: 'control: unicast IPv4 to a neighbour', from: 'contoso-sql', frame: sqlUdp(), ports: { 'contoso-app': 1 } },
  { name: 'IPv6 link-local TCP SYN', from: 'contoso-sql', frame: buildIpv6({ srcMac: MAC.contosoSql, dstMac: MAC.contosoApp, nextHeader: 6, payload: new Uint8Array(20) }), drop: 'ipv6-disabled' },
  { name: 'router advertisement', from: 'contoso-sql', frame: buildIcmpv6({ srcMac: MAC.contosoSql, dstMac: '33:33:00:00:00:01', dstIp6: 'ff02::1', hopLimit: 255, type: 134 }), drop: 'ipv6-disabled' },
  { name: 'VLAN 0 tagged IPv4', from: 'contoso-sql', frame: sqlUdp({ vlan: 0 }), drop: 'vlan-tagged' },
  { name: 'VLAN 5 tagged IPv4', from: 'contoso-sql', frame: sqlUdp({ vlan: 5 }), drop: 'vlan-tagged' },
  { name: 'QinQ IPv4', from: 'contoso-sql', frame: sqlUdp({ vlan: [100, 5] }), drop: 'vlan-tagged' },
  { name: 'unknown EtherType', from: 'contoso-sql', frame: buildEth({ src: MAC.contosoSql, dst: MAC.contosoApp, type: 0x88b5, payload: new Uint8Array(46) }), drop: 'ethertype' },
  { name: 'multicast source MAC', from: 'contoso-sql', frame: sqlUdp({ srcMac: '01:00:5e:00:00:01' }), drop: 'spoofed' },
  { name: 'broadcast from a spoofed source IP', from: 'contoso-sql', frame: sqlUdp({ dstMac: BCAST, srcIp: '10.1.1.99', dstIp: '255.255.255.255' }), drop: 'spoofed' },
  { name: 'control: broadcast from its own IP', from: 'contoso-sql', frame: sqlUdp({ dstMac: BCAST, dstIp: '255.255.255.255' }), ports: { 'contoso-app': 1 }, remote: 1 },
  { name: 'multicast from a neighbour IP', from: 'contoso-sql', frame: sqlUdp({ dstMac: '01:00:5e:01:02:03', srcIp: '10.1.1.13', dstIp: '239.1.2.3' }), drop: 'spoofed' },
  { name: 'UDP from 0.0.0.0 that is no DHCP client', from: 'contoso-sql', frame: sqlUdp({ srcIp: '0.0.0.0' }), drop: 'spoofed' },
  { name: 'DHCP discover from 0.0.0.0 of a Static port: not forwarded', from: 'contoso-sql', frame: sqlUdp({ dstMac: BCAST, srcIp: '0.0.0.0', dstIp: '255.255.255.255', srcPort: 68, dstPort: 67 }), drop: 'dhcp' },
  { name: 'gratuitous ARP claiming a neighbour', from: 'contoso-sql', frame: buildArpRequest({ srcMac: MAC.contosoSql, senderMac: MAC.contosoSql, senderIp: '10.1.1.13', targetIp: '10.1.1.13' }), drop: 'spoofed' },
  { name: 'VLAN 0 tagged gratuitous ARP', from: 'contoso-sql', frame: buildArpRequest({ srcMac: MAC.contosoSql, senderMac: MAC.contosoSql, senderIp: '10.1.1.11', targetIp: '10.1.1.11', vlan: 0 }), drop: 'vlan-tagged' },
  { name: 'ARP reply with a spoofed sender IP', from: 'contoso-sql', frame: buildArpReply({ senderMac: MAC.contosoSql, senderIp: '10.1.1.12', targetMac: MAC.contosoApp, targetIp: '10.1.1.13' }), drop: 'spoofed' },
  { name: 'ARP reply with a spoofed sender MAC', from: 'contoso-sql', frame: buildArp2(MAC.contosoSql, MAC.contosoWeb, '10.1.1.11'), drop: 'spoofed' },
  { name: 'gratuitous ARP reply to broadcast', from: 'contoso-sql', frame: buildArpReply({ senderMac: MAC.contosoSql, senderIp: '10.1.1.11', targetMac: BCAST, targetIp: '10.1.1.11' }), drop: 'arp-ignored' },
  { name: 'control: honest unicast ARP reply', from: 'contoso-sql', frame: buildArpReply({ senderMac: MAC.contosoSql, senderIp: '10.1.1.11', targetMac: MAC.contosoApp, targetIp: '10.1.1.13' }), ports: { 'contoso-app': 1 } },
  { name: 'ARP probe from 0.0.0.0', from: 'contoso-sql', frame: buildArpRequest({ srcMac: MAC.contosoSql, senderMac: MAC.contosoSql, senderIp: '0.0.0.0', targetIp: '10.1.1.11' }), drop: 'arp-ignored' },
  { name: 'control: ARP request answered from policy', from: 'contoso-sql', frame: buildArpRequest({ srcMac: MAC.contosoSql, senderMac: MAC.contosoSql, senderIp: '10.1.1.11', targetIp: '10.1.1.13' }), ports: { 'contoso-sql': 1 } },
  { name: "unicast to a neighbour's MAC for another IP", from: 'contoso-sql', frame: sqlUdp({ dstIp: '10.1.1.12' }), drop: 'not-for-port' },
  { name: 'routed into another virtual network', from: 'fabrikam-sql', frame: buildIpv4Udp({ srcMac: MAC.fabrikamSql, dstMac: ROUTER, srcIp: '10.1.1.11', dstIp: '10.1.2.21' }), drop: 'no-route' },
  { name: 'control: routed within the virtual network', from: 'contoso-sql', frame: buildIpv4Udp({ srcMac: MAC.contosoSql, dstMac: ROUTER, srcIp: '10.1.1.11', dstIp: '10.1.2.21' }), ports: { 'contoso-db2': 1 } },
  { name: 'control: echo to the gateway', from: 'contoso-sql', frame: buildIcmpEcho({ srcMac: MAC.contosoSql, dstMac: ROUTER, srcIp: '10.1.1.11', dstIp: '10.1.1.1' }), ports: { 'contoso-sql': 1 } },
];

function buildArp2(eth: string, sender: string, ip: string): Uint8Array {
  const f = buildArpReply({ senderMac: sender, senderIp: ip, targetMac: MAC.contosoApp, targetIp: '10.1.1.13' });
  f.set(eth.split(':').map((h) => parseInt(h, 16)), 6);
  return f;
}

const webInner = (o: Parameters<typeof buildIpv4Udp>[0] = {}) => buildIpv4Udp({ srcMac: MAC.contosoWeb, dstMac: MAC.contosoSql, srcIp: '10.1.1.12', dstIp: '10.1.1.11', dstPort: 7000, ...o });

const ingress: Case[] = [
  { name: 'control: a CA the sending host owns', from: PA2, frame: webInner(), ports: { 'contoso-sql': 1 } },
  { name: 'a CA that lives on the receiving host', from: PA2, frame: webInner({ srcMac: MAC.contosoApp, srcIp: '10.1.1.13' }), drop: 'src-not-owned' },
  { name: 'a CA of another host', from: PA3, frame: webInner(), drop: 'src-not-owned' },
  { name: 'the owner MAC with an IP it does not own', from: PA2, frame: webInner({ srcIp: '10.1.1.99' }), drop: 'src-not-owned' },
  { name: 'a VSID the sending host has no port in', from: PA3, vni: 5002, frame: buildIpv4Udp({ srcMac: MAC.contosoApi, dstMac: MAC.contosoDb2, srcIp: '10.1.2.22', dstIp: '10.1.2.21' }), drop: 'src-not-owned' },
  { name: 'another tenant\'s MAC under this VSID', from: PA2, frame: webInner({ srcMac: MAC.fabrikamWeb }), drop: 'src-not-owned' },
  { name: 'control: routed by the sending host from its own CA', from: PA2, frame: webInner({ srcMac: ROUTER, srcIp: '10.1.2.22' }), ports: { 'contoso-sql': 1 } },
  { name: 'routed, from a CA of the receiving host', from: PA2, frame: webInner({ srcMac: ROUTER, srcIp: '10.1.2.21' }), drop: 'src-not-owned' },
  { name: 'ARP with a sender the host does not own', from: PA2, frame: buildArpRequest({ srcMac: MAC.contosoWeb, senderMac: MAC.contosoWeb, senderIp: '10.1.1.13', targetIp: '10.1.1.11' }), drop: 'src-not-owned' },
  { name: 'control: an ARP request flooded by a peer', from: PA2, frame: buildArpRequest({ srcMac: MAC.contosoWeb, senderMac: MAC.contosoWeb, senderIp: '10.1.1.12', targetIp: '10.1.1.11' }), ports: { 'contoso-sql': 1, 'contoso-app': 1 } },
  { name: 'inner VLAN tag', from: PA2, frame: webInner({ vlan: 0 }), drop: 'vlan-tagged' },
  { name: 'inner IPv6', from: PA2, frame: buildIpv6({ srcMac: MAC.contosoWeb, dstMac: MAC.contosoSql }), drop: 'ipv6-disabled' },
  { name: 'unicast to a port for another IP', from: PA2, frame: webInner({ dstIp: '10.1.1.13' }), drop: 'not-for-port' },
];

function run(r: Rig, c: Case): void {
  if (c.from.includes('.')) r.fromWire('vxlan', wire(buildVxlan({ vni: c.vni ?? 5001, inner: c.frame })), c.from);
  else r.send(c.from, c.frame);
}

describe('every frame takes the layers', () => {
  for (const c of [...egress, ...ingress]) {
    it(`${c.from.includes('.') ? 'from the wire' : 'from a port'}: ${c.name}`, () => {
      const r = rig(denyAllIn(figure8(), 'fabrikam-sql'));
      run(r, c);
      const o = outcome(r);
      expect(o.ports).toEqual(c.ports ?? {});
      expect(o.remote).toBe(c.remote ?? 0);
      if (c.drop) expect(o.drops).toEqual({ [c.drop]: 1 });
      else expect(o.drops).toEqual({});
    });
  }

  it('a deny-all inbound ACL is not passed by IPv6 (and IPv4 to it is denied)', () => {
    const r = rig(denyAllIn(figure8(), 'contoso-app'));
    r.send('contoso-sql', buildIpv6({ srcMac: MAC.contosoSql, dstMac: MAC.contosoApp, nextHeader: 6, payload: new Uint8Array(20) }));
    r.send('contoso-sql', sqlUdp());
    const o = outcome(r);
    expect(o.ports).toEqual({});
    expect(o.drops).toEqual({ 'ipv6-disabled': 1, 'acl-deny': 1 });
  });
});

describe('trace is the forwarding path', () => {
  for (const c of [...egress, ...ingress]) {
    it(`agrees on: ${c.name}`, () => {
      const pol = denyAllIn(figure8(), 'fabrikam-sql');
      const fwdRig = rig(pol);
      run(fwdRig, c);
      const o = outcome(fwdRig);
      const tr = rig(pol);
      const isWire = c.from.includes('.');
      const port = isWire ? 'contoso-sql' : c.from;
      const t = tr.fwd.trace(port, c.frame, isWire ? 'in' : 'out', isWire ? (c.from === PA2 ? 'host2' : 'host3') : undefined);
      if (t.verdict === 'drop') {
        expect(Object.keys(o.ports)).toEqual([]);
        expect(o.drops).toEqual({ [t.dropReason!]: 1 });
      } else {
        const tracedPorts = t.outputs.filter((x) => x.startsWith('port ')).map((x) => x.slice(5).split(' ')[0]);
        expect(tracedPorts.sort()).toEqual(Object.keys(o.ports).sort());
        expect(t.outputs.length - tracedPorts.length).toBe(o.remote);
      }
      // the trace changed nothing
      expect(tr.fwd.dumpFlows()).toHaveLength(0);
      expect(tr.fwd.ct.count).toBe(0);
      expect(outcome(tr).drops).toEqual({});
    });
  }
});

describe('connection tracking keeps tenants apart', () => {
  it('a reload that reorders the virtual networks neither loses a connection nor admits another tenant into it', () => {
    const ids = new IdRegistry();
    const p1 = denyAllIn(figure8(), 'contoso-sql', 'fabrikam-sql');
    const r = rig(p1, 'host1', {});
    // the rig compiled without our registry: give it a snapshot from the registry first
    r.fwd.setSnapshot(compileSnapshot(p1, 'host1', 2, { ids }));
    r.send('contoso-sql', buildIpv4Udp({ srcMac: MAC.contosoSql, dstMac: MAC.contosoWeb, srcIp: '10.1.1.11', dstIp: '10.1.1.12', srcPort: 5000, dstPort: 6000 }));
    expect(r.vx.pullAll()).toHaveLength(1);
    const p2 = structuredClone(p1);
    p2.virtualNetworks.reverse();
    p2.virtualNetworks.unshift({ name: 'newcomer', addressPrefixes: ['10.9.0.0/16'], subnets: [{ name: 's', vsid: 9001, addressPrefix: '10.9.0.0/24', encapsulation: 'vxlan' }] });
    r.fwd.setSnapshot(compileSnapshot(p2, 'host1', 3, { ids }));
    // fabrikam's web sends the exact reply tuple of contoso's connection: a new connection, denied
    r.fromWire('vxlan', wire(buildVxlan({ vni: 6001, inner: buildIpv4Udp({ srcMac: MAC.fabrikamWeb, dstMac: MAC.fabrikamSql, srcIp: '10.1.1.12', dstIp: '10.1.1.11', srcPort: 6000, dstPort: 5000 }) })), PA2);
    expect(r.pull('fabrikam-sql')).toHaveLength(0);
    // contoso's reply still finds its connection
    r.fromWire('vxlan', wire(buildVxlan({ vni: 5001, inner: buildIpv4Udp({ srcMac: MAC.contosoWeb, dstMac: MAC.contosoSql, srcIp: '10.1.1.12', dstIp: '10.1.1.11', srcPort: 6000, dstPort: 5000 }) })), PA2);
    expect(r.pull('contoso-sql')).toHaveLength(1);
    expect(countersToJson(r.fwd.counters, compileSnapshot(p2, 'host1', 3, { ids })).drops['acl-deny']).toBe(1);
  });

  it('a port id names one port for the registry\'s lifetime, whatever the policy order', () => {
    const ids = new IdRegistry();
    const p1 = figure8();
    const s1 = compileSnapshot(p1, 'host1', 1, { ids });
    const p2 = structuredClone(p1);
    p2.networkInterfaces.reverse();
    p2.networkInterfaces = p2.networkInterfaces.filter((n) => n.name !== 'contoso-app');
    const s2 = compileSnapshot(p2, 'host1', 2, { ids });
    for (const p of s2.ports) expect(p.index).toBe(s1.portByName.get(p.name));
    p2.networkInterfaces.push({ name: 'newport', host: 'host1', virtualNetwork: 'contoso', subnet: 's1', macAddress: '00:1d:d8:b7:1c:99', ipAddress: '10.1.1.99' });
    const s3 = compileSnapshot(p2, 'host1', 3, { ids });
    const id = s3.portByName.get('newport')!;
    expect([...s1.portByName.values()]).not.toContain(id);
    expect(s3.portById[s1.portByName.get('contoso-app')!]).toBeUndefined();
  });
});

describe('a reload that adds ports', () => {
  it('registers the new port under an id the running snapshot never used', () => {
    const ids = new IdRegistry();
    const p1 = figure8();
    const snap1 = compileSnapshot(p1, 'host1', 1, { ids });
    const r = rig(p1);
    r.fwd.setSnapshot(snap1);
    // the new policy puts a fabrikam port first: positions shift, ids do not
    const p2 = structuredClone(p1);
    p2.networkInterfaces.unshift({ name: 'fabrikam-new', host: 'host1', virtualNetwork: 'fabrikam', subnet: 's1', macAddress: '00:1d:d8:b7:2c:09', ipAddress: '10.1.1.19' });
    const snap2 = compileSnapshot(p2, 'host1', 2, { ids });
    const fresh = snap2.portByName.get('fabrikam-new')!;
    expect(snap1.portById[fresh]).toBeUndefined();
    // the agent creates the new port's device before the switch; the old snapshot forwards on
    const dev = new MemoryPort('fabrikam-new');
    r.fwd.setPort(fresh, dev);
    r.send('contoso-sql', sqlUdp());
    expect(r.pull('contoso-app')).toHaveLength(1);
    expect(dev.pullAll()).toHaveLength(0);
    r.fwd.setSnapshot(snap2);
    r.send('fabrikam-sql', buildIpv4Udp({ srcMac: MAC.fabrikamSql, dstMac: '00:1d:d8:b7:2c:09', srcIp: '10.1.1.11', dstIp: '10.1.1.19' }));
    expect(dev.pullAll()).toHaveLength(1);
  });
});

describe('fair tables', () => {
  it('a port at its connection quota fails closed alone', () => {
    const r = rig(denyAllIn(figure8(), 'contoso-sql', 'contoso-app'), 'host1', { ctPerPort: 3 });
    for (let i = 0; i < 5; i++) r.send('contoso-sql', buildIpv4Udp({ srcMac: MAC.contosoSql, dstMac: MAC.contosoWeb, srcIp: '10.1.1.11', dstIp: '10.1.1.12', srcPort: 5000 + i, dstPort: 53 }));
    expect(r.vx.pullAll()).toHaveLength(3);
    r.send('contoso-app', buildIpv4Udp({ srcMac: MAC.contosoApp, dstMac: MAC.contosoWeb, srcIp: '10.1.1.13', dstIp: '10.1.1.12', srcPort: 5000, dstPort: 53 }));
    expect(r.vx.pullAll()).toHaveLength(1);
    expect(outcome(r).drops).toEqual({ 'ct-limit': 2 });
  });

  it('a flood of new flows does not evict an established connection', () => {
    const r = rig(denyAllIn(figure8(), 'contoso-sql', 'contoso-app'), 'host1', { ctCapacity: 16, newFlowsPerSecond: 0 });
    const tcp = (flags: number, fromWeb: boolean) =>
      fromWeb
        ? wire(buildVxlan({ vni: 5001, inner: buildTcp({ srcMac: MAC.contosoWeb, dstMac: MAC.contosoSql, srcIp: '10.1.1.12', dstIp: '10.1.1.11', srcPort: 443, dstPort: 40000, flags }) }))
        : buildTcp({ srcMac: MAC.contosoSql, dstMac: MAC.contosoWeb, srcIp: '10.1.1.11', dstIp: '10.1.1.12', srcPort: 40000, dstPort: 443, flags });
    r.send('contoso-sql', tcp(0x02, false) as Uint8Array);
    r.fromWire('vxlan', tcp(0x12, true), PA2);
    r.send('contoso-sql', tcp(0x10, false) as Uint8Array);
    expect(r.pull('contoso-sql')).toHaveLength(1);
    for (let i = 0; i < 200; i++) r.send('contoso-app', buildIpv4Udp({ srcMac: MAC.contosoApp, dstMac: MAC.contosoWeb, srcIp: '10.1.1.13', dstIp: '10.1.1.12', srcPort: 1000 + i, dstPort: 53 }));
    r.fromWire('vxlan', tcp(0x18, true), PA2);
    expect(r.pull('contoso-sql')).toHaveLength(1);
    const o = outcome(r);
    expect(o.drops['ct-limit']).toBeGreaterThan(150);
  });

  it('a port over its new-flows-per-second quota loses new flows, others do not', () => {
    const r = rig(figure8(), 'host1', { newFlowsPerSecond: 5, newFlowsBurst: 5 });
    const flood = () => {
      for (let i = 0; i < 10; i++) r.send('contoso-app', buildIpv4Udp({ srcMac: MAC.contosoApp, dstMac: MAC.contosoSql, srcIp: '10.1.1.13', dstIp: '10.1.1.11', srcPort: 2000 + i, dstPort: 53 }));
    };
    flood();
    expect(r.pull('contoso-sql')).toHaveLength(5);
    r.send('contoso-sql', sqlUdp());
    expect(r.pull('contoso-app')).toHaveLength(1);
    // the five flows already admitted are cached: their frames take no token
    flood();
    expect(r.pull('contoso-sql')).toHaveLength(5);
    r.clock.t += 1000;
    flood();
    expect(r.pull('contoso-sql')).toHaveLength(10);
    expect(outcome(r).drops).toEqual({ 'flow-limit': 10 });
  });
});

describe('fragments and ICMP errors', () => {
  const frag = (id: number, offset: number, more: boolean, dstPort = 7000) => {
    const full = buildIpv4Udp({ srcMac: MAC.contosoSql, dstMac: MAC.contosoApp, srcIp: '10.1.1.11', dstIp: '10.1.1.13', dstPort, id, flagsFragment: (more ? 0x2000 : 0) | offset, payload: new Uint8Array(16) });
    if (offset === 0) return full;
    // a later fragment: the bytes after the IPv4 header are payload, not a UDP header
    return buildIpv4({ srcMac: MAC.contosoSql, dstMac: MAC.contosoApp, srcIp: '10.1.1.11', dstIp: '10.1.1.13', proto: 17, id, flagsFragment: (more ? 0x2000 : 0) | offset, payload: new Uint8Array(24) });
  };
  const allow7000 = (): Policy => {
    const p = figure8({
      accessControlLists: [
        {
          name: 'app-in',
          aclRules: [
            { name: 'udp7000', protocol: 'UDP', sourceAddressPrefix: '*', destinationAddressPrefix: '*', sourcePortRange: '*', destinationPortRange: '7000', action: 'Allow', type: 'Inbound', priority: 100 },
            { name: 'deny', protocol: 'All', sourceAddressPrefix: '*', destinationAddressPrefix: '*', sourcePortRange: '*', destinationPortRange: '*', action: 'Deny', type: 'Inbound', priority: 4000 },
          ],
        },
      ],
    });
    p.networkInterfaces.find((n) => n.name === 'contoso-app')!.accessControlList = 'app-in';
    return p;
  };

  it('later fragments follow their first fragment; orphans are dropped', () => {
    const r = rig(allow7000());
    r.send('contoso-sql', frag(11, 0, true));
    r.send('contoso-sql', frag(11, 3, false));
    expect(r.pull('contoso-app')).toHaveLength(2);
    r.send('contoso-sql', frag(12, 0, true, 22));
    r.send('contoso-sql', frag(12, 3, false));
    r.send('contoso-sql', frag(13, 3, false));
    expect(r.pull('contoso-app')).toHaveLength(0);
    expect(outcome(r).drops).toEqual({ 'acl-deny': 2, 'fragment-orphan': 1 });
  });

  it('an ICMP error about a tracked connection is let in; one about nothing is not', () => {
    const p = denyAllIn(figure8(), 'contoso-sql');
    const r = rig(p);
    r.send('contoso-sql', buildIpv4Udp({ srcMac: MAC.contosoSql, dstMac: MAC.contosoWeb, srcIp: '10.1.1.11', dstIp: '10.1.1.12', srcPort: 5000, dstPort: 6000 }));
    const quoted = (sport: number) => buildIpv4Udp({ srcIp: '10.1.1.11', dstIp: '10.1.1.12', srcPort: sport, dstPort: 6000 }).slice(14, 14 + 28);
    const unreach = (sport: number) => {
      const body = new Uint8Array(4 + 28);
      body.set(quoted(sport), 4);
      return buildIpv4({ srcMac: MAC.contosoWeb, dstMac: MAC.contosoSql, srcIp: '10.1.1.12', dstIp: '10.1.1.11', proto: 1, payload: icmp(3, 3, body) });
    };
    r.fromWire('vxlan', wire(buildVxlan({ vni: 5001, inner: unreach(5000) })), PA2);
    expect(r.pull('contoso-sql')).toHaveLength(1);
    r.fromWire('vxlan', wire(buildVxlan({ vni: 5001, inner: unreach(5999) })), PA2);
    expect(r.pull('contoso-sql')).toHaveLength(0);
    expect(outcome(r).drops).toEqual({ 'acl-deny': 1 });
  });
});

/** An ICMP message (type, code, the 4 bytes after the checksum and the rest in `body`) with its checksum. */
function icmp(type: number, code: number, body: Uint8Array): Uint8Array {
  const m = new Uint8Array(4 + body.length);
  m[0] = type;
  m[1] = code;
  m.set(body, 4);
  let s = 0;
  for (let i = 0; i < m.length; i += 2) s += (m[i] << 8) | (m[i + 1] ?? 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  const c = ~s & 0xffff;
  m[2] = c >>> 8;
  m[3] = c & 0xff;
  return m;
}

describe('UDP GRO buffers that are not one TCP run', () => {
  it('are delivered whole, however many datagrams a read brings (no offload drops)', () => {
    const snap = compileSnapshot(figure8(), 'host1', 1);
    const vx = new MemoryUplink('vxlan', { localAddrs: [0xc0a8010a], gro: true });
    const fwd = new Forwarder({ ports: [], vxlan: vx }, snap, { bigSlotSize: TSO_SLOT });
    const sql = new MemoryPort('contoso-sql', { queueLimit: 4096 });
    fwd.setPort(snap.portByName.get('contoso-sql')!, sql);
    // 8 buffers of 40 UDP datagrams (different flows): 320 frames, 5 split batches' worth
    const sent: Uint8Array[] = [];
    for (let b = 0; b < 8; b++) {
      const inner = Array.from({ length: 40 }, (_, i) => webInner({ srcPort: 1000 + b * 40 + i, payload: new Uint8Array(32).fill(i) }));
      sent.push(...inner);
      vx.pushGro(inner.map((f) => wire(buildVxlan({ vni: 5001, inner: f })).slice(8)), 0xc0a80214);
    }
    fwd.pollUplink('vxlan');
    // each one byte for byte, in order (the split copies them into slots of their own)
    const got = sql.pullAll();
    expect(got).toHaveLength(320);
    got.forEach((f, k) => expect(Buffer.from(f).equals(Buffer.from(sent[k]!))).toBe(true));
    expect(countersToJson(fwd.counters, snap).drops).toMatchObject({ offload: 0 });
    expect(fwd.counters.global[C.GroSplit]).toBe(8);
  });
});
