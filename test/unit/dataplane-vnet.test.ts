// Frames in -> frames out through the Forwarder's VNET layer with memory fakes: ARP responder,
// L2 within a VSID, VXLAN/NVGRE encapsulation (golden bytes), decapsulation, replication, drops.
import { describe, expect, it } from 'vitest';
import { buildArpRequest, buildIcmpEcho, buildIpv4Udp, buildNvgre, buildTcp, buildVxlan, fromHex, toHex } from '../../src/wire/build/frames.js';
import { MAC, PA1, PA2, PA3, ROUTER, figure8, ipNum, rig } from '../helpers/vfp-fixtures.js';
import { countersToJson } from '../../src/dataplane/counters.js';
import { innerFlowHash, FlowFields, parseFrame } from '../../src/vfp/flowkey.js';

const wire = (full: Uint8Array): Uint8Array => full.slice(34); // drop outer Ethernet + IPv4

function sportOf(inner: Uint8Array): number {
  const f = new FlowFields();
  parseFrame(inner, 0, inner.length, f);
  return 49152 + (innerFlowHash(f) % 16384);
}

describe('ARP responder', () => {
  it('answers a request for a CA of the VSID in place, out of the same port', () => {
    const r = rig();
    const req = buildArpRequest({ srcMac: MAC.contosoSql, senderMac: MAC.contosoSql, senderIp: '10.1.1.11', targetIp: '10.1.1.12' });
    r.send('contoso-sql', req);
    const out = r.pull('contoso-sql');
    expect(out).toHaveLength(1);
    expect(toHex(out[0])).toBe(
      toHex(
        fromHex(
          '001dd8b71c01 001dd8b71c02 0806' + // eth: to the requester, from the answered MAC
            '0001 0800 06 04 0002' + // ARP reply
            '001dd8b71c02 0a01010c' + // sender: 10.1.1.12 is at web's MAC
            '001dd8b71c01 0a01010b', // target: the requester
        ),
      ),
    );
    expect(r.fwd.counters.global[8]).toBe(1); // arp-replies
    expect(r.vx.queued).toBe(0);
  });

  it('answers for the gateway with the router MAC, per tenant for the same CA', () => {
    const r = rig();
    r.send('contoso-sql', buildArpRequest({ srcMac: MAC.contosoSql, senderMac: MAC.contosoSql, senderIp: '10.1.1.11', targetIp: '10.1.1.1' }));
    expect(toHex(r.pull('contoso-sql')[0].slice(6, 12))).toBe(ROUTER.replaceAll(':', ''));
    r.send('fabrikam-sql', buildArpRequest({ srcMac: MAC.fabrikamSql, senderMac: MAC.fabrikamSql, senderIp: '10.1.1.11', targetIp: '10.1.1.12' }));
    expect(toHex(r.pull('fabrikam-sql')[0].slice(6, 12))).toBe(MAC.fabrikamWeb.replaceAll(':', ''));
  });

  it('does not answer an unknown address, or one of another subnet; counts it', () => {
    const r = rig();
    r.send('contoso-sql', buildArpRequest({ srcMac: MAC.contosoSql, senderMac: MAC.contosoSql, senderIp: '10.1.1.11', targetIp: '10.1.1.99' }));
    r.send('contoso-sql', buildArpRequest({ srcMac: MAC.contosoSql, senderMac: MAC.contosoSql, senderIp: '10.1.1.11', targetIp: '10.1.2.21' }));
    expect(r.pull('contoso-sql')).toHaveLength(0);
    expect(countersToJson(r.fwd.counters, r.snap).drops['arp-unknown']).toBe(2);
  });
});

