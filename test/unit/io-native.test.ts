// The native addon's calls that need no root: the checksum primitive against a trivial JS sum,
// UDP batches on loopback with per-datagram source/destination addresses, readiness callbacks
// (also inside a worker thread that exits without cleaning up), and the error conventions.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { Errno, errnoError, errnoName, checkCount } from '../../src/io/errno.js';
import { loadNative } from '../../src/io/native.js';
import { allocBatch, HEADROOM } from '../../src/io/types.js';

const n = loadNative();
const LO = 0x7f000001;
const LO2 = 0x7f000002;
const LO3 = 0x7f000003;

/** RFC 1071 the obvious way: big-endian words, odd byte padded, end-around carry. */
function refSum(b: Uint8Array, off: number, len: number, initial: number): number {
  let s = initial;
  for (let i = 0; i < len; i += 2) s += (b[off + i] << 8) | (i + 1 < len ? b[off + i + 1] : 0);
  while (s > 0xffff) s = (s % 0x10000) + Math.floor(s / 0x10000);
  return s;
}

describe('checksum', () => {
  it('equals the JS reference on random ranges and initial sums', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 0, maxLength: 2000 }),
        fc.nat(),
        fc.nat(),
        fc.integer({ min: 0, max: 0xffffffff }),
        (buf, a, b, initial) => {
          const off = buf.length ? a % (buf.length + 1) : 0;
          const len = (buf.length - off) ? b % (buf.length - off + 1) : 0;
          expect(n.checksum(buf, off, len, initial)).toBe(refSum(buf, off, len, initial));
        },
      ),
      { numRuns: 500 },
    );
  });

  it('handles the edge values: empty, all-ones, odd tail, a Buffer view and a shared slab', () => {
    expect(n.checksum(new Uint8Array(0), 0, 0, 0)).toBe(0);
    expect(n.checksum(new Uint8Array(0), 0, 0, 0x1234)).toBe(0x1234);
    expect(n.checksum(new Uint8Array(64).fill(0xff), 0, 64, 0)).toBe(0xffff);
    expect(n.checksum(Uint8Array.from([0x12]), 0, 1, 0)).toBe(0x1200);
    // A pooled Buffer does not start at offset 0 of its ArrayBuffer.
    const buf = Buffer.from([0, 0, 0x45, 0x00, 0x00, 0x1c]);
    expect(buf.byteOffset).toBeGreaterThanOrEqual(0);
    expect(n.checksum(buf, 2, 4, 0)).toBe(refSum(buf, 2, 4, 0));
    const shared = new Uint8Array(new SharedArrayBuffer(100)).fill(7);
    expect(n.checksum(shared, 1, 99, 5)).toBe(refSum(shared, 1, 99, 5));
  });

  it('sumChunks: every chunk equals checksum() of its range (odd offsets, strides and a short last chunk)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 5000 }), fc.nat(), fc.integer({ min: 1, max: 900 }), fc.integer({ min: 1, max: 40 }), (buf, a, stride, count) => {
        const first = a % buf.length;
        const chunk = Math.max(0, stride - (a % 7));
        const room = buf.length - first;
        const cnt = Math.max(1, Math.min(count, Math.floor(room / stride)));
        const last = Math.min(chunk, room - (cnt - 1) * stride) - (a % 3 === 0 ? 1 : 0);
        if (last < 0) return;
        const out = new Uint32Array(cnt);
        expect(n.sumChunks(buf, first, stride, chunk, cnt, last, out)).toBe(cnt);
        for (let k = 0; k < cnt; k++) expect(out[k]).toBe(refSum(buf, first + k * stride, k < cnt - 1 ? chunk : last, 0));
      }),
      { numRuns: 300 },
    );
    const b = new Uint8Array(100);
    expect(() => n.sumChunks(b, 90, 10, 10, 2, 5, new Uint32Array(2))).toThrow(RangeError);
    expect(() => n.sumChunks(b, 0, 10, 10, 3, 10, new Uint32Array(2))).toThrow(RangeError);
  });

  it('checks its bounds', () => {
    const b = new Uint8Array(10);
    expect(() => n.checksum(b, 5, 6, 0)).toThrow(RangeError);
    expect(() => n.checksum(b, -1, 2, 0)).toThrow(RangeError);
    expect(() => n.checksum(new Uint16Array(4) as unknown as Uint8Array, 0, 2, 0)).toThrow(TypeError);
  });
});

