// vfp/gro-batch.ts: software GRO across the slots of an NVGRE read. Packets in (GRE header +
// inner frame per slot, the rest of each slot poisoned), bytes out: the super-frame, once its
// partial checksum is finished, is exactly the frame a sender would have built unsegmented;
// slots that were not merged keep their bytes.
import { describe, expect, it } from 'vitest';
import { allocBatch, HEADROOM, type FrameBatch } from '../../src/io/types.js';
import { writeU16, writeU32 } from '../../src/wire/bytes.js';
import { onesSum } from '../../src/wire/checksum.js';
import { buildTcp, concat } from '../../src/wire/build/frames.js';
import { coalesceSlots } from '../../src/vfp/gro-batch.js';
import { CoalesceResult, chunkSumOf, finishPartialChecksum } from '../../src/vfp/offload.js';
import { loadNative } from '../../src/io/native.js';
import { VNET_GSO_TCPV4 } from '../../src/wire/vnethdr.js';

const MSS = 1398;
const SEQ0 = 0xffffe000; // wraps inside a long run
const TS = new Uint8Array([1, 1, 8, 10, 0, 0, 0, 7, 0, 0, 0, 9]);
const PA = 0xc0a80214;

interface Seg {
  /** Payload offset in the stream (bytes) and size. */
  at: number;
  size?: number;
  flags?: number;
  sport?: number;
  vsid?: number;
  src?: number;
  badCsum?: boolean;
  dstMac?: string;
}

function payload(at: number, size: number): Uint8Array {
  return Uint8Array.from({ length: size }, (_, i) => ((at + i) * 13 + 5) & 0xff);
}

function inner(at: number, size: number, flags: number, sport = 40000, tcpChecksum: boolean | number = true, dstMac = '02:00:00:00:50:11'): Uint8Array {
  return buildTcp({
    srcMac: '02:00:00:00:50:12', dstMac, srcIp: '10.1.1.12', dstIp: '10.1.1.11', id: 100, flagsFragment: 0x4000,
    srcPort: sport, dstPort: 5201, seq: (SEQ0 + at) >>> 0, ack: 777, flags, window: 501, options: TS, payload: payload(at, size), tcpChecksum,
  });
}

function gre(vsid: number): Uint8Array {
  const g = new Uint8Array(8);
  writeU16(g, 0, 0x2000);
  writeU16(g, 2, 0x6558);
  writeU32(g, 4, (vsid << 8) >>> 0);
  return g;
}

/** A read of `segs`: slot k holds GRE + inner frame at HEADROOM; every other byte is 0xa5. */
function batch(segs: Seg[], slotSize = 16384): { b: FrameBatch; src: Uint32Array } {
  const b = allocBatch(segs.length, slotSize);
  b.slab.fill(0xa5);
  const src = new Uint32Array(segs.length);
  segs.forEach((s, k) => {
    const fr = inner(s.at, s.size ?? MSS, s.flags ?? 0x10, s.sport, s.badCsum ? 0x1234 : true, s.dstMac);
    const p = concat(gre(s.vsid ?? 5001), fr);
    b.slab.set(p, b.start[k]);
    b.len[k] = p.length;
    src[k] = s.src ?? PA;
  });
  b.count = segs.length;
  return { b, src };
}

const sum = onesSum;
const chunks = chunkSumOf(sum);

function run(segs: Seg[], first = 0, slotSize?: number) {
  const { b, src } = batch(segs, slotSize);
  const before = b.slab.slice();
  const co = new CoalesceResult();
  const n = coalesceSlots(b, src, first, segs.length, 8, sum, chunks, co);
  return { b, before, co, n };
}

/** The super-frame with its partial TCP checksum finished. */
function finished(b: FrameBatch, co: CoalesceResult): Uint8Array {
  const out = b.slab.slice(co.start, co.start + co.len);
  expect(finishPartialChecksum(out, 0, out.length, co.csumStart, co.csumOffset, sum)).toBe(true);
  return out;
}

function slotBytes(b: Uint8Array, k: number, slotSize = 16384): Uint8Array {
  return b.subarray(k * slotSize, (k + 1) * slotSize);
}