describe('unicast within a VSID', () => {
  it('delivers to the local port owning the destination MAC, bytes unchanged', () => {
    const r = rig();
    const frame = buildIpv4Udp({ srcMac: MAC.contosoSql, dstMac: MAC.contosoApp, srcIp: '10.1.1.11', dstIp: '10.1.1.13', srcPort: 1000, dstPort: 2000 });
    r.send('contoso-sql', frame);
    expect(r.pull('contoso-app')).toEqual([frame]);
    expect(r.pull('fabrikam-sql')).toHaveLength(0);
    const j = countersToJson(r.fwd.counters, r.snap);
    expect(j.ports['contoso-sql']['rx-frames']).toBe(1);
    expect(j.ports['contoso-app']['tx-frames']).toBe(1);
  });

  it('encapsulates VXLAN to the PA of the destination host (golden bytes)', () => {
    const r = rig();
    const inner = buildTcp({ srcMac: MAC.contosoSql, dstMac: MAC.contosoWeb, srcIp: '10.1.1.11', dstIp: '10.1.1.12', srcPort: 40000, dstPort: 80, flags: 0x02 });
    r.send('contoso-sql', inner);
    const sent = r.vx.pullAll();
    expect(sent).toHaveLength(1);
    expect(sent[0].dst).toBe(ipNum(PA2));
    expect(sent[0].src).toBe(ipNum(PA1));
    const sport = sportOf(inner).toString(16).padStart(4, '0');
    const len = (inner.length + 16).toString(16).padStart(4, '0');
    expect(toHex(sent[0].frame)).toBe(`${sport}12b5${len}0000` + '08000000' + '00138900' + toHex(inner));
    expect(parseInt(sport, 16)).toBeGreaterThanOrEqual(49152);
  });

  it('gives two inner flows different UDP source ports and one flow always the same', () => {
    const r = rig();
    const a = buildTcp({ srcMac: MAC.contosoSql, dstMac: MAC.contosoWeb, srcIp: '10.1.1.11', dstIp: '10.1.1.12', srcPort: 40000, dstPort: 80 });
    const b = buildTcp({ srcMac: MAC.contosoSql, dstMac: MAC.contosoWeb, srcIp: '10.1.1.11', dstIp: '10.1.1.12', srcPort: 40001, dstPort: 80 });
    r.send('contoso-sql', a);
    r.send('contoso-sql', b);
    r.send('contoso-sql', a);
    const ports = r.vx.pullAll().map((p) => (p.frame[0] << 8) | p.frame[1]);
    expect(ports[0]).not.toBe(ports[1]);
    expect(ports[2]).toBe(ports[0]);
  });

  it('encapsulates NVGRE with key = VSID << 8 | FlowID (golden bytes)', () => {
    const r = rig();
    const inner = buildIpv4Udp({ srcMac: MAC.contosoGreLocal, dstMac: MAC.contosoGre, srcIp: '10.1.3.32', dstIp: '10.1.3.31', srcPort: 5000, dstPort: 53 });
    r.send('contoso-grl', inner);
    const sent = r.nv.pullAll();
    expect(sent).toHaveLength(1);
    expect(sent[0].dst).toBe(ipNum(PA3));
    expect(toHex(sent[0].frame)).toBe('2000' + '6558' + '00138b07' + toHex(inner));
    expect(r.vx.queued).toBe(0);
  });

  it('drops a destination MAC that is no port of the VSID, and the sender own MAC', () => {
    const r = rig();
    r.send('contoso-sql', buildIpv4Udp({ srcMac: MAC.contosoSql, dstMac: MAC.fabrikamWeb, srcIp: '10.1.1.11', dstIp: '10.1.1.12' }));
    r.send('contoso-sql', buildIpv4Udp({ srcMac: MAC.contosoSql, dstMac: MAC.contosoSql, srcIp: '10.1.1.11', dstIp: '10.1.1.11' }));
    expect(r.vx.queued).toBe(0);
    expect(countersToJson(r.fwd.counters, r.snap).drops['no-port']).toBe(2);
  });

  it('drops spoofed sources and malformed frames, and keeps forwarding', () => {
    const r = rig();
    r.send('contoso-sql', buildIpv4Udp({ srcMac: MAC.contosoApp, dstMac: MAC.contosoWeb, srcIp: '10.1.1.13', dstIp: '10.1.1.12' }));
    r.send('contoso-sql', new Uint8Array(10));
    const bad = buildIpv4Udp({ srcMac: MAC.contosoSql, dstMac: MAC.contosoWeb, srcIp: '10.1.1.11', dstIp: '10.1.1.12' });
    bad[24] ^= 0xff; // IPv4 header checksum
    r.send('contoso-sql', bad);
    r.send('contoso-sql', buildTcp({ srcMac: MAC.contosoSql, dstMac: MAC.contosoWeb, srcIp: '10.1.1.11', dstIp: '10.1.1.12' }).slice(0, 40));
    r.send('contoso-sql', buildIpv4Udp({ srcMac: MAC.contosoSql, dstMac: MAC.contosoWeb, srcIp: '10.1.1.11', dstIp: '10.1.1.12' }));
    const d = countersToJson(r.fwd.counters, r.snap).drops;
    expect(d.spoofed).toBe(1);
    expect(d.malformed).toBe(3);
    expect(r.vx.pullAll()).toHaveLength(1);
  });
});