describe('errno', () => {
  it('names errno values either sign and builds Node-like errors', () => {
    expect(errnoName(-Errno.EAGAIN)).toBe('EAGAIN');
    expect(errnoName(Errno.EBADF)).toBe('EBADF');
    expect(errnoName(-99999)).toBe('E99999');
    const e = errnoError(-Errno.EPERM, 'tapOpen tap0', 'ioctl');
    expect(e).toMatchObject({ code: 'EPERM', errno: -Errno.EPERM, syscall: 'ioctl' });
    expect(e.message).toBe('tapOpen tap0: EPERM');
    expect(checkCount(3, 'x')).toBe(3);
    expect(() => checkCount(-Errno.EIO, 'x')).toThrow(/EIO/);
  });
});

describe('UDP batches on loopback', () => {
  const fds: number[] = [];
  const open = (addr: number): number => {
    const fd = n.udpOpen(addr, 0, { rcvbuf: 1 << 20 });
    fds.push(fd);
    return fd;
  };
  afterEach(() => {
    while (fds.length) n.close(fds.pop() as number);
  });

  async function recvAll(fd: number, b: ReturnType<typeof allocBatch>, src: Uint32Array, dst: Uint32Array, want: number, sport?: Uint16Array): Promise<number> {
    for (let i = 0; i < 100; i++) {
      const got = n.recvBatch(fd, b.slab, b.start, b.len, b.slotSize, HEADROOM, src, dst, Math.min(want, b.capacity), sport);
      if (got !== 0) return got;
      await new Promise((r) => setTimeout(r, 10));
    }
    return 0;
  }

  it('sends a batch with chosen source addresses and receives it in one call with both addresses', async () => {
    const rx = open(LO);
    const tx = open(0);
    const port = n.sockName(rx).port;
    const txPort = n.sockName(tx).port;
    const b = allocBatch(4, 512);
    for (let i = 0; i < 4; i++) {
      b.len[i] = 20 + i;
      b.slab.fill(i + 1, b.start[i], b.start[i] + b.len[i]);
    }
    // Send slots in the order 3,1,2,0; datagram k from srcAddr[k] (0: the route's choice).
    const idx = Int32Array.from([3, 1, 2, 0]);
    const srcAddr = Uint32Array.from([LO2, 0, LO3, LO2]);
    const dstAddr = Uint32Array.from([LO, LO, LO, LO]);
    expect(n.sendBatch(tx, b.slab, b.start, b.len, idx, srcAddr, dstAddr, port, 4)).toBe(4);

    const r = allocBatch(8, 512);
    r.slab.fill(0xa5);
    const src = new Uint32Array(8);
    const dst = new Uint32Array(8);
    const sport = new Uint16Array(8);
    const got = await recvAll(rx, r, src, dst, 8, sport);
    expect(got).toBe(4);
    for (let k = 0; k < 4; k++) {
      const slot = idx[k];
      expect(r.start[k]).toBe(k * 512 + HEADROOM);
      expect(r.len[k]).toBe(20 + slot);
      expect(r.slab[r.start[k]]).toBe(slot + 1);
      expect(r.slab[r.start[k] - 1]).toBe(0xa5); // nothing written into the headroom
      expect(src[k]).toBe(srcAddr[k] || LO);
      expect(dst[k]).toBe(LO);
      expect(sport[k]).toBe(txPort);
    }
    expect(n.recvBatch(rx, r.slab, r.start, r.len, r.slotSize, HEADROOM, src, dst, 8)).toBe(0);
  });

  it('skips a datagram the kernel refuses and still sends the rest', () => {
    const tx = open(0);
    const rx = open(LO);
    const port = n.sockName(rx).port;
    const b = allocBatch(3, 256);
    b.len.fill(10);
    // A source address this host does not own is refused (EINVAL) for that datagram only.
    const sent = n.sendBatch(tx, b.slab, b.start, b.len, Int32Array.from([0, 1, 2]), Uint32Array.from([0, 0x01020304, 0]), Uint32Array.from([LO, LO, LO]), port, 3);
    expect(sent).toBe(2);
    const only = n.sendBatch(tx, b.slab, b.start, b.len, Int32Array.from([0]), Uint32Array.from([0x01020304]), Uint32Array.from([LO]), port, 1);
    expect(only).toBeLessThan(0);
    expect(errnoName(only)).toMatch(/^E/);
  });

  it('reports a datagram larger than its slot as length 0', async () => {
    const rx = open(LO);
    const tx = open(0);
    const port = n.sockName(rx).port;
    const b = allocBatch(1, 2048);
    b.len[0] = 1000;
    expect(n.sendBatch(tx, b.slab, b.start, b.len, Int32Array.from([0]), new Uint32Array(1), Uint32Array.from([LO]), port, 1)).toBe(1);
    const r = allocBatch(1, HEADROOM + 100);
    const got = await recvAll(rx, r, new Uint32Array(1), new Uint32Array(1), 1);
    expect(got).toBe(1);
    expect(r.len[0]).toBe(0);
  });

  it('splits one send into datagrams of gsoSize with UDP_SEGMENT', async () => {
    const rx = open(LO);
    const tx = open(0);
    const port = n.sockName(rx).port;
    const b = allocBatch(1, 4096);
    b.len[0] = 2500;
    for (let i = 0; i < 2500; i++) b.slab[b.start[0] + i] = i & 0xff;
    expect(n.sendBatch(tx, b.slab, b.start, b.len, Int32Array.from([0]), new Uint32Array(1), Uint32Array.from([LO]), port, 1, 1000)).toBe(1);
    const r = allocBatch(8, 2048);
    const src = new Uint32Array(8);
    const dst = new Uint32Array(8);
    let total = 0;
    const lens: number[] = [];
    for (let tries = 0; tries < 5 && total < 3; tries++) {
      const got = await recvAll(rx, r, src, dst, 8);
      for (let i = 0; i < got; i++) lens.push(r.len[i]);
      total += got;
    }
    expect(lens).toEqual([1000, 1000, 500]);
  });

  it('sendMsgs gathers a message from ranges apart in the slab (parts) and cuts it with UDP_SEGMENT', async () => {
    const rx = open(LO);
    const tx = open(0);
    const port = n.sockName(rx).port;
    const b = allocBatch(4, 1024);
    // four datagrams, each its own value; message 0 = slots 2, 0, 3 (in that order), message 1 = slot 1
    const lens = [500, 300, 500, 200];
    for (let i = 0; i < 4; i++) b.slab.fill(i + 1, b.start[i], b.start[i] + lens[i]);
    const start = Int32Array.from([b.start[2], b.start[0], b.start[3], b.start[1]]);
    const len = Int32Array.from([500, 500, 200, 300]);
    const fdsArr = Int32Array.from([tx, tx]);
    const to = Uint32Array.from([LO, LO]);
    const from = new Uint32Array(2);
    const gso = Uint16Array.from([500, 0]);
    expect(n.sendMsgs(fdsArr, b.slab, start, len, gso, from, to, port, 2, Uint16Array.from([3, 1]))).toBe(2);
    const r = allocBatch(8, 2048);
    const got: number[][] = [];
    for (let tries = 0; tries < 5 && got.length < 4; tries++) {
      const k = await recvAll(rx, r, new Uint32Array(8), new Uint32Array(8), 8);
      for (let i = 0; i < k; i++) got.push([r.len[i], r.slab[r.start[i]], r.slab[r.start[i] + r.len[i] - 1]]);
    }
    expect(got).toEqual([
      [500, 3, 3],
      [500, 1, 1],
      [200, 4, 4],
      [300, 2, 2],
    ]);
    // a message of no part, or more ranges than start/len hold: RangeError, nothing sent
    expect(() => n.sendMsgs(fdsArr, b.slab, start, len, gso, from, to, port, 2, Uint16Array.from([0, 1]))).toThrow(RangeError);
    expect(() => n.sendMsgs(fdsArr, b.slab, start, len, gso, from, to, port, 2, Uint16Array.from([3, 2]))).toThrow(/ranges exceed/);
  });

  it('calls back (with an object receiver) while readable, and stops on pollStop', async () => {
    const rx = open(LO);
    const tx = open(0);
    const port = n.sockName(rx).port;
    const b = allocBatch(4, 256);
    b.len.fill(8);
    const src = new Uint32Array(4);
    const dst = new Uint32Array(4);
    let calls = 0;
    let frames = 0;
    let receiverIsObject = false;
    const done = new Promise<void>((resolve) => {
      const h = n.pollStart(rx, function (this: unknown) {
        calls++;
        receiverIsObject = typeof this === 'object' && this !== null;
        frames += n.recvBatch(rx, b.slab, b.start, b.len, b.slotSize, HEADROOM, src, dst, 4);
        if (frames >= 3) {
          n.pollStop(h);
          n.pollStop(h); // idempotent
          resolve();
        }
      });
    });
    expect(n.sendBatch(tx, b.slab, b.start, b.len, Int32Array.from([0, 1, 2]), new Uint32Array(3), Uint32Array.from([LO, LO, LO]), port, 3)).toBe(3);
    await done;
    expect(frames).toBe(3);
    expect(receiverIsObject).toBe(true);
    const before = calls;
    n.sendBatch(tx, b.slab, b.start, b.len, Int32Array.from([0]), new Uint32Array(1), Uint32Array.from([LO]), port, 1);
    await new Promise((r) => setTimeout(r, 50));
    expect(calls).toBe(before);
  });
});

