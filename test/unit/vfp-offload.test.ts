// vfp/offload.ts: TSO segmentation in place and GRO coalescing, round trip, checksums verified
// against wire/checksum (pure JS), flags and sequence numbers, refusals.
import { describe, expect, it } from 'vitest';
import { readU16, readU32, writeU16, writeU32 } from '../../src/wire/bytes.js';
import { onesSum } from '../../src/wire/checksum.js';
import { CoalesceResult, SegResult, coalesceTcp, finishPartialChecksum, segmentFrame, type ChunkSumFn } from '../../src/vfp/offload.js';
import { loadNative } from '../../src/io/native.js';
import { VNET_GSO_TCPV4, VNET_GSO_UDP_L4 } from '../../src/wire/vnethdr.js';

const sum = onesSum;
const F = 256;

/** Ethernet + IPv4 + TCP (12 bytes of options) + `pay` bytes; flags as given; partial checksum. */
function tcpFrame(b: Uint8Array, pay: number, flags = 0x18, seq = 0xfffff000): number {
  const l3 = F + 14;
  for (let i = 0; i < 12; i++) b[F + i] = i + 1;
  writeU16(b, F + 12, 0x0800);
  b[l3] = 0x45;
  writeU16(b, l3 + 2, 20 + 32 + pay);
  writeU16(b, l3 + 4, 0xfffe);
  writeU16(b, l3 + 6, 0x4000);
  b[l3 + 8] = 64;
  b[l3 + 9] = 6;
  writeU32(b, l3 + 12, 0x0a010116);
  writeU32(b, l3 + 16, 0x0a01010b);
  const l4 = l3 + 20;
  writeU16(b, l4, 40000);
  writeU16(b, l4 + 2, 5201);
  writeU32(b, l4 + 4, seq);
  writeU32(b, l4 + 8, 12345);
  b[l4 + 12] = 8 << 4;
  b[l4 + 13] = flags;
  writeU16(b, l4 + 14, 500);
  b.set([1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2], l4 + 20);
  for (let i = 0; i < pay; i++) b[l4 + 32 + i] = (i * 7 + 3) & 0xff;
  return 14 + 20 + 32 + pay;
}

function checksOk(b: Uint8Array, fr: number): boolean {
  const l3 = fr + 14;
  const tot = readU16(b, l3 + 2);
  const ph = onesSum(b, l3 + 12, 8, 6 + tot - 20);
  return onesSum(b, l3, 20) === 0xffff && onesSum(b, l3 + 20, tot - 20, ph) === 0xffff;
}

describe('segmentFrame', () => {
  it('cuts a 10 000-byte TCP super-frame into MSS segments with correct headers and checksums', () => {
    const b = new Uint8Array(65536).fill(0xa5);
    const len = tcpFrame(b, 10000);
    const orig = b.slice(F + 66, F + 66 + 10000);
    b.set([9, 9, 9, 9, 9, 9, 9, 9], F - 8);
    const r = new SegResult();
    expect(segmentFrame(b, F, len, VNET_GSO_TCPV4, 1398, 8, -1, b.length, sum, r)).toBe(true);
    expect(r.n).toBe(8);
    expect(r.stride).toBe(8 + 66 + 1398);
    expect(r.lastLen).toBe(8 + 66 + (10000 - 7 * 1398));
    const got: number[] = [];
    for (let i = 0; i < r.n; i++) {
      const S = F - 8 + i * r.stride;
      expect([...b.subarray(S, S + 8)]).toEqual([9, 9, 9, 9, 9, 9, 9, 9]);
      const fr = S + 8;
      expect(checksOk(b, fr)).toBe(true);
      expect(readU16(b, fr + 18)).toBe((0xfffe + i) & 0xffff);
      expect(readU32(b, fr + 38)).toBe((0xfffff000 + i * 1398) >>> 0);
      expect(b[fr + 47]).toBe(i === r.n - 1 ? 0x18 : 0x10);
      const pay = i < r.n - 1 ? 1398 : 10000 - 7 * 1398;
      got.push(...b.subarray(fr + 66, fr + 66 + pay));
    }
    expect(Uint8Array.from(got)).toEqual(orig);
  });

  it('patches a UDP length field in the prefix; refuses what it cannot segment', () => {
    const b = new Uint8Array(65536);
    const len = tcpFrame(b, 3000);
    const r = new SegResult();
    expect(segmentFrame(b, F, len, VNET_GSO_TCPV4, 1000, 16, 4, b.length, sum, r)).toBe(true);
    expect(readU16(b, F - 16 + 4)).toBe(16 + 66 + 1000);
    expect(readU16(b, F - 16 + r.stride + 4)).toBe(16 + 66 + 1000);
    const c = new Uint8Array(65536);
    const l2 = tcpFrame(c, 3000);
    expect(segmentFrame(c, F, l2, VNET_GSO_UDP_L4, 1000, 8, -1, c.length, sum, r)).toBe(false); // proto is TCP
    expect(segmentFrame(c, F, l2, VNET_GSO_TCPV4, 1000, 8, -1, F + 3000, sum, r)).toBe(false); // no room
  });
});

