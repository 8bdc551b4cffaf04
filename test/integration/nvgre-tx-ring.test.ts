// The NVGRE AF_PACKET TX ring (io/nvgre-tx-ring.ts, native txring.cc/netlink.cc) between two
// namespaces of its own joined by a veth pair: what arrives on the wire (captured with
// `switchyard capture`, libpcap) is checked field by field: the next hop's MAC, a valid outer IPv4
// header (checksum computed here independently), the GRE packet byte for byte, and the raw
// socket fallback for a peer without a neighbour entry and for a packet past the device MTU.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCapture } from '../../src/lab/capture.js';
import { run, runIn } from '../../src/lab/run.js';
import { readPcapFrames } from '../helpers/pcap.js';
import { ROOT_ONLY } from '../helpers/prerequisites.js';

const SENDER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'nvgre-ring-send.ts');
const TAG = `nvr${process.pid % 100000}${randomBytes(2).toString('hex')}`;
const A = `${TAG}a`;
const B = `${TAG}b`;
const DEV_A = `${TAG}x`;
const DEV_B = `${TAG}y`;
const GRE = '20006558' + '000fa000'; // key present, TEB, VSID 4000
const INNER = 'aabbccddeeff' + '001122334455' + '0800' + '45000014000100004011' + '0000' + '0a000001' + '0a000002';

function sum16(b: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < b.length; i += 2) s += (b[i]! << 8) | (b[i + 1] ?? 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

async function send(mode: string, dst: string, rounds: number, hex: string[]): Promise<{ sent: number; ring: number; full: number; fallback: number; unknown: number; error: string | null }> {
  const r = await runIn(A, 'env', [`NVGRE_TX_MODE=${mode}`, process.execPath, '--import', 'tsx', SENDER, '10.98.0.1', dst, String(rounds), ...hex], { timeoutMs: 60_000 });
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as never;
}

async function ipCounters(): Promise<{ hdrErrors: number; unknownProtos: number }> {
  const t = (await runIn(B, 'nstat', ['-az', 'IpInHdrErrors', 'IpInUnknownProtos'])).stdout;
  const get = (k: string): number => Number(new RegExp(`${k}\\s+(\\d+)`).exec(t)?.[1] ?? NaN);
  return { hdrErrors: get('IpInHdrErrors'), unknownProtos: get('IpInUnknownProtos') };
}

describe('NVGRE TX ring', ROOT_ONLY, () => {
  let dir = '';
  let macB = '';
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), `${TAG}-`));
    await run('ip', ['netns', 'add', A]);
    await run('ip', ['netns', 'add', B]);
    await run('ip', ['link', 'add', DEV_A, 'netns', A, 'type', 'veth', 'peer', 'name', DEV_B, 'netns', B]);
    await run('ip', ['-n', A, 'addr', 'add', '10.98.0.1/24', 'dev', DEV_A]);
    await run('ip', ['-n', B, 'addr', 'add', '10.98.0.2/24', 'dev', DEV_B]);
    await run('ip', ['-n', A, 'link', 'set', DEV_A, 'up']);
    await run('ip', ['-n', B, 'link', 'set', DEV_B, 'up']);
    macB = (JSON.parse((await run('ip', ['-n', B, '-j', 'link', 'show', DEV_B])).stdout) as { address: string }[])[0]!.address;
  });
  afterAll(async () => {
    await run('ip', ['netns', 'del', A], { allowFail: true });
    await run('ip', ['netns', 'del', B], { allowFail: true });
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it.each(['ring', 'mmsg'])('%s: sends whole frames to the neighbour MAC with a valid outer IPv4 header and the GRE packet unchanged', async (mode) => {
    const file = path.join(dir, `${mode}.pcap`);
    const before = await ipCounters();
    const cap = await startCapture(B, DEV_B, 'ip proto 47', file);
    const pkts = [GRE + INNER, GRE + INNER.slice(0, -8) + '0a000003'];
    let res;
    try {
      res = await send(mode, '10.98.0.2', 6, pkts);
    } finally {
      await cap.stop();
    }
    expect(res.sent).toBe(12);
    // the first round goes raw while the next hop resolves; later rounds take the ring
    expect(res.ring).toBeGreaterThanOrEqual(4);
    const frames = readPcapFrames(file);
    expect(frames.length).toBe(12);
    const mac = Array.from(frames.at(-1)!.subarray(0, 6), (x) => x.toString(16).padStart(2, '0')).join(':');
    expect(mac).toBe(macB);
    for (const [i, f] of frames.entries()) {
      const ip = f.subarray(14, 34);
      expect(f[12]! << 8 | f[13]!).toBe(0x0800);
      expect(ip[0]).toBe(0x45);
      expect(ip[9]).toBe(47);
      expect((ip[2]! << 8) | ip[3]!).toBe(f.length - 14);
      expect(sum16(ip)).toBe(0xffff); // header checksum right
      expect(Array.from(ip.subarray(12, 20))).toEqual([10, 98, 0, 1, 10, 98, 0, 2]);
      expect(Buffer.from(f.subarray(34)).toString('hex')).toBe(pkts[i % 2]);
    }
    // B's stack took them as IPv4 with a good header (no raw socket there: unknown protocol)
    const after = await ipCounters();
    expect(after.hdrErrors - before.hdrErrors).toBe(0);
    expect(after.unknownProtos - before.unknownProtos).toBe(12);
  });

  it.each(['ring', 'mmsg'])('%s: sends through the raw socket to a peer with no neighbour entry, and a packet past the MTU', async (mode) => {
    // 10.98.0.9 answers no ARP: its entry stays INCOMPLETE/FAILED, so the ring never takes it
    const r1 = await send(mode, '10.98.0.9', 3, [GRE + INNER]);
    expect(r1.ring).toBe(0);
    expect(r1.fallback).toBeGreaterThanOrEqual(1);
    // 1500 - 20 + 2 bytes of GRE packet: the raw socket fragments it, the ring must not take it
    const big = GRE + INNER + '00'.repeat(1482 - (GRE + INNER).length / 2);
    const r2 = await send(mode, '10.98.0.2', 3, [big]);
    expect(r2.sent).toBe(3);
    expect(r2.ring).toBe(0);
    expect(r2.fallback).toBeGreaterThanOrEqual(2);
  });
});