describe('errors', () => {
  it('batch calls on a closed fd return -EBADF', () => {
    const fd = n.udpOpen(LO, 0, {});
    expect(n.close(fd)).toBe(0);
    const b = allocBatch(2, 256);
    const a = new Uint32Array(2);
    expect(n.recvBatch(fd, b.slab, b.start, b.len, b.slotSize, HEADROOM, a, a, 2)).toBe(-Errno.EBADF);
    expect(n.readBatch(fd, b.slab, b.start, b.len, b.slotSize, HEADROOM, 2)).toBe(-Errno.EBADF);
    expect(n.packetReadBatch(fd, b.slab, b.start, b.len, b.slotSize, HEADROOM, 2)).toBe(-Errno.EBADF);
    b.len.fill(4);
    expect(n.writeBatch(fd, b.slab, b.start, b.len, Int32Array.from([0]), 1)).toBe(-Errno.EBADF);
    expect(n.sendBatch(fd, b.slab, b.start, b.len, Int32Array.from([0]), a, Uint32Array.from([LO, LO]), 9, 1)).toBe(-Errno.EBADF);
    expect(n.close(fd)).toBe(-Errno.EBADF);
  });

  it('setup calls throw an Error with the errno name as code', () => {
    const fd = n.udpOpen(LO, 0, {});
    try {
      const port = n.sockName(fd).port;
      expect(() => n.udpOpen(LO, port, {})).toThrow(expect.objectContaining({ code: 'EADDRINUSE', syscall: 'bind' }));
      expect(() => n.udpOpen(LO, port, {})).toThrow(/udpOpen 127\.0\.0\.1:\d+: bind/);
    } finally {
      n.close(fd);
    }
  });

  it('slots outside the slab are a RangeError, not a write past it', () => {
    const b = allocBatch(2, 256);
    const a = new Uint32Array(4);
    // max larger than the slab holds
    expect(() => n.readBatch(0, b.slab, b.start, b.len, 256, HEADROOM, 3)).toThrow(RangeError);
    expect(() => n.recvBatch(0, b.slab, b.start, b.len, 256, HEADROOM, a, a, 3)).toThrow(RangeError);
    expect(() => n.readBatch(0, b.slab, b.start, b.len, 256, 256, 1)).toThrow(RangeError);
    expect(() => n.packetReadBatch(0, b.slab, b.start, b.len, 256, HEADROOM, 3)).toThrow(RangeError);
    // a tag put back goes 4 bytes in front of the slot's frame: less headroom is refused
    expect(() => n.packetReadBatch(0, b.slab, b.start, b.len, 256, 3, 1)).toThrow(RangeError);
    b.start[1] = 500;
    b.len[1] = 100;
    expect(() => n.writeBatch(0, b.slab, b.start, b.len, Int32Array.from([1]), 1)).toThrow(RangeError);
    expect(() => n.sendBatch(0, b.slab, b.start, b.len, Int32Array.from([7]), a, a, 1, 1)).toThrow(RangeError);
    expect(() => n.writeBatch(0, b.slab, b.start, b.len, Int32Array.from([0]), 1, HEADROOM + 1)).toThrow(RangeError);
  });
});

