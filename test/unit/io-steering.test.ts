// The steering function (io/steering.ts) without a kernel: symmetric in direction, ports only for
// TCP/UDP non-fragments, an ICMP error with the flow of the packet it quotes, everything that is
// not IPv4 (or too short) on worker 0, and the BPF programs assemble. The kernel running them is test/integration/steering.test.ts.
import { describe, expect, it } from 'vitest';
import { flowWorker, nvgreFilterProgram, packetFanoutProgram, steerWorker, tapSteeringProgram, vxlanReuseportProgram } from '../../src/io/steering.js';
import { buildIcmpEchoPacket, buildIcmpError, buildIpv4Packet, buildIpv4UdpPacket, buildTcpPacket } from '../../src/wire/build/frames.js';
import { runCbpf } from '../helpers/cbpf.js';
import { concatBytes, eth4 as eth } from '../helpers/steer-frames.js';

function frame(src: number, dst: number, proto: number, sport: number, dport: number, frag = 0): Uint8Array {
  const f = new Uint8Array(14 + 20 + 8);
  const v = new DataView(f.buffer);
  v.setUint16(12, 0x0800);
  f[14] = 0x45;
  v.setUint16(20, frag);
  f[23] = proto;
  v.setUint32(26, src);
  v.setUint32(30, dst);
  v.setUint16(34, sport);
  v.setUint16(36, dport);
  return f;
}

