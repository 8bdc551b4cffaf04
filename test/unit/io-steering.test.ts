// The steering function (io/steering.ts) without a kernel: symmetric in direction, ports only for
// TCP/UDP non-fragments, everything that is not IPv4 (or too short) on worker 0, and the BPF
// programs assemble. The kernel running them is test/integration/steering.test.ts.
import { describe, expect, it } from 'vitest';
import { flowWorker, nvgreFilterProgram, steerWorker, tapSteeringProgram, vxlanReuseportProgram } from '../../src/io/steering.js';

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

  it('assembles the BPF programs', () => {
    expect(vxlanReuseportProgram(2).length % 2).toBe(0);
    expect(nvgreFilterProgram(2, 1).length).toBe(vxlanReuseportProgram(2).length + 4);
    expect(tapSteeringProgram(2).length % 8).toBe(0);
  });
});
