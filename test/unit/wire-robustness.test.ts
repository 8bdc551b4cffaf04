// The validators at the edge against hostile input: every prefix of real frames is rejected with
// a reason (never a throw, never an accept); random bytes and mutated real frames never throw,
// always give a known reason, and validators read only the bytes they were given (STYLE.md 11d).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as arp from '../../src/wire/arp.js';
import * as eth from '../../src/wire/ethernet.js';
import * as gre from '../../src/wire/gre.js';
import * as ipv4 from '../../src/wire/ipv4.js';
import * as ipv6 from '../../src/wire/ipv6.js';
import * as tcp from '../../src/wire/tcp.js';
import * as udp from '../../src/wire/udp.js';
import * as vxlan from '../../src/wire/vxlan.js';
import { classifyOuter } from '../helpers/wire-edge.js';
import { fixturePath, readPcapFrames } from '../helpers/pcap.js';

const vx = readPcapFrames(fixturePath('vxlan-kernel.pcap'));
const nv = readPcapFrames(fixturePath('nvgre-ovs.pcap'));
const bad = readPcapFrames(fixturePath('malformed-scapy.pcap'));
const seeds = [vx[12]!, vx[14]!, vx[29]!, vx[0]!, nv[0]!, bad[0]!, bad[6]!];

type Check = (b: Uint8Array, off: number, len: number) => number;
const validators: [string, Check, readonly string[]][] = [
  ['ipv4Check', ipv4.ipv4Check, ipv4.IPV4_REASONS],
  ['ipv6Check', ipv6.ipv6Check, ipv6.IPV6_REASONS],
  ['arpCheck', arp.arpCheck, arp.ARP_REASONS],
  ['udpCheck', udp.udpCheck, udp.UDP_REASONS],
  ['tcpCheck', tcp.tcpCheck, tcp.TCP_REASONS],
  ['vxlanCheck', vxlan.vxlanCheck, vxlan.VXLAN_REASONS],
  ['nvgreCheck', gre.nvgreCheck, gre.NVGRE_REASONS],
];

describe('every prefix of a valid frame is rejected with a reason', () => {
  it.each(seeds.map((f, i) => [i, f] as const))('seed %i: outer edge check over each prefix (same buffer, and a cut copy)', (_i, f) => {
    const full = classifyOuter(f, 0, f.length);
    expect(['vxlan', 'nvgre']).toContain(full);
    for (let n = 0; n < f.length; n++) {
      const r1 = classifyOuter(f, 0, n);
      const r2 = classifyOuter(f.slice(0, n), 0, n);
      expect(r1, `prefix ${n}`).toBe(r2);
      expect(r1.includes(':'), `prefix ${n}: ${r1}`).toBe(true);
    }
  });

  it('each layer validator on each prefix of its own header', () => {
    const f = vx[29]!; // VXLAN / IPv4 / TCP with data
    const layers: [Check, number, number][] = [
      // [validator, offset, the smallest length it accepts]
      [ipv4.ipv4Check, 14, f.length - 14],
      [udp.udpCheck, 34, f.length - 34],
      [vxlan.vxlanCheck, 42, 22],
      [ipv4.ipv4Check, 64, f.length - 64],
      [tcp.tcpCheck, 84, 32],
    ];
    for (const [check, off, min] of layers) {
      expect(check(f, off, min)).toBe(0);
      for (let n = 0; n < min; n++) expect(check(f, off, n), `${check.name} len ${n}`).not.toBe(0);
    }
    const a = vx[12]!; // VXLAN / ARP
    for (let n = 0; n < 28; n++) expect(arp.arpCheck(a, 64, n)).toBe(arp.ARP_TRUNCATED);
    expect(arp.arpCheck(a, 64, 28)).toBe(arp.ARP_OK);
    const g = nv[0]!;
    for (let n = 0; n < 22; n++) expect(gre.nvgreCheck(g, 34, n)).not.toBe(gre.NVGRE_OK);
    const six = vx[3]!; // inner IPv6 router solicitation
    for (let n = 0; n < six.length - 64; n++) expect(ipv6.ipv6Check(six, 64, n)).not.toBe(ipv6.IPV6_OK);
    expect(ipv6.ipv6Check(six, 64, six.length - 64)).toBe(ipv6.IPV6_OK);
    // l3Offset of every cut of a tagged header
    for (let n = 0; n < 14; n++) expect(eth.l3Offset(f, 0, n)).toBe(-1);
  });
});

describe('random input (fast-check)', () => {
  it.each(validators)('%s never throws, gives a known reason, and reads only [off, off+len)', (_name, check, reasons) => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 96 }), fc.nat(), fc.nat(), fc.uint8Array({ minLength: 96, maxLength: 96 }), (b, o, l, noise) => {
        const off = b.length === 0 ? 0 : o % (b.length + 1);
        const len = l % (b.length - off + 1);
        const r = check(b, off, len);
        expect(Number.isInteger(r) && r >= 0 && r < reasons.length).toBe(true);
        // change every byte outside the window: same verdict
        const c = b.slice();
        for (let i = 0; i < c.length; i++) if (i < off || i >= off + len) c[i] = noise[i % 96]!;
        expect(check(c, off, len)).toBe(r);
      }),
      { numRuns: 2000 },
    );
  });

  it('the edge check on real frames with random byte mutations never throws; accepts only sane headers', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: seeds.length - 1 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
        fc.nat(),
        (s, muts, cut) => {
          const f = seeds[s]!.slice();
          for (const [at, v] of muts) f[at % f.length] = v;
          const len = cut % 3 === 0 ? f.length : cut % (f.length + 1);
          const r = classifyOuter(f, 0, len);
          if (r === 'vxlan' || r === 'nvgre') {
            expect(ipv4.checksumValid(f, 14, ipv4.headerLength(f, 14))).toBe(true);
            const l4 = 14 + ipv4.headerLength(f, 14);
            expect(ipv4.totalLength(f, 14)).toBeLessThanOrEqual(len - 14);
            if (r === 'vxlan') {
              expect(vxlan.flags(f, l4 + 8) & vxlan.VXLAN_FLAG_I).toBe(vxlan.VXLAN_FLAG_I);
              expect(udp.length(f, l4)).toBeGreaterThanOrEqual(8 + 8 + 14);
            } else {
              expect(gre.flagsVersion(f, l4) & 0xfc07).toBe(gre.GRE_FLAG_K);
              expect(gre.protocol(f, l4)).toBe(gre.GRE_PROTO_TEB);
            }
          } else {
            expect(r).toMatch(/^(eth|ipv4|udp|vxlan|nvgre):[a-z-]+$|^not-(ipv4|tunnel)$/);
          }
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('l3Offset never throws and stays within the frame', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), (b) => {
        const r = eth.l3Offset(b, 0, b.length);
        expect(r === -1 || (r >= 14 && r <= b.length && r <= 22)).toBe(true);
      }),
      { numRuns: 2000 },
    );
    // make tags likely
    fc.assert(
      fc.property(fc.array(fc.constantFrom(0x81, 0x00, 0x88, 0xa8, 0x08, 0x06), { minLength: 0, maxLength: 30 }), (t) => {
        const b = Uint8Array.from([...new Array<number>(12).fill(2), ...t]);
        const r = eth.l3Offset(b, 0, b.length);
        expect(r === -1 || (r >= 14 && r <= b.length && r <= 22)).toBe(true);
      }),
    );
  });
});