describe('flow steering function', () => {
  it('sends both directions of a flow to the same worker', () => {
    let seed = 7;
    const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0);
    for (let i = 0; i < 500; i++) {
      const [a, b, p, q] = [rnd(), rnd(), rnd() & 0xffff, rnd() & 0xffff];
      for (const n of [2, 3, 4]) {
        const w = steerWorker(frame(a, b, 6, p, q), 0, 42, n);
        expect(steerWorker(frame(b, a, 6, q, p), 0, 42, n)).toBe(w);
        expect(w).toBe(flowWorker(a, b, p ^ q, n));
      }
    }
  });

  it('spreads TCP connections of one host pair by port', () => {
    const seen = new Set<number>();
    for (let p = 40000; p < 40016; p += 2) seen.add(steerWorker(frame(0x0a01010c, 0x0a01010b, 6, p, 5201), 0, 42, 2));
    expect(seen.size).toBe(2);
  });

  it('ignores ports of fragments and other protocols; non-IPv4 and short frames go to worker 0', () => {
    const icmp = flowWorker(0x0a01010c, 0x0a01010b, 0, 4);
    expect(steerWorker(frame(0x0a01010c, 0x0a01010b, 1, 1234, 99), 0, 42, 4)).toBe(icmp);
    expect(steerWorker(frame(0x0a01010c, 0x0a01010b, 17, 1234, 99, 0x2000), 0, 42, 4)).toBe(icmp);
    const arp = frame(1, 2, 6, 3, 4);
    arp[12] = 0x08;
    arp[13] = 0x06;
    expect(steerWorker(arp, 0, 42, 4)).toBe(0);
    expect(steerWorker(frame(0x0a01010c, 0x0a01010b, 6, 1, 2), 0, 30, 4)).toBe(0);
    expect(steerWorker(frame(5, 6, 6, 1, 2), 0, 42, 1)).toBe(0);
  });

  it('sends an ICMP error to the worker of the packet it quotes', () => {
    // web's kernel answers sql's datagram with a port unreachable: conntrack lets it in as RELATED
    // only on the worker that holds sql's connection (steered by addresses alone, half of them
    // went to the other worker and were dropped by sql's inbound ACL)
    const sql = '10.1.1.11';
    const web = '10.1.1.12';
    for (const n of [2, 3, 4]) {
      for (let sport = 32768; sport < 32768 + 200; sport++) {
        const udp = buildIpv4UdpPacket({ srcIp: sql, dstIp: web, srcPort: sport, dstPort: 9 });
        const flow = steerWorker(eth(udp), 0, 14 + udp.length, n);
        for (const [icmpType, icmpCode] of [[3, 3], [11, 0], [12, 0]] as const) {
          const err = buildIcmpError({ srcIp: web, dstIp: sql, icmpType, icmpCode, invoking: udp });
          expect(steerWorker(err, 0, err.length, n)).toBe(flow);
        }
        // from a router on the way (another source address): still the flow's worker
        const ttl = buildIcmpError({ srcIp: '10.1.1.1', dstIp: sql, icmpType: 11, icmpCode: 0, invoking: udp });
        expect(steerWorker(ttl, 0, ttl.length, n)).toBe(flow);
        const tcp = buildTcpPacket({ srcIp: sql, dstIp: web, srcPort: sport, dstPort: 5201 });
        const rst = buildIcmpError({ srcIp: web, dstIp: sql, invoking: tcp });
        expect(steerWorker(rst, 0, rst.length, n)).toBe(steerWorker(eth(tcp), 0, 14 + tcp.length, n));
      }
    }
    // about an echo request: the echo's worker (addresses only)
    const echo = buildIcmpEchoPacket({ srcIp: sql, dstIp: '10.9.9.9' });
    const unreachable = buildIcmpError({ srcIp: '10.1.1.1', dstIp: sql, icmpCode: 1, invoking: echo });
    expect(steerWorker(unreachable, 0, unreachable.length, 4)).toBe(flowWorker(0x0a01010b, 0x0a090909, 0, 4));
  });

  it('steers an ICMP error by its own addresses when it quotes too little, is a fragment or no error', () => {
    const udp = buildIpv4UdpPacket({ srcIp: '10.1.1.11', dstIp: '10.1.1.12', srcPort: 40001, dstPort: 9 });
    const own = flowWorker(0x0a01010c, 0x0a01010b, 0, 4);
    // the quote must hold the IPv4 header and 8 bytes (vfp/flowkey.ts parseQuoted)
    for (const quoteLen of [0, 19, 20, 27]) {
      const short = buildIcmpError({ srcIp: '10.1.1.12', dstIp: '10.1.1.11', invoking: udp, quoteLen });
      expect(steerWorker(short, 0, short.length, 4)).toBe(own);
    }
    const err = buildIcmpError({ srcIp: '10.1.1.12', dstIp: '10.1.1.11', invoking: udp });
    // the frame ends before the quote does
    expect(steerWorker(err, 0, err.length - 1, 4)).toBe(own);
    // not IPv4 inside, or a header length under 20
    for (const first of [0x65, 0x44]) {
      const bad = err.slice();
      bad[14 + 20 + 8] = first;
      expect(steerWorker(bad, 0, bad.length, 4)).toBe(own);
    }
    // an ICMP message that is no error (echo reply, type 0), and a fragment of an error
    const notErr = err.slice();
    notErr[34] = 0;
    expect(steerWorker(notErr, 0, notErr.length, 4)).toBe(own);
    const frag = buildIcmpError({ srcIp: '10.1.1.12', dstIp: '10.1.1.11', invoking: udp, flagsFragment: 0x2000 });
    expect(steerWorker(frag, 0, frag.length, 4)).toBe(own);
    // a quoted packet without ports: its addresses only
    const gre = buildIpv4Packet({ srcIp: '10.1.1.11', dstIp: '10.9.9.9', proto: 47, payload: new Uint8Array(8) });
    const greErr = buildIcmpError({ srcIp: '10.1.1.1', dstIp: '10.1.1.11', invoking: gre });
    expect(steerWorker(greErr, 0, greErr.length, 4)).toBe(flowWorker(0x0a01010b, 0x0a090909, 0, 4));
  });

  it('the classic BPF programs (VXLAN group, NVGRE filters, NIC fanout group) compute steerWorker, also on every truncation', () => {
    const udp = buildIpv4UdpPacket({ srcIp: '10.1.1.11', dstIp: '10.1.1.12', srcPort: 40001, dstPort: 9 });
    const samples = [
      eth(udp),
      eth(buildTcpPacket({ srcIp: '10.1.1.12', dstIp: '10.1.1.11', srcPort: 5201, dstPort: 40002 })),
      eth(buildIcmpEchoPacket({ srcIp: '10.1.1.11', dstIp: '10.1.1.12' })),
      buildIcmpError({ srcIp: '10.1.1.12', dstIp: '10.1.1.11', invoking: udp }),
      buildIcmpError({ srcIp: '10.1.1.1', dstIp: '10.1.1.11', icmpType: 11, icmpCode: 0, invoking: buildTcpPacket({ srcIp: '10.1.1.11', dstIp: '10.1.1.12', srcPort: 40003 }) }),
      buildIcmpError({ srcIp: '10.1.1.12', dstIp: '10.1.1.11', invoking: udp, flagsFragment: 0x2000 }),
      buildIcmpError({ srcIp: '10.1.1.12', dstIp: '10.1.1.11', invoking: buildIpv4UdpPacket({ srcIp: '10.1.1.11', dstIp: '10.1.1.12', flagsFragment: 0x2001 }) }),
    ];
    const bad = samples[3]!.slice();
    bad[42] = 0x44; // quoted header length 16
    samples.push(bad);
    // not IPv4: the NIC's fanout program reads the EtherType from skb->protocol, not the frame
    samples.push(eth(udp).fill(0x86, 12, 13).fill(0xdd, 13, 14));
    for (const n of [2, 3]) {
      const vxlan = vxlanReuseportProgram(n);
      const fanout = packetFanoutProgram(n);
      const nvgre = Array.from({ length: n }, (_, w) => nvgreFilterProgram(n, w));
      for (const full of samples) {
        for (let end = 0; end <= full.length; end++) {
          const f = full.subarray(0, end);
          const want = steerWorker(f, 0, end, n);
          expect(runCbpf(vxlan, concatBytes(new Uint8Array(8), f))).toBe(want);
          // an AF_PACKET fanout group sees a received frame from its IPv4 header
          if (end >= 14) expect(runCbpf(fanout, f.subarray(14), { protocol: (f[12]! << 8) | f[13]! })).toBe(want);
          // exactly one worker's socket takes it (a load past the end would make every filter drop it)
          const takers = nvgre.flatMap((prog, w) => (runCbpf(prog, concatBytes(new Uint8Array(28), f)) !== 0 ? [w] : []));
          expect(takers).toEqual([want]);
        }
      }
    }
  });

  it('assembles the BPF programs', () => {
    expect(vxlanReuseportProgram(2).length % 2).toBe(0);
    expect(nvgreFilterProgram(2, 1).length).toBe(vxlanReuseportProgram(2).length + 4);
    expect(tapSteeringProgram(2).length % 8).toBe(0);
    expect(packetFanoutProgram(2)).toHaveLength(vxlanReuseportProgram(2).length);
  });
});