describe('ingress from the uplink', () => {
  const inner = buildIcmpEcho({ srcMac: MAC.contosoWeb, dstMac: MAC.contosoSql, srcIp: '10.1.1.12', dstIp: '10.1.1.11' });

  it('decapsulates VXLAN from a known PA into the port of that VSID only', () => {
    const r = rig();
    r.fromWire('vxlan', wire(buildVxlan({ vni: 5001, inner })), PA2);
    expect(r.pull('contoso-sql')).toEqual([inner]);
    expect(r.pull('fabrikam-sql')).toHaveLength(0);
    const finner = buildIcmpEcho({ srcMac: MAC.fabrikamWeb, dstMac: MAC.fabrikamSql, srcIp: '10.1.1.12', dstIp: '10.1.1.11' });
    r.fromWire('vxlan', wire(buildVxlan({ vni: 6001, inner: finner })), PA2);
    expect(r.pull('fabrikam-sql')).toEqual([finner]);
    expect(r.pull('contoso-sql')).toHaveLength(0);
    // contoso's MAC under fabrikam's VNI goes nowhere: it is no endpoint of that VSID
    r.fromWire('vxlan', wire(buildVxlan({ vni: 6001, inner })), PA2);
    expect(r.pull('contoso-sql')).toHaveLength(0);
    expect(countersToJson(r.fwd.counters, r.snap).drops['src-not-owned']).toBe(1);
  });

  it('decapsulates NVGRE (any FlowID)', () => {
    const r = rig();
    const i2 = buildIpv4Udp({ srcMac: MAC.contosoGre, dstMac: MAC.contosoGreLocal, srcIp: '10.1.3.31', dstIp: '10.1.3.32' });
    r.fromWire('nvgre', wire(buildNvgre({ vsid: 5003, flowId: 99, inner: i2 })), PA3);
    expect(r.pull('contoso-grl')).toEqual([i2]);
  });

  it('drops by reason: unknown source PA, unknown VNI, malformed outer, wrong encapsulation', () => {
    const r = rig();
    r.fromWire('vxlan', wire(buildVxlan({ vni: 5001, inner })), '192.168.9.9');
    r.fromWire('vxlan', wire(buildVxlan({ vni: 5001, inner })), PA1); // our own PA is not a peer
    r.fromWire('vxlan', wire(buildVxlan({ vni: 7777, inner })), PA2);
    r.fromWire('vxlan', wire(buildVxlan({ vni: 5001, inner, flags: 0x00 })), PA2);
    r.fromWire('vxlan', wire(buildVxlan({ vni: 5001, inner, truncateTo: 12 })), PA2);
    r.fromWire('nvgre', wire(buildNvgre({ vsid: 5003, inner, flagsVersion: 0x3000 })), PA3);
    r.fromWire('nvgre', wire(buildNvgre({ vsid: 5001, inner })), PA2);
    const d = countersToJson(r.fwd.counters, r.snap).drops;
    expect(d['unknown-src-pa']).toBe(2);
    expect(d['unknown-vni']).toBe(1);
    expect(d.malformed).toBe(3);
    expect(d['encap-mismatch']).toBe(1);
    expect(r.pull('contoso-sql')).toHaveLength(0);
    // and it still forwards
    r.fromWire('vxlan', wire(buildVxlan({ vni: 5001, inner })), PA2);
    expect(r.pull('contoso-sql')).toHaveLength(1);
  });
});

