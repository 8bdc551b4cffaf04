// checksum.ts and bytes.ts: RFC 1071 examples, odd lengths, chaining, RFC 1624 incremental
// update against recomputation (fast-check), big-endian primitives into poisoned buffers.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bytesEqual, readMac, readU16, readU24, readU32, writeMac, writeU16, writeU24, writeU32 } from '../../src/wire/bytes.js';
import { checksum, csumUpdate16, csumUpdate32, finish, fold, onesSum, pseudoSumIpv4, pseudoSumIpv6 } from '../../src/wire/checksum.js';
import * as ipv4 from '../../src/wire/ipv4.js';
import { fromHex, toHex } from '../../src/wire/build/frames.js';

/** Reference: RFC 1071 in the most literal way. */
function refChecksum(b: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < b.length; i += 2) s += (b[i]! << 8) + (i + 1 < b.length ? b[i + 1]! : 0);
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return ~s & 0xffff;
}

describe('bytes', () => {
  it('writes big-endian integers and MACs at offsets, nothing else (0xa5 poison)', () => {
    const b = new Uint8Array(24).fill(0xa5);
    writeU16(b, 1, 0x1234);
    writeU24(b, 4, 0x00abcdef);
    writeU32(b, 8, 0xdeadbeef);
    writeMac(b, 13, 0x0200000001_11);
    expect(toHex(b)).toBe('a51234a5abcdefa5deadbeefa5020000000111a5a5a5a5a5');
    expect(readU16(b, 1)).toBe(0x1234);
    expect(readU24(b, 4)).toBe(0xabcdef);
    expect(readU32(b, 8)).toBe(0xdeadbeef);
    expect(readMac(b, 13)).toBe(0x020000000111);
  });
  it('readMac/writeMac are exact over all 48 bits', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 48 - 1 }), fc.nat(10), (mac, off) => {
        const b = new Uint8Array(16);
        writeMac(b, off, mac);
        return readMac(b, off) === mac;
      }),
    );
    const b = new Uint8Array(6);
    writeMac(b, 0, 0xffffffffffff);
    expect(toHex(b)).toBe('ffffffffffff');
  });
  it('readU32 is never negative, writeU32 takes signed or unsigned', () => {
    const b = new Uint8Array(4);
    writeU32(b, 0, -1);
    expect(readU32(b, 0)).toBe(0xffffffff);
  });
  it('bytesEqual', () => {
    expect(bytesEqual(fromHex('0102030405'), 1, fromHex('ff020304'), 1, 3)).toBe(true);
    expect(bytesEqual(fromHex('0102030405'), 1, fromHex('ff020305'), 1, 3)).toBe(false);
  });
});

