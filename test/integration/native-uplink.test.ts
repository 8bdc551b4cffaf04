// The underlay sockets for real (root: raw sockets), on loopback only: VXLAN received on a UDP
// socket and sent through a send-only raw IPPROTO_UDP socket, NVGRE on a raw protocol-47 socket.
// Checks that frames start at the UDP / GRE header at HEADROOM of their slot, that the outer
// addresses come through both ways (source chosen per packet), and the failure accounting.
import { afterEach, describe, expect, it } from 'vitest';
import { loadNative } from '../../src/io/native.js';
import { allocBatch, HEADROOM, type FrameBatch } from '../../src/io/types.js';
import { ipv4ToNumber, numberToIpv4, NvgreUplink, VxlanUplink } from '../../src/io/uplink.js';
import { ROOT_ONLY } from '../helpers/prerequisites.js';

const LO = ipv4ToNumber('127.0.0.1');
const LO2 = ipv4ToNumber('127.0.0.2');
const LO3 = ipv4ToNumber('127.0.0.3');
const NOT_OURS = ipv4ToNumber('192.0.2.1'); // TEST-NET-1: only ever a refused source, never a destination

/** Reads until `want` frames arrived (poll-driven), or fails after 2 s. */
function readAll(u: VxlanUplink | NvgreUplink, b: FrameBatch, src: Uint32Array, dst: Uint32Array, want: number): Promise<{ frames: Uint8Array[]; src: number[]; dst: number[]; starts: number[] }> {
  const out = { frames: [] as Uint8Array[], src: [] as number[], dst: [] as number[], starts: [] as number[] };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      u.stopPolling();
      reject(new Error(`got ${out.frames.length} of ${want} frames`));
    }, 2000);
    u.onReadable(() => {
      const got = u.read(b, src, dst);
      for (let i = 0; i < got; i++) {
        out.frames.push(b.slab.slice(b.start[i], b.start[i] + b.len[i]));
        out.src.push(src[i]);
        out.dst.push(dst[i]);
        out.starts.push(b.start[i] - i * b.slotSize);
      }
      if (out.frames.length >= want) {
        clearTimeout(timer);
        u.stopPolling();
        resolve(out);
      }
    });
  });
}

describe('addresses', () => {
  it('converts IPv4 both ways and rejects junk', () => {
    expect(ipv4ToNumber('10.1.2.3')).toBe(0x0a010203);
    expect(ipv4ToNumber('255.255.255.255')).toBe(0xffffffff);
    expect(numberToIpv4(0xc0a80001)).toBe('192.168.0.1');
    expect(() => ipv4ToNumber('1.2.3.256')).toThrow(RangeError);
    expect(() => ipv4ToNumber('1.2.3')).toThrow(RangeError);
    expect(() => ipv4ToNumber(-1)).toThrow(RangeError);
  });
});

