// The addon's segmentFrame (native-bindings/src/segment.cc) against the TypeScript reference
// (vfp/offload.ts segmentFrame): the same super-frames cut in two poisoned buffers must leave the
// buffers byte for byte equal, for TCP and UDP over IPv4 (with and without IP options) and IPv6,
// with and without a length field in the prefix, odd MSS, FIN/PSH/CWR; refusals leave the bytes
// alone; every segment's checksums are verified here and, when tshark is installed, by tshark.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadNative } from '../../src/io/native.js';
import { onesSum } from '../../src/wire/checksum.js';
import { buildIpv4Udp, buildIpv6Tcp, buildIpv6Udp, buildTcp } from '../../src/wire/build/frames.js';
import { SegResult, segmentFrame } from '../../src/vfp/offload.js';
import { VNET_GSO_TCPV4, VNET_GSO_TCPV6, VNET_GSO_UDP_L4 } from '../../src/wire/vnethdr.js';
import { writePcap } from '../helpers/pcap.js';
import { requires } from '../helpers/prerequisites.js';

const F = 512;
const SIZE = 65536 + 16384;
const native = loadNative();
const TS = new Uint8Array([1, 1, 8, 10, 0, 0, 0, 7, 0, 0, 0, 9]);
const payload = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 29 + 11) & 0xff);
const v4 = { srcMac: '02:00:00:00:50:12', dstMac: '02:00:00:00:50:11', srcIp: '10.1.1.12', dstIp: '10.1.1.11', id: 0xfff0, flagsFragment: 0x4000 };
const v6 = { srcMac: '02:00:00:00:50:12', dstMac: '02:00:00:00:50:11', srcIp: 'fd00::12', dstIp: 'fd00::11' };

interface Case {
  name: string;
  frame: Uint8Array;
  type: number;
  mss: number;
  pre: number;
  lenField: number;
}

const cases: Case[] = [
  { name: 'TCPv4 64 KB, MSS 1398, PSH', frame: buildTcp({ ...v4, seq: 0xffffff00, ack: 9, flags: 0x18, options: TS, payload: payload(64000) }), type: VNET_GSO_TCPV4, mss: 1398, pre: 8, lenField: -1 },
  { name: 'TCPv4 FIN|PSH|CWR, odd MSS, UDP+VXLAN prefix', frame: buildTcp({ ...v4, flags: 0x99, options: TS, payload: payload(10001) }), type: VNET_GSO_TCPV4, mss: 1397, pre: 16, lenField: 4 },
  { name: 'TCPv4 exact multiple of MSS, no options', frame: buildTcp({ ...v4, flags: 0x10, payload: payload(4 * 1000) }), type: VNET_GSO_TCPV4, mss: 1000, pre: 8, lenField: -1 },
  { name: 'TCPv4 one segment only', frame: buildTcp({ ...v4, flags: 0x10, payload: payload(500) }), type: VNET_GSO_TCPV4, mss: 1398, pre: 8, lenField: -1 },
  { name: 'TCPv6 with ECN bit in gso_type', frame: buildIpv6Tcp({ ...v6, flags: 0x18, options: TS, payload: payload(20000) }), type: VNET_GSO_TCPV6 | 0x80, mss: 1378, pre: 8, lenField: -1 },
  { name: 'UDPv4 (USO)', frame: buildIpv4Udp({ ...v4, payload: payload(9000) }), type: VNET_GSO_UDP_L4, mss: 1400, pre: 16, lenField: 4 },
  { name: 'UDPv6 (USO)', frame: buildIpv6Udp({ ...v6, payload: payload(7777) }), type: VNET_GSO_UDP_L4, mss: 1234, pre: 8, lenField: -1 },
];

/** Buffer, poisoned, with `pre` bytes of prefix (5, 6, 7, ...) in front of the frame at F. */
function place(c: Case): Uint8Array {
  const b = new Uint8Array(SIZE).fill(0xa5);
  for (let i = 0; i < c.pre; i++) b[F - c.pre + i] = 5 + i;
  b.set(c.frame, F);
  return b;
}

function bothWays(c: Case, limit = SIZE) {
  const a = place(c);
  const b = place(c);
  const r1 = new SegResult();
  const ok1 = segmentFrame(a, F, c.frame.length, c.type, c.mss, c.pre, c.lenField, limit, onesSum, r1);
  const out = new Int32Array(4).fill(-7);
  const n2 = native.segmentFrame!(b, F, c.frame.length, c.type, c.mss, c.pre, c.lenField, limit, out);
  return { a, b, r1, ok1, n2, out };
}

/** The segments of a cut buffer (frames without the prefix). */
function segments(b: Uint8Array, r: SegResult, pre: number): Uint8Array[] {
  return Array.from({ length: r.n }, (_, i) => b.slice(F - pre + i * r.stride + pre, F - pre + i * r.stride + (i === r.n - 1 ? r.lastLen : r.stride)));
}

