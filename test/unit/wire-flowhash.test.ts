// flowhash.ts: deterministic, depends on the flow and nothing else, spreads flows over the port
// range, reads only the frame it is given.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { flowHashFrame, flowHashIpv4, flowHashL2, nvgreFlowId, vxlanSourcePort, FLOW_PORT_MIN } from '../../src/wire/flowhash.js';
import { ETHERTYPE_ARP } from '../../src/wire/ethernet.js';
import { buildArpRequest, buildEth, buildIcmpEcho, buildIpv4Udp, buildIpv6Udp, buildTcp, pattern } from '../../src/wire/build/frames.js';
import { fixturePath, readPcapFrames } from '../helpers/pcap.js';

const h = (f: Uint8Array, seed = 0): number => flowHashFrame(f, 0, f.length, seed);

describe('flow hash', () => {
  it('depends on the 5-tuple, not on payload, TTL, IP id, TCP flags or VLAN tags', () => {
    const base = { srcIp: '10.1.1.11', dstIp: '10.1.1.12', srcPort: 54478, dstPort: 8080 };
    const a = h(buildTcp({ ...base, flags: 0x02 }));
    expect(h(buildTcp({ ...base, flags: 0x10, seq: 99, payload: pattern(100), ttl: 3, id: 7 }))).toBe(a);
    expect(h(buildTcp({ ...base, vlan: [5, 6] }))).toBe(a);
    expect(h(buildTcp({ ...base, srcMac: '02:00:00:00:09:09' }))).toBe(a);
    expect(h(buildTcp({ ...base, srcPort: 54479 }))).not.toBe(a);
    expect(h(buildTcp({ ...base, dstIp: '10.1.1.13' }))).not.toBe(a);
    expect(h(buildIpv4Udp(base))).not.toBe(a); // protocol is part of it
    expect(h(buildTcp(base), 1)).not.toBe(a); // seed
    expect(flowHashIpv4(buildTcp(base), 14, 14 + 40)).toBe(a);
  });
  it('ICMP hashes by addresses; all fragments of a packet hash alike', () => {
    const icmp = buildIcmpEcho({ echoSeq: 1 });
    expect(h(buildIcmpEcho({ echoSeq: 2 }))).toBe(h(icmp));
    const first = buildIpv4Udp({ srcPort: 1, flagsFragment: 0x2000 });
    const later = buildIpv4Udp({ srcPort: 2, flagsFragment: 0x0010 });
    expect(h(first)).toBe(h(later));
  });
  it('IPv6 and non-IP frames', () => {
    const a = h(buildIpv6Udp({ srcPort: 1 }));
    expect(h(buildIpv6Udp({ srcPort: 1, payload: pattern(9) }))).toBe(a);
    expect(h(buildIpv6Udp({ srcPort: 2 }))).not.toBe(a);
    const arp = buildArpRequest();
    expect(h(arp)).toBe(flowHashL2(arp, 0, ETHERTYPE_ARP));
    expect(h(buildArpRequest({ targetIp: '10.0.0.99' }))).toBe(h(arp)); // L2 only: MACs and type
    expect(h(buildEth({ type: 0x88cc }))).not.toBe(h(buildEth({ type: 0x88cd })));
  });
  it('ports are in 49152..65535 and FlowIDs in 0..255, spread evenly over 16k flows', () => {
    const buckets = new Array<number>(16).fill(0);
    const ids = new Set<number>();
    for (let p = 0; p < 16384; p++) {
      const x = h(buildIpv4Udp({ srcPort: p, dstPort: 4789 }));
      const port = vxlanSourcePort(x);
      expect(port >= FLOW_PORT_MIN && port <= 65535).toBe(true);
      buckets[(port - FLOW_PORT_MIN) >> 10]! += 1;
      ids.add(nvgreFlowId(x));
    }
    for (const n of buckets) expect(Math.abs(n - 1024)).toBeLessThan(160);
    expect(ids.size).toBe(256);
    expect(vxlanSourcePort(0)).toBe(49152);
    expect(vxlanSourcePort(0xffffffff)).toBe(65535);
  });
  it('reads only [off, off + len): bytes after the frame do not matter; never throws on random frames', () => {
    const frames = readPcapFrames(fixturePath('vxlan-kernel.pcap')).map((f) => f.subarray(50));
    fc.assert(
      fc.property(fc.constantFrom(...frames), fc.nat(), fc.uint8Array({ minLength: 64, maxLength: 64 }), (f, cut, noise) => {
        const len = cut % (f.length + 1);
        const slab = new Uint8Array(f.length + 64);
        slab.set(f.subarray(0, len));
        const a = flowHashFrame(slab, 0, len);
        slab.set(noise, len);
        expect(flowHashFrame(slab, 0, len)).toBe(a);
        expect(a >>> 0).toBe(a);
      }),
      { numRuns: 1000 },
    );
    fc.assert(fc.property(fc.uint8Array({ maxLength: 80 }), (b) => Number.isInteger(flowHashFrame(b, 0, b.length))));
  });
});
