/**
 * The offload work per 64 KB TCP super-frame, in memory (no devices): segmentFrame (TSO, MSS 1398,
 * VXLAN prefix) and coalesceTcp (GRO), with one native checksum call per segment (`per-segment`)
 * and with one native sumChunks call per frame (`chunked`, what the forwarder uses).
 *   npx tsx bench/offload-micro.ts [iterations]
 */
import { loadNative } from '../src/io/native.js';
import { CoalesceResult, SegResult, chunkSumOf, coalesceTcp, segmentFrame, type ChunkSumFn, type SumFn } from '../src/vfp/offload.js';
import { writeU16, writeU32 } from '../src/wire/bytes.js';
import { VNET_GSO_TCPV4 } from '../src/wire/vnethdr.js';

const n = loadNative();
const sum: SumFn = (b, off, len, init) => n.checksum(b, off, len, init);
const native: ChunkSumFn = (b, first, stride, chunkLen, count, lastLen, out) => void n.sumChunks(b, first, stride, chunkLen, count, lastLen, out);
const perSeg = chunkSumOf(sum);
const F = 512;
const PAY = 65536 - 66 - 14;

function frame(b: Uint8Array): number {
  const l3 = F + 14;
  writeU16(b, F + 12, 0x0800);
  b[l3] = 0x45;
  writeU16(b, l3 + 2, 20 + 32 + PAY);
  writeU16(b, l3 + 6, 0x4000);
  b[l3 + 8] = 64;
  b[l3 + 9] = 6;
  writeU32(b, l3 + 12, 0x0a010116);
  writeU32(b, l3 + 16, 0x0a01010b);
  const l4 = l3 + 20;
  writeU16(b, l4, 40000);
  writeU16(b, l4 + 2, 5201);
  b[l4 + 12] = 8 << 4;
  b[l4 + 13] = 0x18;
  for (let i = 0; i < PAY; i++) b[l4 + 32 + i] = (i * 7 + 3) & 0xff;
  return 14 + 20 + 32 + PAY;
}

const iters = Number(process.argv[2] ?? 3000);
const tmpl = new Uint8Array(65536 + 16384 + F);
const len = frame(tmpl);
const buf = tmpl.slice();
const seg = new SegResult();
const co = new CoalesceResult();

function run(chunks: ChunkSumFn): { segUs: number; coUs: number } {
  let segNs = 0n;
  let coNs = 0n;
  for (let i = 0; i < iters; i++) {
    buf.set(tmpl);
    const t0 = process.hrtime.bigint();
    if (!segmentFrame(buf, F, len, VNET_GSO_TCPV4, 1398, 8, -1, buf.length, sum, seg, chunks)) throw new Error('segmentFrame refused');
    const t1 = process.hrtime.bigint();
    if (!coalesceTcp(buf, F - 8, (seg.n - 1) * seg.stride + seg.lastLen, seg.stride, 8, sum, co, chunks)) throw new Error('coalesceTcp refused');
    const t2 = process.hrtime.bigint();
    segNs += t1 - t0;
    coNs += t2 - t1;
  }
  return { segUs: Number(segNs) / iters / 1000, coUs: Number(coNs) / iters / 1000 };
}

for (let round = 0; round < 3; round++) {
  for (const [name, c] of [['per-segment', perSeg], ['chunked', native]] as const) {
    const r = run(c);
    console.log(`${name.padEnd(12)} segmentFrame ${r.segUs.toFixed(1).padStart(6)} us  coalesceTcp ${r.coUs.toFixed(1).padStart(6)} us  per 64 KB frame (${seg.n} segments)`);
  }
}
