// The io_uring TAP calls (native-bindings/src/uring.cc, io/uring.ts) without root: an eventfd
// stands in for a TAP queue (a read takes its 8-byte count whole, a write adds to it, and it is
// empty until written: EAGAIN, as a TAP queue with nothing queued). The TapQueue fallback to
// read()/write() is driven by a ring that refuses (EOPNOTSUPP).
import { describe, expect, it } from 'vitest';
import { Errno } from '../../src/io/errno.js';
import { loadNative } from '../../src/io/native.js';
import { TapQueue } from '../../src/io/tap.js';
import { allocBatch, HEADROOM } from '../../src/io/types.js';
import { TapRing, UringStat, threadTapRing, uringUnavailable } from '../../src/io/uring.js';
import { resolveTapIo, DEFAULT_TAP_IO } from '../../src/agent/tap-io.js';
import type { Logger } from '../../src/agent/logger.js';

const n = loadNative();

/** Little-endian 64-bit count at slab[off..off+8). */
const count = (slab: Uint8Array, off: number): number => Number(new DataView(slab.buffer, slab.byteOffset + off, 8).getBigUint64(0, true));

function setCount(slab: Uint8Array, off: number, v: number): void {
  new DataView(slab.buffer, slab.byteOffset + off, 8).setBigUint64(0, BigInt(v), true);
}

describe('io_uring batches', () => {
  it('is available on this machine (CONFIG_IO_URING=y)', () => {
    expect(uringUnavailable()).toBeUndefined();
    const r = threadTapRing();
    expect(r).toBeInstanceOf(TapRing);
    expect(threadTapRing()).toBe(r); // one per thread
  });

  it('reads and writes like readBatch/writeBatch, one enter per round, and counts', () => {
    const ring = TapRing.create();
    const fd = n.eventfdCreate();
    try {
      const b = allocBatch(8, 256);
      // empty: 0 frames, no error (every read of the round was -EAGAIN)
      expect(ring.read(fd, b.slab, b.start, b.len, b.slotSize, HEADROOM, b.capacity, 4)).toBe(0);
      expect(ring.stats[UringStat.Enters]).toBe(1);
      // three writes of 8-byte counts in one batch: the eventfd adds them up
      for (let i = 0; i < 3; i++) {
        setCount(b.slab, b.start[i], i + 1);
        b.len[i] = 8;
      }
      expect(ring.write(fd, b.slab, b.start, b.len, Int32Array.of(0, 1, 2), 3, 0)).toBe(3);
      expect(ring.stats[UringStat.TxFrames]).toBe(3);
      expect(ring.stats[UringStat.Enters]).toBe(2);
      // one read takes the sum; the rest of the round is empty, so the batch ends there
      b.start.fill(-1);
      expect(ring.read(fd, b.slab, b.start, b.len, b.slotSize, HEADROOM, b.capacity, 4)).toBe(1);
      expect(b.start[0]).toBe(HEADROOM);
      expect(b.len[0]).toBe(8);
      expect(count(b.slab, b.start[0])).toBe(6);
      expect(ring.stats[UringStat.RxFrames]).toBe(1);
      expect(ring.stats[UringStat.Enters]).toBe(3);
      // a write the kernel refuses (an eventfd takes exactly 8 bytes: EINVAL) is not counted and,
      // with nothing sent, comes back as -errno; the good one of a mixed batch still goes
      for (let i = 0; i < b.capacity; i++) b.start[i] = i * b.slotSize + HEADROOM;
      b.len[0] = 8;
      b.len[1] = 4;
      expect(ring.write(fd, b.slab, b.start, b.len, Int32Array.of(1), 1, 0)).toBe(-Errno.EINVAL);
      expect(ring.write(fd, b.slab, b.start, b.len, Int32Array.of(1, 0), 2, 0)).toBe(1);
    } finally {
      n.close(fd);
      ring.close();
    }
  });

  it('checks slots before it queues anything, and refuses an unknown ring', () => {
    const ring = TapRing.create();
    const fd = n.eventfdCreate();
    try {
      const b = allocBatch(4, 256);
      expect(() => ring.read(fd, b.slab, b.start, b.len, b.slotSize, HEADROOM, 5, 4)).toThrow(RangeError);
      expect(() => ring.write(fd, b.slab, b.start, b.len, Int32Array.of(9), 1, 0)).toThrow(RangeError);
      // nothing was queued by the refused calls: the next batch is whole
      setCount(b.slab, b.start[0], 5);
      b.len[0] = 8;
      expect(ring.write(fd, b.slab, b.start, b.len, Int32Array.of(0), 1, 0)).toBe(1);
      expect(ring.read(fd, b.slab, b.start, b.len, b.slotSize, HEADROOM, 4, 4)).toBe(1);
      expect(count(b.slab, b.start[0])).toBe(5);
    } finally {
      n.close(fd);
      ring.close();
    }
    expect(() => ring.read(fd, new Uint8Array(256), new Int32Array(1), new Int32Array(1), 256, 0, 1, 1)).toThrow(/does not exist/);
  });

  it('a bad fd is an error count, not a throw', () => {
    const ring = TapRing.create();
    try {
      const b = allocBatch(2, 256);
      expect(ring.read(1_000_000, b.slab, b.start, b.len, b.slotSize, HEADROOM, 2, 2)).toBe(-Errno.EBADF);
      expect(ring.write(1_000_000, b.slab, b.start, b.len, Int32Array.of(0), 1, 0)).toBe(-Errno.EBADF);
    } finally {
      ring.close();
    }
  });
});