describe('replication of broadcast and multicast', () => {
  it('copies to every other local port of the VSID and once to each remote host', () => {
    const r = rig();
    const bc = buildIpv4Udp({ srcMac: MAC.contosoSql, dstMac: 'ff:ff:ff:ff:ff:ff', srcIp: '10.1.1.11', dstIp: '10.1.1.255', srcPort: 5353, dstPort: 5353 });
    r.send('contoso-sql', bc);
    expect(r.pull('contoso-app')).toEqual([bc]);
    expect(r.pull('contoso-sql')).toHaveLength(0);
    expect(r.pull('fabrikam-sql')).toHaveLength(0);
    const sent = r.vx.pullAll();
    expect(sent.map((s) => s.dst)).toEqual([ipNum(PA2)]);
    expect(toHex(sent[0].frame.slice(16))).toBe(toHex(bc));
    expect(toHex(sent[0].frame.slice(8, 16))).toBe('0800000000138900');
    expect(r.fwd.counters.global[12]).toBe(2); // replicated
  });

  it('delivers broadcast from the wire to every local port of that VSID', () => {
    const r = rig();
    const bc = buildIpv4Udp({ dstMac: 'ff:ff:ff:ff:ff:ff', srcMac: MAC.contosoWeb, srcIp: '10.1.1.12', dstIp: '255.255.255.255', dstPort: 9999 });
    r.fromWire('vxlan', wire(buildVxlan({ vni: 5001, inner: bc })), PA2);
    expect(r.pull('contoso-sql')).toEqual([bc]);
    expect(r.pull('contoso-app')).toEqual([bc]);
    expect(r.pull('fabrikam-sql')).toHaveLength(0);
  });

  it('counts tx-full when a port queue refuses frames', () => {
    const r = rig(figure8(), 'host1', {}, 1);
    for (let i = 0; i < 3; i++) r.ports.get('contoso-app')!.push(buildIpv4Udp({ srcMac: MAC.contosoApp, dstMac: MAC.contosoSql, srcIp: '10.1.1.13', dstIp: '10.1.1.11', srcPort: 1000 + i }));
    // the app port's own rx queue holds one frame: push the rest later
    r.fwd.pollPort(1);
    r.send('contoso-app', buildIpv4Udp({ srcMac: MAC.contosoApp, dstMac: MAC.contosoSql, srcIp: '10.1.1.13', dstIp: '10.1.1.11', srcPort: 2000 }));
    expect(r.pull('contoso-sql')).toHaveLength(1);
    expect(countersToJson(r.fwd.counters, r.snap).drops['tx-full']).toBe(1);
  });
});

describe('uplink replacement', () => {
  it('sends through the new uplink after setUplinks, and counts no-uplink without one', async () => {
    const { MemoryUplink } = await import('../../src/io/memory.js');
    const r = rig();
    const f = buildIpv4Udp({ srcMac: MAC.contosoSql, dstMac: MAC.contosoWeb, srcIp: '10.1.1.11', dstIp: '10.1.1.12' });
    r.fwd.setUplinks({ nvgre: r.nv });
    r.send('contoso-sql', f);
    expect(countersToJson(r.fwd.counters, r.snap).drops['no-uplink']).toBe(1);
    const vx2 = new MemoryUplink('vxlan', { localAddrs: [ipNum(PA1)] });
    r.fwd.setUplinks({ vxlan: vx2, nvgre: r.nv });
    r.send('contoso-sql', f);
    expect(vx2.pullAll()).toHaveLength(1);
    expect(r.vx.queued).toBe(0);
  });
});
