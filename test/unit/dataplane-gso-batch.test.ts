import { describe, expect, it } from 'vitest';
import { GsoGroups, groupRuns, worthGrouping } from '../../src/dataplane/gso-batch.js';
import { UplinkOutput } from '../../src/dataplane/outputs.js';

/** A flush where message k is `len` bytes at offset k * 2048. */
function msgs(list: { len: number; sport?: number; dst?: number; gso?: number }[]): UplinkOutput {
  const out = new UplinkOutput(256);
  list.forEach((m, k) => out.add(k * 2048, m.len, m.gso ?? 0, m.sport ?? 1000, 0x0a000001, m.dst ?? 0x0a000002));
  return out;
}

/** The groups as [parts, gso, bytes] triples. */
function groups(out: UplinkOutput, maxSegments = 64): { list: number[][]; g: GsoGroups } {
  const g = new GsoGroups(out.capacity);
  groupRuns(out, g, maxSegments);
  const list: number[][] = [];
  for (let k = 0; k < g.n; k++) list.push([g.parts[k], g.gso[k], g.bytes[k]]);
  return { list, g };
}

describe('UDP GSO grouping of plain datagrams', () => {
  it('groups one flow of equal-sized datagrams, a shorter last one included, in order', () => {
    const out = msgs([{ len: 100 }, { len: 100 }, { len: 100 }, { len: 40 }, { len: 100 }]);
    expect(worthGrouping(out)).toBe(true);
    const { list, g } = groups(out);
    // [100,100,100,40] as one message of gso 100, then the last 100 alone (a run ends at a short one)
    expect(list).toEqual([
      [4, 100, 340],
      [1, 0, 100],
    ]);
    expect(g.grouped).toBe(4);
    expect([g.sport[0], g.src[0], g.dst[0]]).toEqual([1000, 0x0a000001, 0x0a000002]);
  });

  it('never groups across flows, destinations, larger datagrams, or past 64 segments / 65507 bytes', () => {
    const out = msgs([{ len: 100 }, { len: 100, sport: 2000 }, { len: 100, sport: 2000, dst: 9 }, { len: 100, sport: 2000, dst: 9 }, { len: 200, sport: 2000, dst: 9 }]);
    const { list, g } = groups(out);
    expect(list).toEqual([
      [1, 0, 100],
      [1, 0, 100],
      [2, 100, 200],
      [1, 0, 200],
    ]);
    expect([g.sport[2], g.dst[2]]).toEqual([2000, 9]);
    // 65507 / 1500 = 43 per message: 43 + 27
    expect(groups(msgs(Array.from({ length: 70 }, () => ({ len: 1500 })))).list).toEqual([
      [43, 1500, 43 * 1500],
      [27, 1500, 27 * 1500],
    ]);
    expect(groups(msgs(Array.from({ length: 70 }, () => ({ len: 64 })))).list).toEqual([
      [64, 64, 64 * 64],
      [6, 64, 6 * 64],
    ]);
    // the uplink's own segment limit
    expect(groups(msgs(Array.from({ length: 10 }, () => ({ len: 64 }))), 4).list.map((x) => x[0])).toEqual([4, 4, 2]);
  });

  it('keeps a TSO run as its own message and its gso size', () => {
    const { list } = groups(msgs([{ len: 3000, gso: 1400 }, { len: 100 }, { len: 100 }]));
    expect(list).toEqual([
      [1, 1400, 3000],
      [2, 100, 200],
    ]);
  });

  it('leaves flushes alone that hold a TSO run or nothing to group', () => {
    expect(worthGrouping(msgs([{ len: 100 }, { len: 100 }, { len: 3000, gso: 1400 }]))).toBe(false);
    expect(worthGrouping(msgs([{ len: 100 }, { len: 100, sport: 7 }, { len: 100, dst: 7 }]))).toBe(false);
    expect(worthGrouping(msgs([{ len: 100 }, { len: 101 }]))).toBe(false);
  });

  it('accounts for every message exactly once, whatever the mix', () => {
    // a deterministic mix of flows, sizes and destinations
    let seed = 7;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n);
    for (let t = 0; t < 200; t++) {
      const out = msgs(Array.from({ length: 1 + rnd(200) }, () => ({ len: [64, 100, 1400, 1500][rnd(4)], sport: 1000 + rnd(3), dst: rnd(2) })));
      const { list } = groups(out);
      expect(list.reduce((a, x) => a + x[0], 0)).toBe(out.n);
      let i = 0;
      for (const [parts, gso, bytes] of list) {
        let sum = 0;
        for (let k = i; k < i + parts; k++) {
          sum += out.len[k];
          expect(out.sport[k]).toBe(out.sport[i]);
          expect(out.dst[k]).toBe(out.dst[i]);
          // every datagram but the last is gso bytes
          if (parts > 1 && k < i + parts - 1) expect(out.len[k]).toBe(gso);
        }
        expect(bytes).toBe(sum);
        expect(bytes).toBeLessThanOrEqual(parts > 1 ? 65507 : 65535);
        i += parts;
      }
    }
  });
});