describe('worker threads', () => {
  it('polls inside a worker, and a worker that exits while polling does not take the process down', async () => {
    const addonPath = fileURLToPath(new URL('../../native-bindings/build/Release/switchyard_native.node', import.meta.url));
    // Plain JS in the worker (no TypeScript loader there); it reports the frames it got, then
    // exits with its poller still running, which the addon's env cleanup hook must close.
    const code = `
      const { parentPort, workerData } = require('node:worker_threads');
      const n = require(workerData.addonPath);
      const rx = n.udpOpen(0x7f000001, 0, {});
      const slab = new Uint8Array(4 * 256), start = new Int32Array(4), len = new Int32Array(4);
      const a = new Uint32Array(4), d = new Uint32Array(4);
      n.pollStart(rx, function () {
        const got = n.recvBatch(rx, slab, start, len, 256, 128, a, d, 4);
        parentPort.postMessage({ got, first: slab[start[0]] });
        setTimeout(() => process.exit(0), 10);
      });
      parentPort.postMessage({ port: n.sockName(rx).port });
    `;
    const w = new Worker(code, { eval: true, workerData: { addonPath } });
    const messages: { port?: number; got?: number; first?: number }[] = [];
    const exited = new Promise<number>((resolve, reject) => {
      w.on('error', reject);
      w.on('exit', resolve);
    });
    const port = await new Promise<number>((resolve) => {
      w.on('message', (m: { port?: number }) => {
        messages.push(m);
        if (m.port) resolve(m.port);
      });
    });
    const tx = n.udpOpen(0, 0, {});
    const b = allocBatch(1, 256);
    b.len[0] = 4;
    b.slab[b.start[0]] = 0x5a;
    expect(n.sendBatch(tx, b.slab, b.start, b.len, Int32Array.from([0]), new Uint32Array(1), Uint32Array.from([LO]), port, 1)).toBe(1);
    n.close(tx);
    expect(await exited).toBe(0);
    expect(messages.find((m) => m.got !== undefined)).toEqual({ got: 1, first: 0x5a });
    // The main thread's addon instance still works.
    expect(createRequire(import.meta.url)(addonPath)).toBe(n);
    expect(n.checksum(Uint8Array.from([1, 2]), 0, 2, 0)).toBe(0x0102);
  });
});
