import { describe, expect, it } from 'vitest';
import { GsoStage, stageGroups, worthGrouping } from '../../src/dataplane/gso-batch.js';
import { UplinkOutput } from '../../src/dataplane/outputs.js';

/** A slab where message k is `len` bytes of the value k+1 at offset k * 2048. */
function msgs(list: { len: number; sport?: number; dst?: number; gso?: number }[]): { out: UplinkOutput; slab: Uint8Array } {
  const slab = new Uint8Array(list.length * 2048 + 70000);
  const out = new UplinkOutput(256);
  list.forEach((m, k) => {
    slab.fill(k + 1, k * 2048, k * 2048 + Math.min(m.len, 2048));
    out.add(k * 2048, m.len, m.gso ?? 0, m.sport ?? 1000, 0x0a000001, m.dst ?? 0x0a000002);
  });
  return { out, slab };
}

describe('UDP GSO grouping of plain datagrams', () => {
  it('groups one flow of equal-sized datagrams, a shorter last one included, and keeps the bytes in order', () => {
    const { out, slab } = msgs([{ len: 100 }, { len: 100 }, { len: 100 }, { len: 40 }, { len: 100 }]);
    expect(worthGrouping(out)).toBe(true);
    const st = new GsoStage(256);
    expect(stageGroups(out, slab, 0, st, 64)).toBe(5);
    // [100,100,100,40] as one message of gso 100, then the last 100 alone (a run ends at a short one)
    expect(st.out.n).toBe(2);
    expect([st.out.len[0], st.out.gso[0], st.out.len[1], st.out.gso[1]]).toEqual([340, 100, 100, 0]);
    expect(st.grouped).toBe(4);
    const bytes = st.slab.subarray(0, st.used);
    expect([bytes[0], bytes[99], bytes[100], bytes[299], bytes[300], bytes[339], bytes[340], bytes[439]]).toEqual([1, 1, 2, 3, 4, 4, 5, 5]);
  });

  it('never groups across flows, destinations, larger datagrams, or past 64 segments / 65507 bytes', () => {
    const { out, slab } = msgs([
      { len: 100 },
      { len: 100, sport: 2000 },
      { len: 100, sport: 2000, dst: 9 },
      { len: 100, sport: 2000, dst: 9 },
      { len: 200, sport: 2000, dst: 9 },
    ]);
    const st = new GsoStage(256);
    stageGroups(out, slab, 0, st, 64);
    expect(Array.from(st.out.len.subarray(0, st.out.n))).toEqual([100, 100, 200, 200]);
    expect(Array.from(st.out.gso.subarray(0, st.out.n))).toEqual([0, 0, 100, 0]);
    const many = msgs(Array.from({ length: 70 }, () => ({ len: 1500 })));
    stageGroups(many.out, many.slab, 0, st, 64);
    // 65507 / 1500 = 43 per message: 43 + 27
    expect(Array.from(st.out.gso.subarray(0, st.out.n))).toEqual([1500, 1500]);
    expect(Array.from(st.out.len.subarray(0, st.out.n))).toEqual([43 * 1500, 27 * 1500]);
    const small = msgs(Array.from({ length: 70 }, () => ({ len: 64 })));
    stageGroups(small.out, small.slab, 0, st, 64);
    expect(Array.from(st.out.len.subarray(0, st.out.n))).toEqual([64 * 64, 6 * 64]);
  });

  it('leaves flushes alone that hold a TSO run or nothing to group', () => {
    expect(worthGrouping(msgs([{ len: 100 }, { len: 100 }, { len: 3000, gso: 1400 }]).out)).toBe(false);
    expect(worthGrouping(msgs([{ len: 100 }, { len: 100, sport: 7 }, { len: 100, dst: 7 }]).out)).toBe(false);
    expect(worthGrouping(msgs([{ len: 100 }, { len: 101 }]).out)).toBe(false);
  });

  it('stops when the stage is full and resumes where it stopped', () => {
    // 40 messages of 1400 bytes in distinct flows (no grouping): 56,000 bytes; a stage of 8 messages
    const { out, slab } = msgs(Array.from({ length: 40 }, (_, k) => ({ len: 1400, sport: k })));
    const st = new GsoStage(8);
    let i = 0;
    const seen: number[] = [];
    while (i < out.n) {
      i = stageGroups(out, slab, i, st, 64);
      expect(st.out.n).toBeLessThanOrEqual(8);
      for (let k = 0; k < st.out.n; k++) seen.push(st.slab[st.out.start[k]]);
    }
    expect(seen).toEqual(Array.from({ length: 40 }, (_, k) => k + 1));
  });
});