describe('coalesceSlots (NVGRE software GRO)', () => {
  it('merges an in-order run into the first slot: the frame the sender would have sent whole', () => {
    const segs: Seg[] = [0, 1, 2, 3].map((i) => ({ at: i * MSS }));
    segs.push({ at: 4 * MSS, size: 300, flags: 0x18 });
    const { b, co, n, before } = run(segs);
    expect(n).toBe(5);
    expect(co.n).toBe(5);
    expect(co.start).toBe(HEADROOM + 8);
    expect(co.gsoType).toBe(VNET_GSO_TCPV4);
    expect(co.gsoSize).toBe(MSS);
    expect(co.hdrLen).toBe(14 + 20 + 32);
    expect([co.csumStart, co.csumOffset]).toEqual([34, 16]);
    const whole = inner(0, 4 * MSS + 300, 0x18);
    expect(co.len).toBe(whole.length);
    expect(finished(b, co)).toEqual(whole);
    expect(b.len[0]).toBe(8 + whole.length);
    // the GRE header in front is left as it was; the slots merged in are not touched
    expect(b.slab.subarray(HEADROOM, HEADROOM + 8)).toEqual(gre(5001));
    for (let k = 1; k < 5; k++) expect(slotBytes(b.slab, k)).toEqual(slotBytes(before, k));
  });

  it('stops at a sequence gap; the rest forms its own run', () => {
    const segs: Seg[] = [{ at: 0 }, { at: MSS }, { at: 3 * MSS }, { at: 4 * MSS }];
    const a = run(segs);
    expect(a.n).toBe(2);
    expect(finished(a.b, a.co)).toEqual(inner(0, 2 * MSS, 0x10));
    for (let k = 2; k < 4; k++) expect(slotBytes(a.b.slab, k)).toEqual(slotBytes(a.before, k));
    const c = run(segs, 2);
    expect(c.n).toBe(2);
    expect(finished(c.b, c.co)).toEqual(inner(3 * MSS, 2 * MSS, 0x10));
  });

  it('leaves reordered segments alone (no slot changes)', () => {
    const segs: Seg[] = [{ at: 0 }, { at: 2 * MSS }, { at: MSS }, { at: 3 * MSS }];
    for (let first = 0; first < 4; first++) {
      const r = run(segs, first);
      expect(r.n).toBe(0);
      expect(r.b.slab).toEqual(r.before);
    }
  });

  it('does not merge across another flow, another VSID or another outer source', () => {
    const mixed: Seg[] = [{ at: 0 }, { at: MSS }, { at: 0, sport: 40001 }, { at: MSS, sport: 40001 }, { at: 2 * MSS }];
    expect(run(mixed, 0).n).toBe(2);
    const b2 = run(mixed, 2);
    expect(b2.n).toBe(2);
    expect(finished(b2.b, b2.co)).toEqual(inner(0, 2 * MSS, 0x10, 40001));
    expect(run(mixed, 4).n).toBe(0);
    for (const other of [{ vsid: 6001 }, { src: PA + 1 }, { dstMac: '02:00:00:00:50:99' }]) {
      const r = run([{ at: 0 }, { at: MSS, ...other }]);
      expect(r.n).toBe(0);
      expect(r.b.slab).toEqual(r.before);
    }
  });

  it('does not merge a segment with a bad TCP checksum, nor anything after it', () => {
    const r = run([{ at: 0 }, { at: MSS }, { at: 2 * MSS, badCsum: true }, { at: 3 * MSS }]);
    expect(r.n).toBe(2);
    expect(finished(r.b, r.co)).toEqual(inner(0, 2 * MSS, 0x10));
    for (let k = 2; k < 4; k++) expect(slotBytes(r.b.slab, k)).toEqual(slotBytes(r.before, k));
    const head = run([{ at: 0, badCsum: true }, { at: MSS }]);
    expect(head.n).toBe(0);
    expect(head.b.slab).toEqual(head.before);
  });

  it('does not merge a bad IPv4 header checksum', () => {
    const { b, src } = batch([{ at: 0 }, { at: MSS }]);
    b.slab[b.start[1] + 8 + 14 + 10] ^= 0x40;
    const before = b.slab.slice();
    expect(coalesceSlots(b, src, 0, 2, 8, sum, chunks, new CoalesceResult())).toBe(0);
    expect(b.slab).toEqual(before);
  });

  it('ends a run before a FIN, a SYN or an RST, and after a PSH or a short segment', () => {
    for (const flags of [0x11, 0x12, 0x14, 0x19]) expect(run([{ at: 0 }, { at: MSS }, { at: 2 * MSS, flags }]).n).toBe(2);
    expect(run([{ at: 0 }, { at: MSS, flags: 0x18 }, { at: 2 * MSS }]).n).toBe(2);
    expect(run([{ at: 0, flags: 0x18 }, { at: MSS }]).n).toBe(0);
    expect(run([{ at: 0 }, { at: MSS, size: 100 }, { at: MSS + 100 }]).n).toBe(2);
    // a segment larger than the first (not an MSS run)
    expect(run([{ at: 0, size: 1000 }, { at: 1000, size: 1200 }]).n).toBe(0);
    // a group destination (replicated frame by frame) is never merged
    expect(run([{ at: 0, dstMac: 'ff:ff:ff:ff:ff:ff' }, { at: MSS, dstMac: 'ff:ff:ff:ff:ff:ff' }]).n).toBe(0);
    // pure ACKs (no payload) are never merged
    expect(run([{ at: 0, size: 0 }, { at: 0, size: 0 }]).n).toBe(0);
  });

  it('keeps a super-frame within 64 KB of IPv4 (46 segments of 1398 bytes)', () => {
    const segs: Seg[] = Array.from({ length: 50 }, (_, i) => ({ at: i * MSS }));
    const r = run(segs, 0, 81920);
    expect(r.n).toBe(46);
    expect(finished(r.b, r.co)).toEqual(inner(0, 46 * MSS, 0x10));
    const rest = run(segs, 46, 81920);
    expect(rest.n).toBe(4);
  });

  it('stops where the first slot ends', () => {
    expect(run([{ at: 0 }, { at: MSS }, { at: 2 * MSS }], 0, 4096).n).toBe(2);
  });

  it('gives the same bytes with the native per-segment sums', () => {
    let n: ReturnType<typeof loadNative>;
    try {
      n = loadNative();
    } catch {
      return; // no addon built: the JS sums above are the reference
    }
    const segs: Seg[] = Array.from({ length: 30 }, (_, i) => ({ at: i * MSS }));
    const { b, src } = batch(segs, 81920);
    const co = new CoalesceResult();
    const native = (bb: Uint8Array, first: number, stride: number, cl: number, count: number, last: number, out: Uint32Array) => void n.sumChunks(bb, first, stride, cl, count, last, out);
    expect(coalesceSlots(b, src, 0, 30, 8, (x, o, l, i) => n.checksum(x, o, l, i), native, co)).toBe(30);
    expect(finished(b, co)).toEqual(inner(0, 30 * MSS, 0x10));
  });
});