describe('segmentFrame and coalesceTcp with the native per-segment sums', () => {
  const nat = loadNative();
  const chunks: ChunkSumFn = (b, first, stride, chunkLen, count, lastLen, out) => void nat.sumChunks(b, first, stride, chunkLen, count, lastLen, out);
  for (const mss of [1398, 1397, 536, 88]) {
    it(`gives the same bytes as the JS sums (MSS ${mss}) and coalesces back`, () => {
      const a = new Uint8Array(65536 + 16384);
      const len = tcpFrame(a, 30001);
      const orig = a.slice(F, F + len);
      const b = a.slice();
      const r1 = new SegResult();
      const r2 = new SegResult();
      expect(segmentFrame(a, F, len, VNET_GSO_TCPV4, mss, 8, -1, a.length, sum, r1)).toBe(true);
      expect(segmentFrame(b, F, len, VNET_GSO_TCPV4, mss, 8, -1, b.length, sum, r2, chunks)).toBe(true);
      expect(b).toEqual(a);
      for (let i = 0; i < r2.n; i++) expect(checksOk(b, F - 8 + i * r2.stride + 8)).toBe(true);
      const L = (r2.n - 1) * r2.stride + r2.lastLen;
      const c = new CoalesceResult();
      expect(coalesceTcp(b, F - 8, L, r2.stride, 8, sum, c, chunks)).toBe(true);
      expect(b.subarray(F + 66, F + len)).toEqual(orig.subarray(66));
      // one flipped payload bit in any segment: refused
      const d = new Uint8Array(65536 + 16384);
      tcpFrame(d, 30001);
      segmentFrame(d, F, len, VNET_GSO_TCPV4, mss, 8, -1, d.length, sum, r2, chunks);
      d[F - 8 + (r2.n - 1) * r2.stride + 8 + 66] ^= 0x40;
      expect(coalesceTcp(d, F - 8, L, r2.stride, 8, sum, new CoalesceResult(), chunks)).toBe(false);
    });
  }
});

describe('coalesceTcp', () => {
  it('keeps the PSH of the last segment when there are only two (the move overwrites its header)', () => {
    const b = new Uint8Array(65536);
    const len = tcpFrame(b, 2000);
    const r = new SegResult();
    segmentFrame(b, F, len, VNET_GSO_TCPV4, 1398, 8, -1, b.length, sum, r);
    const c = new CoalesceResult();
    expect(coalesceTcp(b, F - 8, r.stride + r.lastLen, r.stride, 8, sum, c)).toBe(true);
    expect(b[F + 47]).toBe(0x18);
  });

  it('round trip: segmentFrame then coalesceTcp gives back the super-frame', () => {
    const b = new Uint8Array(65536);
    const len = tcpFrame(b, 20000);
    const orig = b.slice(F, F + len);
    b.set([8, 0, 0, 0, 0, 0x13, 0x89, 0], F - 8);
    const r = new SegResult();
    expect(segmentFrame(b, F, len, VNET_GSO_TCPV4, 1398, 8, -1, b.length, sum, r)).toBe(true);
    const L = (r.n - 1) * r.stride + r.lastLen;
    const c = new CoalesceResult();
    expect(coalesceTcp(b, F - 8, L, r.stride, 8, sum, c)).toBe(true);
    expect(c.n).toBe(r.n);
    expect(c.start).toBe(F);
    expect(c.len).toBe(len);
    expect(c.gsoSize).toBe(1398);
    // payload and addresses equal; TCP checksum field holds the pseudo-header sum
    expect(b.subarray(F + 66, F + len)).toEqual(orig.subarray(66));
    expect(readU32(b, F + 38)).toBe(0xfffff000);
    expect(b[F + 47]).toBe(0x18);
    expect(onesSum(b, F + 14, 20)).toBe(0xffff);
    const ph = onesSum(b, F + 26, 8, 6 + len - 34);
    expect(readU16(b, F + 50)).toBe(ph);
    expect(finishPartialChecksum(b, F, len, 34, 16, sum)).toBe(true);
    expect(checksOk(b, F)).toBe(true);
  });

  it('refuses a bad checksum, a sequence gap, a SYN, leaving the bytes alone', () => {
    for (const breakIt of [
      (b: Uint8Array, S: number) => (b[S + 8 + 100] ^= 1),
      (b: Uint8Array, S: number) => writeU32(b, S + 8 + 38, 7),
      (b: Uint8Array, S: number) => (b[S + 8 + 47] = 0x12),
    ]) {
      const b = new Uint8Array(65536);
      const len = tcpFrame(b, 5000);
      const r = new SegResult();
      segmentFrame(b, F, len, VNET_GSO_TCPV4, 1398, 8, -1, b.length, sum, r);
      breakIt(b, F - 8 + 2 * r.stride);
      const before = b.slice();
      expect(coalesceTcp(b, F - 8, (r.n - 1) * r.stride + r.lastLen, r.stride, 8, sum, new CoalesceResult())).toBe(false);
      expect(b).toEqual(before);
    }
  });
});