/** IPv4 header and L4 checksums of a segment, by wire/checksum. */
function checksumsOk(f: Uint8Array): boolean {
  if (f[12] === 0x08) {
    const tot = (f[16] << 8) | f[17];
    const ihl = (f[14] & 15) * 4;
    const ph = onesSum(f, 26, 8, f[23] + tot - ihl);
    return onesSum(f, 14, ihl) === 0xffff && onesSum(f, 14 + ihl, tot - ihl, ph) === 0xffff;
  }
  const pl = (f[18] << 8) | f[19];
  return onesSum(f, 54, pl, onesSum(f, 22, 32, f[20] + pl)) === 0xffff;
}

/** Byte-for-byte equality of two large buffers (vitest's deep equality walks 80 KB slowly). */
function same(x: Uint8Array, y: Uint8Array): boolean {
  return Buffer.from(x.buffer, x.byteOffset, x.byteLength).equals(Buffer.from(y.buffer, y.byteOffset, y.byteLength));
}

function hasTshark(): boolean {
  try {
    execFileSync('tshark', ['-v'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('native segmentFrame', () => {
  for (const c of cases) {
    it(`${c.name}: the same bytes as the TypeScript`, () => {
      const { a, b, r1, ok1, n2, out } = bothWays(c);
      expect(ok1).toBe(true);
      expect(n2).toBe(r1.n);
      expect([...out]).toEqual([r1.n, r1.stride, r1.lastLen, r1.hdrLen]);
      expect(same(b, a)).toBe(true);
      const segs = segments(b, r1, c.pre);
      for (const s of segs) expect(checksumsOk(s)).toBe(true);
      if (c.lenField >= 0) for (let i = 0; i < r1.n; i++) expect((b[F - c.pre + i * r1.stride + 4] << 8) | b[F - c.pre + i * r1.stride + 5]).toBe(i === r1.n - 1 ? r1.lastLen : r1.stride);
    });
  }

  it('refuses what the TypeScript refuses, and moves nothing', () => {
    const tcp = cases[0];
    const refusals: Case[] = [
      { ...tcp, type: VNET_GSO_UDP_L4 }, // the frame is TCP
      { ...tcp, type: VNET_GSO_TCPV6 }, // the frame is IPv4
      { ...tcp, type: 3 }, // no such GSO type here
      { ...tcp, mss: 0 },
      { ...tcp, frame: tcp.frame.slice(0, 40) },
      { ...tcp, frame: buildTcp({ ...v4, flagsFragment: 0x2000, payload: payload(3000) }) }, // a fragment
    ];
    for (const c of refusals) {
      const { a, b, ok1, n2 } = bothWays(c);
      expect(ok1).toBe(false);
      expect(n2).toBe(0);
      expect(same(b, place(c))).toBe(true);
      expect(same(a, place(c))).toBe(true);
    }
    const { ok1, n2, b } = bothWays(tcp, F + 30000); // segments would pass the limit
    expect([ok1, n2]).toEqual([false, 0]);
    expect(same(b, place(tcp))).toBe(true);
  });

  it('refuses ranges outside the buffer (RangeError, not a wild write)', () => {
    const b = new Uint8Array(4096);
    const out = new Int32Array(4);
    expect(() => native.segmentFrame!(b, 100, 5000, VNET_GSO_TCPV4, 1000, 8, -1, 4096, out)).toThrow(RangeError);
    expect(() => native.segmentFrame!(b, 4, 100, VNET_GSO_TCPV4, 1000, 8, -1, 4096, out)).toThrow(RangeError); // prefix before 0
    expect(() => native.segmentFrame!(b, 100, 100, VNET_GSO_TCPV4, 1000, 8, -1, 5000, out)).toThrow(RangeError);
    expect(() => native.segmentFrame!(b, 100, 100, VNET_GSO_TCPV4, 1000, 8, 7, 4096, out)).toThrow(RangeError); // length field past the prefix
    expect(() => native.segmentFrame!(b, 100, 100, VNET_GSO_TCPV4, 1000, 8, -1, 4096, new Int32Array(3))).toThrow(RangeError);
  });

  it('tshark finds every checksum of the native segments good', requires(hasTshark(), 'tshark is not installed (scripts/setup.sh installs it)'), () => {
    const cut = cases.flatMap((c) => {
      const { b, r1 } = bothWays(c);
      return segments(b, r1, c.pre);
    });
    const dir = mkdtempSync(join(tmpdir(), 'native-segment-'));
    let rows: string[][];
    try {
      const path = join(dir, 'segments.pcap');
      writePcap(path, cut);
      const opts = ['ip', 'udp', 'tcp'].flatMap((p) => ['-o', `${p}.check_checksum:TRUE`]);
      const o = execFileSync('tshark', ['-r', path, ...opts, '-T', 'fields', '-E', 'occurrence=a', '-e', 'ip.checksum.status', '-e', 'udp.checksum.status', '-e', 'tcp.checksum.status'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      rows = o.replace(/\n$/, '').split('\n').map((l) => l.split('\t'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(cut.length).toBeGreaterThan(80);
    expect(rows).toHaveLength(cut.length);
    for (const r of rows) {
      const statuses = r.flatMap((s) => s.split(',')).filter((x) => x !== '');
      expect(statuses.length).toBeGreaterThan(0);
      for (const s of statuses) expect(s).toBe('1'); // 1: good
    }
  });
});