describe('VXLAN uplink on loopback', ROOT_ONLY, () => {
  const open: (VxlanUplink | NvgreUplink)[] = [];
  afterEach(() => {
    while (open.length) open.pop()?.close();
  });

  it('sends UDP+VXLAN frames from chosen sources and reads them back starting at the UDP header', async () => {
    const u = VxlanUplink.open({ localAddr: '127.0.0.1', port: 0 });
    open.push(u);
    expect(u.port).toBeGreaterThan(0);
    expect(u.kind).toBe('vxlan');

    const tx = allocBatch(8, 2048);
    const count = 5;
    for (let k = 0; k < count; k++) {
      const s = tx.start[k];
      const payload = 8 + 20 + k; // VXLAN header + some inner bytes
      tx.view.setUint16(s, 40000 + k); // source port: the inner flow's hash
      tx.view.setUint16(s + 2, u.port);
      tx.view.setUint16(s + 4, 8 + payload);
      tx.view.setUint16(s + 6, 0); // no UDP checksum (allowed for IPv4)
      tx.view.setUint32(s + 8, 0x08000000); // VXLAN I flag
      tx.view.setUint32(s + 12, (5000 + k) << 8); // VNI
      tx.slab.fill(0xc0 + k, s + 16, s + 8 + payload);
      tx.len[k] = 8 + payload;
    }
    const srcAddr = Uint32Array.from([LO2, 0, LO3, LO2, 0]);
    const dstAddr = new Uint32Array(count).fill(LO);
    expect(u.write(tx, Int32Array.from([0, 1, 2, 3, 4]), srcAddr, dstAddr, count)).toBe(count);

    const rx = allocBatch(16, 2048);
    const got = await readAll(u, rx, new Uint32Array(16), new Uint32Array(16), count);
    for (let k = 0; k < count; k++) {
      const f = got.frames[k];
      expect(got.starts[k]).toBe(HEADROOM);
      expect(Array.from(f)).toEqual(Array.from(tx.slab.subarray(tx.start[k], tx.start[k] + tx.len[k])));
      expect(got.src[k]).toBe(srcAddr[k] || LO);
      expect(got.dst[k]).toBe(LO);
    }
    // The send-only raw socket never queues what it sees.
    const n = loadNative();
    const a = new Uint32Array(4);
    expect(n.recvBatch(u.txFd, rx.slab, rx.start, rx.len, rx.slotSize, HEADROOM, a, a, 4)).toBe(0);
  });

  it('counts a datagram the kernel refuses and still sends the others', async () => {
    const u = VxlanUplink.open({ localAddr: LO, port: 0 });
    open.push(u);
    const tx = allocBatch(3, 512);
    for (let k = 0; k < 3; k++) {
      const s = tx.start[k];
      tx.view.setUint16(s, 1234);
      tx.view.setUint16(s + 2, u.port);
      tx.view.setUint16(s + 4, 16);
      tx.view.setUint16(s + 6, 0);
      tx.len[k] = 16;
    }
    const sent = u.write(tx, Int32Array.from([0, 1, 2]), Uint32Array.from([0, NOT_OURS, 0]), new Uint32Array(3).fill(LO), 3);
    expect(sent).toBe(2);
    expect(u.write(tx, Int32Array.from([1]), Uint32Array.from([NOT_OURS]), Uint32Array.from([LO]), 1)).toBe(0);
    expect(u.writeErrors).toBe(1);
    expect(u.lastWriteError?.code).toMatch(/^E[A-Z]+$/);
    const got = await readAll(u, allocBatch(4, 512), new Uint32Array(4), new Uint32Array(4), 2);
    expect(got.frames).toHaveLength(2);
  });

  it('refuses a second uplink on the same address and port with EADDRINUSE', () => {
    const u = VxlanUplink.open({ localAddr: LO, port: 0 });
    open.push(u);
    expect(() => VxlanUplink.open({ localAddr: LO, port: u.port })).toThrow(expect.objectContaining({ code: 'EADDRINUSE' }));
  });

  it('reading after close throws an Error with code EBADF', () => {
    const u = VxlanUplink.open({ localAddr: LO, port: 0 });
    u.close();
    u.close();
    const b = allocBatch(2, 512);
    expect(() => u.read(b, new Uint32Array(2), new Uint32Array(2))).toThrow(expect.objectContaining({ code: 'EBADF' }));
  });
});

describe('NVGRE uplink on loopback', ROOT_ONLY, () => {
  it('sends GRE frames and reads them back with the outer IPv4 header stripped', async () => {
    const u = NvgreUplink.open({ localAddr: '127.0.0.1' });
    try {
      expect(u.rxFd).toBe(u.txFd);
      const tx = allocBatch(4, 2048);
      for (let k = 0; k < 4; k++) {
        const s = tx.start[k];
        tx.view.setUint32(s, 0x20006558); // K bit, Transparent Ethernet Bridging
        tx.view.setUint32(s + 4, ((6000 + k) << 8) | k); // VSID << 8 | FlowID
        tx.slab.fill(0x10 + k, s + 8, s + 8 + 60);
        tx.len[k] = 8 + 60 + k;
      }
      const srcAddr = Uint32Array.from([LO3, 0, LO2, LO3]);
      expect(u.write(tx, Int32Array.from([0, 1, 2, 3]), srcAddr, new Uint32Array(4).fill(LO), 4)).toBe(4);
      const rx = allocBatch(8, 2048);
      const got = await readAll(u, rx, new Uint32Array(8), new Uint32Array(8), 4);
      for (let k = 0; k < 4; k++) {
        expect(got.starts[k]).toBe(HEADROOM); // an option-less IPv4 header was skipped
        expect(Array.from(got.frames[k])).toEqual(Array.from(tx.slab.subarray(tx.start[k], tx.start[k] + tx.len[k])));
        expect(got.src[k]).toBe(srcAddr[k] || LO);
        expect(got.dst[k]).toBe(LO);
      }
    } finally {
      u.close();
    }
  });

  it('raw sockets bound to one address do not see packets for another', async () => {
    const n = loadNative();
    const other = n.rawOpen(47, LO2, {});
    const u = NvgreUplink.open({ localAddr: LO });
    try {
      const tx = allocBatch(1, 512);
      tx.view.setUint32(tx.start[0], 0x20006558);
      tx.len[0] = 8;
      expect(u.write(tx, Int32Array.of(0), Uint32Array.of(0), Uint32Array.of(LO), 1)).toBe(1);
      await readAll(u, allocBatch(2, 512), new Uint32Array(2), new Uint32Array(2), 1);
      const b = allocBatch(2, 512);
      const a = new Uint32Array(2);
      expect(n.recvBatch(other, b.slab, b.start, b.len, b.slotSize, HEADROOM, a, a, 2)).toBe(0);
    } finally {
      u.close();
      n.close(other);
    }
  });
});
