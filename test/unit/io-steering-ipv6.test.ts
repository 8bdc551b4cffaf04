// IPv6 flow steering (io/steering.ts) without a kernel: the address words and, for TCP/UDP named
// by the fixed header, the ports; an ICMPv6 error with the flow of the packet it quotes; extension
// headers and fragments by addresses alone; and every form (the classic BPF programs of the VXLAN
// group, the NVGRE filters and the NIC's fanout group, the TAP's eBPF program) equal to
// steerWorker on every frame and every truncation of it.
import { describe, expect, it } from 'vitest';
import { flowWorker, nvgreFilterProgram, packetFanoutProgram, steerWorker, tapSteeringProgram, vxlanReuseportProgram } from '../../src/io/steering.js';
import { buildIcmpError, buildIcmpEchoPacket, buildIcmpv6, buildIpv4UdpPacket, buildIpv6, buildIpv6Tcp, buildIpv6Udp, buildTcpPacket } from '../../src/wire/build/frames.js';
import { runCbpf } from '../helpers/cbpf.js';
import { runEbpf } from '../helpers/ebpf.js';
import { concatBytes, eth4 } from '../helpers/steer-frames.js';

const A = '2001:db8:1::11';
const B = '2001:db8:1::12';
const ROUTER = '2001:db8:ffff::1';

/** The expected worker, computed apart from steerWorker: xor of the address words ^ ports, mixed. */
function expected(f: Uint8Array, ports: boolean, n: number): number {
  const v = new DataView(f.buffer, f.byteOffset);
  let x = 0;
  for (let o = 22; o < 54; o += 4) x ^= v.getUint32(o);
  return flowWorker(x >>> 0, 0, ports ? v.getUint16(54) ^ v.getUint16(56) : 0, n);
}

/** An ICMPv6 error about `invoking` (an Ethernet/IPv6 frame), its quote cut to `quoteLen` bytes. */
function icmpv6Error(src: string, dst: string, type: number, invoking: Uint8Array, quoteLen = invoking.length - 14): Uint8Array {
  const body = new Uint8Array(4 + quoteLen);
  if (type === 2) new DataView(body.buffer).setUint32(0, 1280);
  body.set(invoking.subarray(14, 14 + quoteLen), 4);
  return buildIcmpv6({ srcIp6: src, dstIp6: dst, type, code: type === 1 ? 4 : 0, body });
}

/** `f` (Ethernet/IPv6) with an extension header of type `eh` (8 bytes) put before its upper layer. */
function withExtension(f: Uint8Array, eh: number): Uint8Array {
  const out = new Uint8Array(f.length + 8);
  out.set(f.subarray(0, 54));
  out.set(f.subarray(54), 62);
  out[54] = f[20]!; // the extension header's Next Header: the upper layer
  out[20] = eh;
  if (eh === 44) out[57] = 0x01; // a first fragment (offset 0, more fragments)
  new DataView(out.buffer).setUint16(18, f.length - 54 + 8);
  return out;
}

