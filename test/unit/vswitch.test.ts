// Hyper-V style switches (issue 14) through the Forwarder with memory fakes: learning, flooding
// within a switch only, source MAC enforcement, isolation from other switches and from HNV
// subnets, a port moved between switches by a policy update, trace; and the policy's errors.
import { describe, expect, it } from 'vitest';
import { buildArpRequest, buildIpv4Udp, buildIpv6Udp, buildTcp } from '../../src/wire/build/frames.js';
import { figure8, rig, MAC } from '../helpers/vfp-fixtures.js';
import { countersToJson } from '../../src/dataplane/counters.js';
import { compileSnapshot } from '../../src/vfp/snapshot.js';
import { parsePolicy } from '../../src/policy/validate.js';
import type { Policy } from '../../src/policy/types.js';
import { hostPortName } from '../../src/vfp/switch-compile.js';
import { VnetPort, vnetForwarder } from '../helpers/vnet-port.js';
import { Forwarder } from '../../src/dataplane/forwarder.js';

const M = { a: '02:00:00:00:04:0a', b: '02:00:00:00:04:0b', c: '02:00:00:00:04:0c', d: '02:00:00:00:04:0d', x: '02:00:00:00:04:99' };

function switchPolicy(over: Partial<Policy> = {}): Policy {
  const base = figure8();
  return {
    ...base,
    switches: [
      { name: 'priv', switchType: 'Private' },
      { name: 'int', switchType: 'Internal', hostAddress: '172.30.0.1/24' },
    ],
    nats: [],
    networkInterfaces: [
      ...base.networkInterfaces,
      { name: 'vm-a', host: 'host1', switch: 'priv', macAddress: M.a },
      { name: 'vm-b', host: 'host1', switch: 'priv', macAddress: M.b },
      { name: 'vm-c', host: 'host1', switch: 'int', macAddress: M.c },
      { name: 'vm-d', host: 'host1', switch: 'int', macAddress: M.d },
    ],
    ...over,
  };
}

const udp = (src: string, dst: string, srcIp = '172.30.0.10', dstIp = '172.30.0.11') => buildIpv4Udp({ srcMac: src, dstMac: dst, srcIp, dstIp, srcPort: 1000, dstPort: 2000 });
const BCAST = 'ff:ff:ff:ff:ff:ff';

