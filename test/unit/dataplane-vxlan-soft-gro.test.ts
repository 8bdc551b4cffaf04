// VXLAN software GRO in the forwarder (offload-rx.ts coalesceVxlanSlots): datagrams that arrive one
// per slot (a kernel vxlan peer whose tenant has no TSO, an underlay without GRO) go through a
// forwarder with it and one without. Per flow the port gets the same bytes in the same order, in
// fewer frames; refusals are the same; a UDP GRO buffer in the same read is left to coalesceGro.
import { describe, expect, it } from 'vitest';
import { buildTcp, buildVxlan } from '../../src/wire/build/frames.js';
import { countersToJson } from '../../src/dataplane/counters.js';
import { TSO_SLOT } from '../../src/dataplane/forwarder.js';
import { finishPartialChecksum } from '../../src/vfp/offload.js';
import { readU16, readU32 } from '../../src/wire/bytes.js';
import { onesSum } from '../../src/wire/checksum.js';
import { MAC, PA2, figure8, ipNum, rig } from '../helpers/vfp-fixtures.js';

const wire = (full: Uint8Array): Uint8Array => full.slice(34); // drop outer Ethernet + IPv4
const MSS = 1398;

function seg(sport: number, i: number, o: { flags?: number; vni?: number; size?: number; srcIp?: string } = {}): Uint8Array {
  const size = o.size ?? MSS;
  const inner = buildTcp({
    srcMac: MAC.contosoWeb, dstMac: MAC.contosoSql, srcIp: o.srcIp ?? '10.1.1.12', dstIp: '10.1.1.11', flagsFragment: 0x4000,
    srcPort: sport, dstPort: 5201, seq: 1000 + i * MSS, ack: 1, flags: o.flags ?? 0x10, window: 500,
    payload: Uint8Array.from({ length: size }, (_, k) => (sport + i * 31 + k) & 0xff),
  });
  return wire(buildVxlan({ vni: o.vni ?? 5001, inner }));
}

function mixedRead(): [Uint8Array, string][] {
  const r: [Uint8Array, string][] = [];
  for (let i = 0; i < 6; i++) r.push([seg(40000, i), PA2]);
  r.push([seg(40001, 0), PA2], [seg(40001, 1), PA2]);
  r.push([seg(40000, 6), '192.168.9.9'], [seg(40000, 7), '192.168.9.9']); // not a peer's PA
  r.push([seg(40000, 6, { srcIp: '10.1.1.99' }), PA2], [seg(40000, 7, { srcIp: '10.1.1.99' }), PA2]); // not host2's CA
  for (let i = 6; i < 9; i++) r.push([seg(40000, i), PA2]);
  r.push([seg(40000, 9, { flags: 0x18, size: 200 }), PA2]);
  for (let i = 0; i < 3; i++) r.push([seg(40002, i, { vni: 5099 }), PA2]); // no such VSID
  return r;
}

function forward(gro: boolean) {
  const r = rig(figure8(), 'host1', { bigSlotSize: TSO_SLOT, softGro: gro });
  for (const [p, src] of mixedRead()) r.vx.push(p, ipNum(src));
  r.fwd.pollUplink('vxlan');
  const frames = r.pull('contoso-sql');
  return { frames, c: countersToJson(r.fwd.counters, r.snap) };
}

function streams(frames: Uint8Array[]): Map<number, number[]> {
  const m = new Map<number, number[]>();
  for (const f0 of frames) {
    const f = f0.slice();
    const tot = readU16(f, 16);
    if (onesSum(f, 34, tot - 20, onesSum(f, 26, 8, 6 + tot - 20)) !== 0xffff) finishPartialChecksum(f, 0, f.length, 34, 16, onesSum);
    expect(onesSum(f, 14, 20)).toBe(0xffff);
    expect(onesSum(f, 34, tot - 20, onesSum(f, 26, 8, 6 + tot - 20))).toBe(0xffff);
    const sport = readU16(f, 34);
    const s = m.get(sport) ?? [];
    expect(readU32(f, 38)).toBe(1000 + s.length);
    s.push(...f.subarray(34 + ((f[46] >>> 4) << 2), 14 + tot));
    m.set(sport, s);
  }
  return m;
}

describe('VXLAN software GRO in the forwarder', () => {
  it('delivers the same bytes per flow, in order, with the same refusals, in fewer frames', () => {
    const a = forward(false);
    const b = forward(true);
    expect(a.frames).toHaveLength(6 + 2 + 3 + 1);
    // 40000: 0-5, 40001: 0-1, 40000: 6-8, then 9 (shorter: its UDP length differs, so it stays alone)
    expect(b.frames).toHaveLength(4);
    expect(streams(b.frames)).toEqual(streams(a.frames));
    const reasons = (c: typeof a.c) => Object.keys(c.drops).filter((k) => c.drops[k] > 0).sort();
    expect(reasons(b.c)).toEqual(reasons(a.c));
    expect(b.c.drops['unknown-src-pa']).toBe(2);
    // a merged run is refused as one frame (as a TSO super-frame from a TAP is): 2 segments, 1 drop
    expect([a.c.drops['src-not-owned'], b.c.drops['src-not-owned']]).toEqual([2, 1]);
    expect([a.c.drops['unknown-vni'], b.c.drops['unknown-vni']]).toEqual([3, 1]);
    expect(b.c.counters['vxlan-soft-gro-frames']).toBeGreaterThanOrEqual(3);
    expect(a.c.counters['vxlan-soft-gro-frames']).toBe(0);
    expect(b.c.counters['uplink-rx-frames']).toBe(a.c.counters['uplink-rx-frames']);
  });

  it('is off for ports without a virtio-net header (--no-offload)', () => {
    const r = rig(figure8(), 'host1', { bigSlotSize: TSO_SLOT, portsTakeGso: false });
    for (const [p, src] of mixedRead()) r.vx.push(p, ipNum(src));
    r.fwd.pollUplink('vxlan');
    expect(r.pull('contoso-sql')).toHaveLength(12);
    expect(countersToJson(r.fwd.counters, r.snap).counters['vxlan-soft-gro-frames']).toBe(0);
  });
});