describe('IPv6 flow steering function', () => {
  it('sends both directions of a TCP or UDP flow to one worker, by addresses and ports', () => {
    let seed = 11;
    const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0);
    const addr = () => `2001:db8:${(rnd() & 0xffff).toString(16)}::${(rnd() & 0xffff).toString(16)}:${(rnd() & 0xffff).toString(16)}`;
    for (let i = 0; i < 300; i++) {
      const [a, b, p, q] = [addr(), addr(), rnd() & 0xffff, rnd() & 0xffff];
      for (const build of [buildIpv6Tcp, buildIpv6Udp]) {
        const req = build({ srcIp6: a, dstIp6: b, srcPort: p, dstPort: q });
        const rep = build({ srcIp6: b, dstIp6: a, srcPort: q, dstPort: p });
        for (const n of [2, 3, 4]) {
          const w = steerWorker(req, 0, req.length, n);
          expect(w).toBe(expected(req, true, n));
          expect(steerWorker(rep, 0, rep.length, n)).toBe(w);
        }
      }
    }
  });

  it('spreads TCP connections of one host pair over both workers by port', () => {
    const seen = new Set<number>();
    for (let p = 40000; p < 40016; p += 2) seen.add(steerWorker(buildIpv6Tcp({ srcIp6: A, dstIp6: B, srcPort: p, dstPort: 5201 }), 0, 74, 2));
    expect(seen).toEqual(new Set([0, 1]));
    // and host pairs without ports (ICMPv6) too
    const pairs = new Set<number>();
    for (let h = 1; h < 17; h++) {
      const f = buildIcmpv6({ srcIp6: `2001:db8::${h}`, dstIp6: B });
      pairs.add(steerWorker(f, 0, f.length, 2));
    }
    expect(pairs).toEqual(new Set([0, 1]));
  });

  it('hashes ICMPv6 echo, extension headers and fragments by their addresses alone; short frames go to worker 0', () => {
    const echo = buildIcmpv6({ srcIp6: A, dstIp6: B, type: 128, body: new Uint8Array([0x12, 0x34, 0, 1]) });
    const reply = buildIcmpv6({ srcIp6: B, dstIp6: A, type: 129, body: new Uint8Array([0x12, 0x34, 0, 1]) });
    for (const n of [2, 3, 4]) {
      expect(steerWorker(echo, 0, echo.length, n)).toBe(expected(echo, false, n));
      expect(steerWorker(reply, 0, reply.length, n)).toBe(steerWorker(echo, 0, echo.length, n));
      for (const build of [buildIpv6Tcp, buildIpv6Udp]) {
        const f = build({ srcIp6: A, dstIp6: B, srcPort: 40001, dstPort: 443 });
        // hop-by-hop, destination options, routing, fragment: the ports are behind it
        for (const eh of [0, 60, 43, 44]) {
          const x = withExtension(f, eh);
          expect(steerWorker(x, 0, x.length, n)).toBe(expected(f, false, n));
        }
      }
    }
    // a later fragment of a datagram (no ports in it) meets its first fragment's worker
    const first = withExtension(buildIpv6Udp({ srcIp6: B, dstIp6: A, srcPort: 53, dstPort: 40001, payload: new Uint8Array(64) }), 44);
    const later = first.slice(0, 62 + 24);
    later[62 - 8] = 17;
    new DataView(later.buffer).setUint16(62 - 6, 32 << 3); // offset 256 bytes, the last fragment
    later.fill(0xab, 62);
    new DataView(later.buffer).setUint16(18, 8 + 24);
    for (const n of [2, 3, 4]) expect(steerWorker(later, 0, later.length, n)).toBe(steerWorker(first, 0, first.length, n));
    const udp = buildIpv6Udp({ srcIp6: A, dstIp6: B, srcPort: 40001, dstPort: 53 });
    // the fixed header not whole: worker 0; ports missing from a UDP frame: worker 0 (as IPv4)
    expect(steerWorker(udp, 0, 53, 4)).toBe(0);
    expect(steerWorker(udp, 0, 57, 4)).toBe(0);
    expect(steerWorker(udp, 0, 58, 4)).toBe(expected(udp, true, 4));
    expect(steerWorker(buildIpv6({ srcIp6: A, dstIp6: B }), 0, 54, 4)).toBe(expected(udp, false, 4));
  });

  it('sends an ICMPv6 error (unreachable, packet too big, time exceeded, parameter problem) to the worker of the packet it quotes', () => {
    for (const n of [2, 3, 4]) {
      const flows = new Set<number>();
      for (let sport = 40000; sport < 40100; sport++) {
        for (const build of [buildIpv6Tcp, buildIpv6Udp]) {
          const pkt = build({ srcIp6: A, dstIp6: B, srcPort: sport, dstPort: 443 });
          const flow = steerWorker(pkt, 0, pkt.length, n);
          flows.add(flow);
          for (const type of [1, 2, 3, 4]) {
            // from the peer, and from a router on the way (Packet Too Big: PMTU discovery)
            for (const from of [B, ROUTER]) {
              const err = icmpv6Error(from, A, type, pkt);
              expect(steerWorker(err, 0, err.length, n)).toBe(flow);
            }
          }
          // about the reply, sent back the other way: the same worker again
          const back = build({ srcIp6: B, dstIp6: A, srcPort: 443, dstPort: sport });
          const err = icmpv6Error(ROUTER, B, 2, back);
          expect(steerWorker(err, 0, err.length, n)).toBe(flow);
        }
      }
      expect(flows.size).toBe(n);
    }
  });

  it('steers an ICMPv6 error by its own addresses when it quotes too little, is no error or is behind an extension header', () => {
    const pkt = buildIpv6Udp({ srcIp6: A, dstIp6: B, srcPort: 40001, dstPort: 9 });
    const own = (f: Uint8Array) => expected(f, false, 4);
    for (const quoteLen of [0, 40, 47]) {
      const short = icmpv6Error(B, A, 1, pkt, quoteLen);
      expect(steerWorker(short, 0, short.length, 4)).toBe(own(short));
    }
    const err = icmpv6Error(B, A, 1, pkt);
    expect(steerWorker(err, 0, err.length, 4)).toBe(expected(pkt, true, 4));
    expect(own(err)).not.toBe(expected(pkt, true, 4)); // or this test could not tell them apart
    expect(steerWorker(err, 0, 14 + 40 + 8 + 47, 4)).toBe(own(err));
    for (const type of [0, 5, 128, 135]) {
      const other = err.slice();
      other[54] = type;
      expect(steerWorker(other, 0, other.length, 4)).toBe(own(err));
    }
    const notV6 = err.slice();
    notV6[62] = 0x45;
    expect(steerWorker(notV6, 0, notV6.length, 4)).toBe(own(err));
    const behind = withExtension(err, 60);
    expect(steerWorker(behind, 0, behind.length, 4)).toBe(own(err));
  });

  it('the classic BPF programs and the TAP eBPF program compute steerWorker, on IPv6 and IPv4, at every truncation', () => {
    const tcp = buildIpv6Tcp({ srcIp6: A, dstIp6: B, srcPort: 40002, dstPort: 443 });
    const udp = buildIpv6Udp({ srcIp6: B, dstIp6: A, srcPort: 53, dstPort: 40003 });
    const udp4 = buildIpv4UdpPacket({ srcIp: '10.1.1.11', dstIp: '10.1.1.12', srcPort: 40001, dstPort: 9 });
    const samples = [
      tcp,
      udp,
      ...Array.from({ length: 6 }, (_, i) => buildIpv6Udp({ srcIp6: A, dstIp6: B, srcPort: 41000 + i, dstPort: 53 })),
      buildIcmpv6({ srcIp6: A, dstIp6: B, type: 128, body: new Uint8Array(60) }),
      ...[1, 2, 3, 4].map((t) => icmpv6Error(ROUTER, A, t, t % 2 ? tcp : udp)),
      icmpv6Error(B, A, 1, udp, 47),
      icmpv6Error(B, A, 1, buildIcmpv6({ srcIp6: A, dstIp6: B, type: 128 })),
      withExtension(tcp, 0),
      withExtension(udp, 44),
      withExtension(udp, 44).fill(0x08, 56, 57), // a later fragment (offset 2048): its bytes are no UDP header
      withExtension(icmpv6Error(B, A, 2, tcp), 60),
      // IPv4 as well: the eBPF interpreter is new to these tests
      eth4(udp4),
      eth4(buildTcpPacket({ srcIp: '10.1.1.12', dstIp: '10.1.1.11', srcPort: 5201, dstPort: 40002 })),
      eth4(buildIcmpEchoPacket({ srcIp: '10.1.1.11', dstIp: '10.1.1.12' })),
      buildIcmpError({ srcIp: '10.1.1.12', dstIp: '10.1.1.11', invoking: udp4 }),
    ];
    const notErr = samples[3]!.slice();
    notErr[54] = 129;
    const badQuote = samples[4]!.slice();
    badQuote[62] = 0x40;
    samples.push(notErr, badQuote);
    for (const n of [2, 3]) {
      const vxlan = vxlanReuseportProgram(n);
      const fanout = packetFanoutProgram(n);
      const nvgre = Array.from({ length: n }, (_, w) => nvgreFilterProgram(n, w));
      const tap = tapSteeringProgram(n);
      const used = new Set<number>();
      for (const full of samples) {
        for (let end = 0; end <= full.length; end++) {
          const f = full.subarray(0, end);
          const want = steerWorker(f, 0, end, n);
          if (full[12] === 0x86) used.add(want);
          expect(runEbpf(tap, f)).toBe(want);
          expect(runCbpf(vxlan, concatBytes(new Uint8Array(8), f))).toBe(want);
          if (end >= 14) expect(runCbpf(fanout, f.subarray(14), { protocol: (f[12]! << 8) | f[13]! })).toBe(want);
          const takers = nvgre.flatMap((prog, w) => (runCbpf(prog, concatBytes(new Uint8Array(28), f)) !== 0 ? [w] : []));
          expect(takers).toEqual([want]);
        }
      }
      expect(used.size).toBe(n);
    }
  });

  it('the programs stay far within the kernel limits (4096 classic instructions, 8-bit forward jumps assembled)', () => {
    for (const n of [2, 64]) {
      expect(vxlanReuseportProgram(n).length / 2).toBeLessThan(300);
      expect(nvgreFilterProgram(n, 1).length / 2).toBeLessThan(300);
      expect(tapSteeringProgram(n).length / 8).toBeLessThan(300);
    }
  });
});
