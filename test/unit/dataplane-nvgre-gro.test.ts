// NVGRE software GRO in the forwarder (offload-rx.ts coalesceNvgre): one read of mixed packets
// goes through a forwarder with it and one without. Per flow, the port gets the same bytes in the
// same order; the packets the ingress checks refuse are refused by the same reasons either way;
// the counters say what was merged.
import { describe, expect, it } from 'vitest';
import { buildNvgre, buildTcp } from '../../src/wire/build/frames.js';
import { countersToJson } from '../../src/dataplane/counters.js';
import { TSO_SLOT } from '../../src/dataplane/forwarder.js';
import { finishPartialChecksum } from '../../src/vfp/offload.js';
import { readU16, readU32 } from '../../src/wire/bytes.js';
import { onesSum } from '../../src/wire/checksum.js';
import { MAC, PA3, figure8, ipNum, rig } from '../helpers/vfp-fixtures.js';

const wire = (full: Uint8Array): Uint8Array => full.slice(34); // drop outer Ethernet + IPv4
const MSS = 1398;

function seg(sport: number, i: number, o: { flags?: number; dstMac?: string; vsid?: number; size?: number } = {}): Uint8Array {
  const size = o.size ?? MSS;
  const inner = buildTcp({
    srcMac: MAC.contosoGre, dstMac: o.dstMac ?? MAC.contosoGreLocal, srcIp: '10.1.3.31', dstIp: '10.1.3.32', flagsFragment: 0x4000,
    srcPort: sport, dstPort: 5201, seq: 1000 + i * MSS, ack: 1, flags: o.flags ?? 0x10, window: 500,
    payload: Uint8Array.from({ length: size }, (_, k) => (sport + i * 31 + k) & 0xff),
  });
  return wire(buildNvgre({ vsid: o.vsid ?? 5003, flowId: 7, inner }));
}

/** The packets of one read, with their outer source. */
function mixedRead(): [Uint8Array, string][] {
  const r: [Uint8Array, string][] = [];
  for (let i = 0; i < 5; i++) r.push([seg(40000, i), PA3]);
  r.push([seg(40001, 0), PA3], [seg(40001, 1), PA3]);
  r.push([seg(40000, 5), '192.168.9.9'], [seg(40000, 6), '192.168.9.9']); // not a peer's PA (copies of what follows)
  for (let i = 5; i < 9; i++) r.push([seg(40000, i), PA3]);
  r.push([seg(40000, 9, { flags: 0x18, size: 200 }), PA3], [seg(40001, 2, { flags: 0x11, size: 10 }), PA3]);
  for (let i = 0; i < 3; i++) r.push([seg(40002, i, { vsid: 5001 }), PA3]); // a VXLAN subnet's VSID
  for (let i = 0; i < 3; i++) r.push([seg(40003, i, { dstMac: MAC.contosoSql }), PA3]); // no endpoint of VSID 5003
  return r;
}

function forward(gro: boolean) {
  const r = rig(figure8(), 'host1', { bigSlotSize: TSO_SLOT, softGro: gro });
  for (const [p, src] of mixedRead()) r.nv.push(p, ipNum(src));
  r.fwd.pollUplink('nvgre');
  const frames = r.pull('contoso-grl');
  const c = countersToJson(r.fwd.counters, r.snap);
  return { frames, c };
}

/** TCP payload bytes per source port, in the order delivered; every frame's checksums checked. */
function streams(frames: Uint8Array[]): Map<number, number[]> {
  const m = new Map<number, number[]>();
  for (const f0 of frames) {
    const f = f0.slice();
    const l3 = 14;
    const tot = readU16(f, l3 + 2);
    // a super-frame carries a partial checksum (NEEDS_CSUM): finish it as the port's kernel would
    if (onesSum(f, l3 + 20, tot - 20, onesSum(f, l3 + 12, 8, 6 + tot - 20)) !== 0xffff) finishPartialChecksum(f, 0, f.length, 34, 16, onesSum);
    expect(onesSum(f, l3, 20)).toBe(0xffff);
    expect(onesSum(f, l3 + 20, tot - 20, onesSum(f, l3 + 12, 8, 6 + tot - 20))).toBe(0xffff);
    const sport = readU16(f, 34);
    const off = 34 + ((f[46] >>> 4) << 2);
    const s = m.get(sport) ?? [];
    expect(readU32(f, 38)).toBe(1000 + s.length);
    s.push(...f.subarray(off, 14 + tot));
    m.set(sport, s);
  }
  return m;
}

describe('NVGRE software GRO in the forwarder', () => {
  it('delivers the same bytes per flow, in order, with the same refusals, in fewer frames', () => {
    const a = forward(false);
    const b = forward(true);
    expect(a.frames).toHaveLength(13);
    expect(b.frames).toHaveLength(4); // 40000: 0-4, 40001: 0-1, 40000: 5-9, 40001: 2 (FIN)
    expect(streams(b.frames)).toEqual(streams(a.frames));
    expect([...streams(b.frames).keys()]).toEqual([40000, 40001]);
    expect(Object.keys(b.c.drops).filter((k) => b.c.drops[k] > 0).sort()).toEqual(Object.keys(a.c.drops).filter((k) => a.c.drops[k] > 0).sort());
    expect(b.c.drops['unknown-src-pa']).toBe(2); // each on its own: never merged
    expect(b.c.counters['nvgre-gro-frames']).toBe(5); // the three above and the two refused runs
    expect(b.c.counters['nvgre-gro-segments']).toBe(5 + 2 + 5 + 3 + 3);
    expect(a.c.counters['nvgre-gro-frames']).toBe(0);
    expect(b.c.counters['uplink-rx-frames']).toBe(a.c.counters['uplink-rx-frames']);
    expect(b.c.counters['uplink-rx-bytes']).toBe(a.c.counters['uplink-rx-bytes']);
  });
});