describe('learning switch', () => {
  it('floods unknown unicast and broadcast within its switch only, then learns', () => {
    const r = rig(switchPolicy());
    const host = hostPortName('int');
    // a broadcast on priv: vm-b only (not int's ports, not the host vNIC, not HNV ports)
    const arp = buildArpRequest({ srcMac: M.a, senderMac: M.a, senderIp: '192.168.5.1', targetIp: '192.168.5.2' });
    r.send('vm-a', arp);
    expect(r.pull('vm-b')).toEqual([arp]);
    for (const p of ['vm-c', 'vm-d', host, 'contoso-sql', 'fabrikam-sql']) expect(r.pull(p)).toHaveLength(0);
    // unknown unicast on int: vm-d and the host vNIC
    const f1 = udp(M.c, M.d);
    r.send('vm-c', f1);
    expect(r.pull('vm-d')).toEqual([f1]);
    expect(r.pull(host)).toEqual([f1]);
    // vm-d answers: vm-c was learned, so only vm-c gets it
    const f2 = udp(M.d, M.c, '172.30.0.11', '172.30.0.10');
    r.send('vm-d', f2);
    expect(r.pull('vm-c')).toEqual([f2]);
    expect(r.pull(host)).toHaveLength(0);
    // and now vm-d is known too: the next frame from vm-c is unicast
    r.send('vm-c', f1);
    expect(r.pull('vm-d')).toEqual([f1]);
    expect(r.pull(host)).toHaveLength(0);
  });

  it('never crosses to another switch, even for a MAC learned there', () => {
    const r = rig(switchPolicy());
    r.send('vm-c', udp(M.c, BCAST)); // vm-c learned on int
    r.pull('vm-d');
    r.pull(hostPortName('int'));
    r.send('vm-a', udp(M.a, M.c)); // to int's vm-c from priv: unknown in priv, flooded in priv
    expect(r.pull('vm-c')).toHaveLength(0);
    expect(r.pull('vm-b')).toHaveLength(1);
    // to an HNV port's MAC: unknown too
    r.send('vm-a', udp(M.a, MAC.contosoSql));
    expect(r.pull('contoso-sql')).toHaveLength(0);
  });

  it('enforces the source MAC of the port (the VM sets its own IP, IPv6 included)', () => {
    const r = rig(switchPolicy());
    r.send('vm-a', udp(M.x, BCAST));
    r.send('vm-a', buildArpRequest({ srcMac: M.a, senderMac: M.x, senderIp: '192.168.5.1', targetIp: '192.168.5.2' }));
    expect(r.pull('vm-b')).toHaveLength(0);
    expect(countersToJson(r.fwd.counters, r.snap).drops.spoofed).toBe(2);
    const v6 = buildIpv6Udp({ srcMac: M.a, dstMac: M.b, srcIp6: 'fe80::1', dstIp6: 'fe80::2', srcPort: 1, dstPort: 2 });
    r.send('vm-a', udp(M.a, M.b, '10.9.9.9', '10.9.9.8'));
    r.send('vm-a', v6);
    expect(r.pull('vm-b')).toHaveLength(2);
  });

  it('forgets a port that moved to another switch (a policy update)', () => {
    const p1 = switchPolicy();
    const r = rig(p1);
    r.send('vm-b', udp(M.b, BCAST)); // vm-b learned on priv
    r.pull('vm-a');
    const p2 = { ...p1, networkInterfaces: p1.networkInterfaces.map((n) => (n.name === 'vm-b' ? { ...n, switch: 'int' } : n)) };
    r.fwd.setSnapshot(compileSnapshot(p2, 'host1', 2));
    r.send('vm-a', udp(M.a, M.b));
    expect(r.pull('vm-b')).toHaveLength(0); // vm-a is alone on priv now
    expect(countersToJson(r.fwd.counters, r.fwd.snapshot).drops['no-port']).toBe(1);
    r.send('vm-c', udp(M.c, M.b));
    expect(r.pull('vm-b')).toHaveLength(1); // int floods to its new port
  });

  it('ages a MAC out after 300 s (floods again)', () => {
    const r = rig(switchPolicy());
    r.send('vm-d', udp(M.d, BCAST));
    r.pull('vm-c');
    r.pull(hostPortName('int'));
    r.clock.t += 301_000;
    r.send('vm-c', buildArpRequest({ srcMac: M.c, dstMac: M.d, senderMac: M.c, senderIp: '172.30.0.10', targetIp: '172.30.0.11' }));
    expect(r.pull(hostPortName('int'))).toHaveLength(1);
  });

  it('traces the walk without learning', () => {
    const r = rig(switchPolicy());
    const t = r.fwd.trace('vm-c', udp(M.c, M.d), 'out');
    const steps = t.steps.filter((s) => s.layer.startsWith('switch'));
    expect(steps.map((s) => s.layer)).toEqual(['switch-guard', 'switch']);
    expect(steps[1].action).toMatch(/flood to vm-d, vEthernet\(int\)/);
    r.send('vm-d', udp(M.d, M.c, '172.30.0.11', '172.30.0.10'));
    expect(r.pull(hostPortName('int'))).toHaveLength(1); // vm-c was not learned by the trace
  });

  it('lists a host vNIC port only for Internal switches, and nothing for a host without ports', () => {
    const s1 = compileSnapshot(switchPolicy(), 'host1', 1);
    expect(s1.switches.map((s) => [s.name, s.ports.length])).toEqual([['priv', 2], ['int', 3]]);
    expect(compileSnapshot(switchPolicy(), 'host2', 1).switches).toEqual([]);
  });
});