describe('TapQueue over a ring', () => {
  it('uses the ring, and goes back to read()/write() for good when the kernel refuses it (EOPNOTSUPP)', () => {
    const fd = n.eventfdCreate();
    const stats = new Float64Array(4);
    let ringCalls = 0;
    const refusing = {
      stats,
      read: () => (ringCalls++, -Errno.EOPNOTSUPP),
      write: () => (ringCalls++, -Errno.EOPNOTSUPP),
    } as unknown as TapRing;
    try {
      const q = TapQueue.fromFd(fd, 'eventfd', {}, refusing);
      expect(q.ioMode).toBe('uring');
      const b = allocBatch(4, 256);
      setCount(b.slab, b.start[0], 7);
      setCount(b.slab, b.start[1], 3);
      b.len[0] = 8;
      b.len[1] = 8;
      expect(q.write(b, Int32Array.of(0, 1), 2)).toBe(2); // refused by the ring, written by write()
      expect(q.ioMode).toBe('syscall');
      expect(stats[UringStat.Fallbacks]).toBe(1);
      expect(q.read(b)).toBe(1);
      expect(count(b.slab, b.start[0])).toBe(10);
      expect(ringCalls).toBe(1);
      expect(q.writeErrors + q.readErrors).toBe(0);
      q.close();
    } finally {
      n.close(fd);
    }
  });

  it('batches go through the ring; a lone frame (one write, a read after a one-frame read) takes read()/write()', () => {
    const ring = TapRing.create();
    const fd = n.eventfdCreate();
    try {
      const q = TapQueue.fromFd(fd, 'eventfd', {}, ring);
      const b = allocBatch(4, 256);
      const s = ring.stats;
      for (let i = 0; i < 2; i++) {
        setCount(b.slab, b.start[i], 1);
        b.len[i] = 8;
      }
      expect(q.write(b, Int32Array.of(0, 1), 2)).toBe(2);
      expect([s[UringStat.Enters], s[UringStat.TxFrames]]).toEqual([1, 2]);
      expect(q.write(b, Int32Array.of(0), 1)).toBe(1); // one frame: write()
      expect([s[UringStat.Enters], s[UringStat.TxFrames]]).toEqual([1, 2]);
      expect(q.read(b)).toBe(1); // the first read goes through the ring (hint 8) and gets one frame
      expect(count(b.slab, b.start[0])).toBe(3);
      expect([s[UringStat.Enters], s[UringStat.RxFrames]]).toEqual([2, 1]);
      expect(q.read(b)).toBe(0); // after one frame: read()
      expect(s[UringStat.Enters]).toBe(2);
      expect(q.ioMode).toBe('uring');
    } finally {
      n.close(fd);
      ring.close();
    }
  });

  it('an I/O error through the ring is counted as with read()/write(), and the ring stays', () => {
    const ring = TapRing.create();
    try {
      const q = TapQueue.fromFd(1_000_000, 'gone', {}, ring);
      const b = allocBatch(2, 256);
      expect(q.read(b)).toBe(0);
      expect(q.readErrors).toBe(1);
      expect(q.lastReadError?.code).toBe('EBADF');
      expect(q.ioMode).toBe('uring');
    } finally {
      ring.close();
    }
  });
});

describe('resolveTapIo', () => {
  const logger = () => {
    const warnings: unknown[][] = [];
    return { log: { warn: (...a: unknown[]) => warnings.push(a) } as unknown as Logger, warnings };
  };

  it('keeps io_uring where it works, and syscall when asked (without probing)', () => {
    const { log, warnings } = logger();
    expect(resolveTapIo('uring', log, () => undefined)).toBe('uring');
    expect(resolveTapIo(undefined, log, () => undefined)).toBe(DEFAULT_TAP_IO);
    expect(resolveTapIo('syscall', log, () => { throw new Error('probed'); })).toBe('syscall');
    expect(warnings).toEqual([]);
  });

  it('falls back to read()/write() with a clear log line when the kernel refuses io_uring', () => {
    const { log, warnings } = logger();
    expect(resolveTapIo('uring', log, () => 'EPERM: io_uring_setup: Operation not permitted (EPERM)')).toBe('syscall');
    expect(warnings).toHaveLength(1);
    expect(warnings[0][0]).toEqual({ reason: 'EPERM: io_uring_setup: Operation not permitted (EPERM)' });
    expect(String(warnings[0][1])).toMatch(/io_uring unavailable.*read\(\)\/write\(\)/);
  });
});