describe('checksum', () => {
  it('RFC 1071 section 3 example: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2', () => {
    const b = fromHex('0001f203f4f5f6f7');
    expect(onesSum(b, 0, 8)).toBe(0xddf2);
    expect(checksum(b, 0, 8)).toBe(0x220d);
  });
  it('odd length pads the last byte with zero', () => {
    expect(onesSum(fromHex('0102ab'), 0, 3)).toBe(0x0102 + 0xab00);
    expect(checksum(fromHex('ff'), 0, 1)).toBe(0x00ff);
  });
  it('an IPv4 header with its checksum sums to 0xffff (RFC 1071 verification)', () => {
    const h = fromHex('4500004e7eca000040110081c0a83d02c0a83d01'); // from vxlan-kernel.pcap
    expect(onesSum(h, 0, 20)).toBe(0xffff);
    expect(ipv4.ipv4HeaderChecksum(h, 0, 20)).toBe(0x0081);
  });
  it('fold handles large unfolded sums, finish complements', () => {
    expect(fold(0x1ffff)).toBe(0x0001); // 0xffff + 1, carry wraps around
    expect(fold(0xffff * 1000)).toBe(0xffff);
    expect(fold(2 ** 40 + 5)).toBe(fold((2 ** 40 % 0xffff) + 5));
    expect(finish(0xffff)).toBe(0);
    expect(finish(0)).toBe(0xffff);
  });
  it('matches a literal reference on random data, any offset and length; chaining even ranges equals one range', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(300), (b, cut0) => {
        expect(checksum(b, 0, b.length)).toBe(refChecksum(b));
        const cut = Math.min(cut0, b.length) & ~1;
        expect(onesSum(b, cut, b.length - cut, onesSum(b, 0, cut))).toBe(onesSum(b, 0, b.length));
      }),
    );
  });
  it('RFC 1624 incremental update equals recomputation for any 16-bit word change (modulo +0/-0)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 2, maxLength: 64 }), fc.nat(), fc.integer({ min: 0, max: 0xffff }), (data, at, nw) => {
        const b = data.length % 2 ? data.subarray(1) : data.slice();
        const i = (at % (b.length / 2)) * 2;
        const before = checksum(b, 0, b.length);
        const old = readU16(b, i);
        writeU16(b, i, nw);
        const incremental = csumUpdate16(before, old, nw);
        const full = checksum(b, 0, b.length);
        // ones' complement has two zeros: 0x0000 and 0xffff stand for the same value
        expect(incremental % 0xffff).toBe(full % 0xffff);
      }),
    );
  });
  it('RFC 1624 on real IPv4 headers: TTL decrement and address/length/id rewrites equal recomputation exactly', () => {
    const hdr = fc.record({
      tos: fc.integer({ min: 0, max: 255 }),
      len: fc.integer({ min: 20, max: 0xffff }),
      id: fc.integer({ min: 0, max: 0xffff }),
      ff: fc.integer({ min: 0, max: 0xffff }),
      ttl: fc.integer({ min: 1, max: 255 }),
      proto: fc.integer({ min: 0, max: 255 }),
      src: fc.nat({ max: 0xffffffff }),
      dst: fc.nat({ max: 0xffffffff }),
    });
    fc.assert(
      fc.property(hdr, fc.nat({ max: 0xffffffff }), fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 255 }), (h, a, w, t) => {
        const b = new Uint8Array(20);
        ipv4.writeIpv4(b, 0, h.tos, h.len, h.id, h.ff, h.ttl, h.proto, h.src, h.dst);
        expect(ipv4.checksumValid(b, 0, 20)).toBe(true);
        const recomputed = (): number => ipv4.ipv4HeaderChecksum(b, 0, 20);
        expect(ipv4.decrementTtl(b, 0)).toBe(h.ttl - 1);
        expect(ipv4.checksum(b, 0)).toBe(recomputed());
        ipv4.rewriteSrc(b, 0, a);
        expect(ipv4.checksum(b, 0)).toBe(recomputed());
        ipv4.rewriteDst(b, 0, a ^ 0x5a5a5a5a);
        expect(ipv4.checksum(b, 0)).toBe(recomputed());
        ipv4.rewriteTotalLength(b, 0, Math.max(20, w));
        expect(ipv4.checksum(b, 0)).toBe(recomputed());
        ipv4.rewriteId(b, 0, w);
        expect(ipv4.checksum(b, 0)).toBe(recomputed());
        ipv4.rewriteTtl(b, 0, t);
        expect(ipv4.checksum(b, 0)).toBe(recomputed());
        expect(ipv4.checksumValid(b, 0, 20)).toBe(true);
      }),
    );
  });
  it('csumUpdate32 equals two csumUpdate16', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffff }), fc.nat({ max: 0xffffffff }), fc.nat({ max: 0xffffffff }), (c, o, n) => {
        const two = csumUpdate16(csumUpdate16(c, o >>> 16, n >>> 16), o & 0xffff, n & 0xffff);
        expect(csumUpdate32(c, o, n) % 0xffff).toBe(two % 0xffff);
      }),
    );
  });
  it('pseudo-header sums: IPv4 (RFC 768) and IPv6 (RFC 8200 8.1) by hand', () => {
    const v4 = fromHex('4500004e00000000401100000a0000010a000002');
    expect(pseudoSumIpv4(v4, 0, 17, 58)).toBe(fold(0x0a00 + 0x0001 + 0x0a00 + 0x0002 + 17 + 58));
    const v6 = new Uint8Array(40);
    v6[8] = 0xfe;
    v6[9] = 0x80;
    v6[23] = 1;
    v6[24] = 0xff;
    v6[25] = 0x02;
    v6[39] = 2;
    expect(pseudoSumIpv6(v6, 0, 58, 0x12345)).toBe(fold(0xfe80 + 1 + 0xff02 + 2 + 58 + 0x1 + 0x2345));
  });
});
