// The distributed router: gateway ARP and echo, routing between subnets of one virtual network
// (same host: never leaves it; other host: VNI of the destination subnet), TTL, no route across
// virtual networks.
import { describe, expect, it } from 'vitest';
import { buildIcmpEcho, buildIpv4Udp, toHex } from '../../src/wire/build/frames.js';
import { MAC, PA2, PA3, ROUTER, ipNum, rig } from '../helpers/vfp-fixtures.js';
import { checksum } from '../../src/wire/checksum.js';
import { countersToJson } from '../../src/dataplane/counters.js';

const hex = (m: string) => m.replaceAll(':', '');

describe('distributed router', () => {
  it('routes between two subnets on the same host without leaving it', () => {
    const r = rig();
    const f = buildIpv4Udp({ srcMac: MAC.contosoSql, dstMac: ROUTER, srcIp: '10.1.1.11', dstIp: '10.1.2.21', ttl: 64, srcPort: 1111, dstPort: 2222 });
    r.send('contoso-sql', f);
    const out = r.pull('contoso-db2');
    expect(out).toHaveLength(1);
    const g = out[0];
    expect(toHex(g.slice(0, 12))).toBe(hex(MAC.contosoDb2) + hex(ROUTER));
    expect(g[14 + 8]).toBe(63);
    expect(checksum(g, 14, 20)).toBe(0);
    expect(toHex(g.slice(34))).toBe(toHex(f.slice(34)));
    expect(r.vx.queued + r.nv.queued).toBe(0);
    expect(countersToJson(r.fwd.counters, r.snap).counters.routed).toBe(1);
  });

  it('routes to another host with the destination subnet VSID as the VNI', () => {
    const r = rig();
    r.send('contoso-sql', buildIpv4Udp({ srcMac: MAC.contosoSql, dstMac: ROUTER, srcIp: '10.1.1.11', dstIp: '10.1.2.22', ttl: 10 }));
    const [p] = r.vx.pullAll();
    expect(p.dst).toBe(ipNum(PA2));
    expect(toHex(p.frame.slice(8, 16))).toBe('0800000000138a00'); // VNI 5002
    expect(toHex(p.frame.slice(16, 28))).toBe(hex(MAC.contosoApi) + hex(ROUTER));
    expect(p.frame[16 + 14 + 8]).toBe(9);
    expect(checksum(p.frame, 16 + 14, 20)).toBe(0);
  });

  it('routes into an NVGRE subnet with its key', () => {
    const r = rig();
    r.send('contoso-sql', buildIpv4Udp({ srcMac: MAC.contosoSql, dstMac: ROUTER, srcIp: '10.1.1.11', dstIp: '10.1.3.31' }));
    const [p] = r.nv.pullAll();
    expect(p.dst).toBe(ipNum(PA3));
    expect(toHex(p.frame.slice(0, 8))).toBe('20006558' + '00138b07');
  });

  it('answers TTL 1 with ICMP time exceeded from the gateway', () => {
    const r = rig();
    const f = buildIpv4Udp({ srcMac: MAC.contosoSql, dstMac: ROUTER, srcIp: '10.1.1.11', dstIp: '10.1.2.21', ttl: 1, srcPort: 33434, dstPort: 33435 });
    r.send('contoso-sql', f);
    expect(r.pull('contoso-db2')).toHaveLength(0);
    const [te] = r.pull('contoso-sql');
    expect(toHex(te.slice(0, 14))).toBe(hex(MAC.contosoSql) + hex(ROUTER) + '0800');
    expect(toHex(te.slice(26, 34))).toBe('0a010101' + '0a01010b'); // 10.1.1.1 -> 10.1.1.11
    expect(te[23]).toBe(1);
    expect(te[34]).toBe(11);
    expect(checksum(te, 14, 20)).toBe(0);
    expect(checksum(te, 34, te.length - 34)).toBe(0);
    expect(toHex(te.slice(42, 42 + 28))).toBe(toHex(f.slice(14, 14 + 28))); // the quoted header + 8 bytes
    const j = countersToJson(r.fwd.counters, r.snap);
    expect(j.drops['ttl-exceeded']).toBe(1);
    expect(j.counters['icmp-time-exceeded']).toBe(1);
  });

  it('answers ICMP echo to the gateway', () => {
    const r = rig();
    const ping = buildIcmpEcho({ srcMac: MAC.contosoSql, dstMac: ROUTER, srcIp: '10.1.1.11', dstIp: '10.1.1.1', echoId: 7, echoSeq: 1 });
    r.send('contoso-sql', ping);
    const [rep] = r.pull('contoso-sql');
    expect(toHex(rep.slice(0, 12))).toBe(hex(MAC.contosoSql) + hex(ROUTER));
    expect(toHex(rep.slice(26, 34))).toBe('0a010101' + '0a01010b');
    expect(rep[34]).toBe(0);
    expect(checksum(rep, 14, 20)).toBe(0);
    expect(checksum(rep, 34, rep.length - 34)).toBe(0);
    expect(toHex(rep.slice(38))).toBe(toHex(ping.slice(38)));
  });

  it('never routes between virtual networks, nor to unknown addresses', () => {
    const r = rig();
    r.send('fabrikam-sql', buildIpv4Udp({ srcMac: MAC.fabrikamSql, dstMac: ROUTER, srcIp: '10.1.1.11', dstIp: '10.1.2.21' }));
    r.send('contoso-sql', buildIpv4Udp({ srcMac: MAC.contosoSql, dstMac: ROUTER, srcIp: '10.1.1.11', dstIp: '10.1.2.99' }));
    expect(r.pull('contoso-db2')).toHaveLength(0);
    expect(r.vx.queued).toBe(0);
    expect(countersToJson(r.fwd.counters, r.snap).drops['no-route']).toBe(2);
  });

  it('routes to the same-subnet address through the router too (hairpin) but never to the sender', () => {
    const r = rig();
    r.send('contoso-sql', buildIpv4Udp({ srcMac: MAC.contosoSql, dstMac: ROUTER, srcIp: '10.1.1.11', dstIp: '10.1.1.13' }));
    expect(r.pull('contoso-app')).toHaveLength(1);
    r.send('contoso-sql', buildIpv4Udp({ srcMac: MAC.contosoSql, dstMac: ROUTER, srcIp: '10.1.1.11', dstIp: '10.1.1.11' }));
    expect(r.pull('contoso-sql')).toHaveLength(0);
  });
});