describe('switch policy errors, by path', () => {
  const errs = (p: unknown) => {
    const r = parsePolicy(p);
    return r.ok ? [] : r.errors.map((e) => `${e.path}: ${e.message}`);
  };
  it('accepts the issue\'s example', () => {
    const p = switchPolicy({
      nats: [{ name: 'labnat', internalIPInterfaceAddressPrefix: '172.30.0.0/24', staticMappings: [{ protocol: 'TCP', externalIPAddress: '0.0.0.0', externalPort: 8080, internalIPAddress: '172.30.0.10', internalPort: 80 }] }],
    });
    expect(errs(p)).toEqual([]);
  });
  it('reports an unknown switch, a NIC bound twice, a bad NAT prefix, overlapping prefixes, a taken port', () => {
    const base = switchPolicy();
    const bad = {
      ...base,
      switches: [...base.switches!, { name: 'int2', switchType: 'internal', hostAddress: '172.30.0.129/25' }, { name: 'e', switchType: 'External' }],
      nats: [
        { name: 'n1', internalIPInterfaceAddressPrefix: '172.30.0.0/24', staticMappings: [{ protocol: 'TCP', externalPort: 8080, internalIPAddress: '172.30.0.10', internalPort: 80 }] },
        { name: 'n2', internalIPInterfaceAddressPrefix: '172.30.0.128/25', staticMappings: [{ protocol: 'tcp', externalIPAddress: '10.0.0.1', externalPort: 8080, internalIPAddress: '172.30.0.130', internalPort: 80 }] },
        { name: 'n3', internalIPInterfaceAddressPrefix: '10.77.0.0/16' },
      ],
      networkInterfaces: [
        ...base.networkInterfaces,
        { name: 'vm-x', host: 'host1', switch: 'nope', macAddress: '02:00:00:00:05:01' },
        { name: 'vm-y', host: 'host1', switch: 'priv', virtualNetwork: 'contoso', macAddress: '02:00:00:00:05:02' },
      ],
    };
    const e = errs(bad);
    expect(e).toContain('switches[3].netAdapterName: required for an External switch (the host NIC to bind, e.g. eth1)');
    expect(e).toContain('nats[1].internalIPInterfaceAddressPrefix: NAT prefix 172.30.0.128/25 overlaps NAT n1 (172.30.0.0/24)');
    expect(e).toContain('nats[1].staticMappings[0].externalPort: external port TCP 8080 is taken by nats[0].staticMappings[0]');
    expect(e.some((m) => m.startsWith("nats[2].internalIPInterfaceAddressPrefix: 10.77.0.0/16 is no Internal switch's prefix"))).toBe(true);
    expect(e).toContain('networkInterfaces[13].switch: unknown switch nope');
    expect(e.some((m) => m.startsWith('networkInterfaces[14].virtualNetwork: interface bound twice'))).toBe(true);
  });
  it('requires a network for an interface that names no switch', () => {
    const p = switchPolicy();
    const e = errs({ ...p, networkInterfaces: [{ name: 'lost', host: 'host1', macAddress: '02:00:00:00:05:03' }] });
    expect(e).toContain('networkInterfaces[0].virtualNetwork: required');
  });
});

describe('flooding with offloads', () => {
  it('every copy of a flooded frame keeps its virtio-net header (a partial checksum stays marked)', () => {
    const snap = compileSnapshot(switchPolicy(), 'host1', 1);
    const fwd = new Forwarder({ ports: [] }, snap, { now: () => 1_000_000 });
    const ports = new Map<string, VnetPort>();
    for (const p of snap.ports) {
      const mp = new VnetPort(p.name);
      ports.set(p.name, mp);
      fwd.setPort(p.index, mp);
    }
    // NEEDS_CSUM, no GSO, csum_start 34, csum_offset 16 (TCP), num_buffers 1
    const hdr = Uint8Array.from([1, 0, 0, 0, 0, 0, 34, 0, 16, 0, 1, 0]);
    const c = ports.get('vm-c')!;
    c.hdrIn = hdr;
    c.push(buildIpv4Udp({ srcMac: M.c, dstMac: M.d, srcIp: '172.30.0.10', dstIp: '172.30.0.11', srcPort: 1, dstPort: 2 }));
    fwd.pollPort(snap.portByName.get('vm-c')!);
    const d = ports.get('vm-d')!;
    const h = ports.get(hostPortName('int'))!;
    expect(d.pullAll()).toHaveLength(1);
    expect(h.pullAll()).toHaveLength(1);
    expect([...d.hdrsOut[0]]).toEqual([...hdr]);
    expect([...h.hdrsOut[0]]).toEqual([...hdr]);
  });
});

describe('flooding a TSO super-frame', () => {
  it('copies it whole, with its virtio-net header, to every port of the switch (not only the first)', () => {
    const snap = compileSnapshot(switchPolicy(), 'host1', 1);
    const { fwd, ports } = vnetForwarder(snap);
    // NEEDS_CSUM, GSO TCPV4, hdr_len 54, gso_size 1448, csum_start 34, csum_offset 16, num_buffers 1
    const hdr = Uint8Array.from([1, 1, 54, 0, 0xa8, 0x05, 34, 0, 16, 0, 1, 0]);
    const payload = new Uint8Array(20_000);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 7) & 0xff;
    const frame = buildTcp({ srcMac: M.c, dstMac: M.d, srcIp: '172.30.0.10', dstIp: '172.30.0.11', srcPort: 40000, dstPort: 5201, flags: 0x18, payload });
    const c = ports.get('vm-c')!;
    c.hdrIn = hdr;
    c.push(frame);
    fwd.pollPort(snap.portByName.get('vm-c')!);
    // vm-d is not learned yet: flooded to vm-d and the host vNIC, both get the whole super-frame
    for (const name of ['vm-d', hostPortName('int')]) {
      const p = ports.get(name)!;
      const got = p.pullAll();
      expect(got, name).toHaveLength(1);
      expect(Buffer.from(got[0]).equals(Buffer.from(frame)), name).toBe(true);
      expect([...p.hdrsOut[0]], name).toEqual([...hdr]);
    }
    expect(countersToJson(fwd.counters, snap).drops['no-buffer']).toBe(0);
  });
});
