// The in-memory fakes behave like the devices they stand for: slots at HEADROOM, bounded queues
// that count drops, level-triggered readiness.
import { describe, expect, it } from 'vitest';
import { MemoryPort, MemoryUnderlay, MemoryUplink } from '../../src/io/memory.js';
import { allocBatch, HEADROOM } from '../../src/io/types.js';

const bytes = (...v: number[]): Uint8Array => Uint8Array.from(v);
const flush = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('MemoryPort', () => {
  it('reads pushed frames into slots at HEADROOM and returns what was written', () => {
    const p = new MemoryPort('p0');
    p.push(bytes(1, 2, 3));
    p.push(bytes(4, 5));
    const b = allocBatch(8, 256);
    b.slab.fill(0xa5);
    expect(p.read(b)).toBe(2);
    expect(b.count).toBe(2);
    expect(b.start[0]).toBe(HEADROOM);
    expect(b.start[1]).toBe(256 + HEADROOM);
    expect(Array.from(b.slab.subarray(b.start[0], b.start[0] + b.len[0]))).toEqual([1, 2, 3]);
    expect(Array.from(b.slab.subarray(b.start[1], b.start[1] + b.len[1]))).toEqual([4, 5]);
    expect(p.read(b)).toBe(0);

    // Write slot 1 then slot 0, after "encapsulating" slot 0 by moving its start back.
    b.start[0] -= 2;
    b.slab[b.start[0]] = 9;
    b.slab[b.start[0] + 1] = 8;
    b.len[0] += 2;
    expect(p.write(b, Int32Array.from([1, 0]), 2)).toBe(2);
    expect(p.pullAll().map((f) => Array.from(f))).toEqual([[4, 5], [9, 8, 1, 2, 3]]);
    expect(p.pull()).toBeUndefined();
  });

  it('copies frames, so later changes to the caller buffers do not leak in', () => {
    const p = new MemoryPort('p0');
    const f = bytes(1, 2);
    p.push(f);
    f[0] = 7;
    const b = allocBatch(1, 256);
    p.read(b);
    expect(b.slab[b.start[0]]).toBe(1);
  });

  it('bounds both queues and counts drops', () => {
    const p = new MemoryPort('p0', { queueLimit: 2 });
    expect(p.push(bytes(1))).toBe(true);
    expect(p.push(bytes(2))).toBe(true);
    expect(p.push(bytes(3))).toBe(false);
    expect(p.rxDrops).toBe(1);
    expect(p.pending).toBe(2);

    const b = allocBatch(4, 256);
    for (let i = 0; i < 3; i++) {
      b.len[i] = 1;
      b.slab[b.start[i]] = i;
    }
    expect(p.write(b, Int32Array.from([0, 1, 2]), 3)).toBe(2);
    expect(p.txDrops).toBe(1);
    expect(p.queued).toBe(2);
  });

  it('reads at most capacity frames per call and drops frames larger than a slot', () => {
    const p = new MemoryPort('p0');
    for (let i = 0; i < 5; i++) p.push(new Uint8Array(10).fill(i));
    p.push(new Uint8Array(200)); // slot holds 256 - 128 = 128
    p.push(bytes(42));
    const b = allocBatch(3, 256);
    expect(p.read(b)).toBe(3);
    expect(p.read(b)).toBe(3); // 3, 4, then the big one is skipped, then 42
    expect(p.oversize).toBe(1);
    expect(b.slab[b.start[2]]).toBe(42);
  });

  it('fires onReadable in a microtask after a push, and again while frames remain', async () => {
    const p = new MemoryPort('p0');
    const b = allocBatch(1, 256);
    let calls = 0;
    let got = 0;
    p.onReadable(() => {
      calls++;
      got += p.read(b); // one frame per call: level-triggered refires for the rest
    });
    p.push(bytes(1));
    p.push(bytes(2));
    p.push(bytes(3));
    expect(calls).toBe(0); // not synchronous
    await Promise.resolve();
    expect(calls).toBe(1);
    for (let i = 0; i < 5 && got < 3; i++) await flush();
    expect(got).toBe(3);
    expect(calls).toBe(3);
    await flush();
    expect(calls).toBe(3); // nothing left: no more calls
  });

  it('fires onReadable for frames already queued when the callback is set', async () => {
    const p = new MemoryPort('p0');
    p.push(bytes(1));
    let calls = 0;
    p.onReadable(() => {
      calls++;
      p.read(allocBatch(4, 256));
    });
    await Promise.resolve();
    expect(calls).toBe(1);
  });

  it('after close: push drops, write accepts nothing, no more callbacks', async () => {
    const p = new MemoryPort('p0');
    let calls = 0;
    p.onReadable(() => calls++);
    p.close();
    expect(p.push(bytes(1))).toBe(false);
    const b = allocBatch(1, 256);
    b.len[0] = 1;
    expect(p.write(b, Int32Array.from([0]), 1)).toBe(0);
    await flush();
    expect(calls).toBe(0);
  });
});

describe('MemoryUplink and MemoryUnderlay', () => {
  const PA1 = 0x0a000001;
  const PA2 = 0x0a000002;
  const PA3 = 0x0a000003;

  it('reads pushed packets with their outer addresses', () => {
    const u = new MemoryUplink('vxlan', { localAddrs: [PA1] });
    u.push(bytes(1, 2), PA2);
    u.push(bytes(3), PA3, 0x0a000009);
    const b = allocBatch(4, 256);
    const src = new Uint32Array(4);
    const dst = new Uint32Array(4);
    expect(u.read(b, src, dst)).toBe(2);
    expect(Array.from(src.subarray(0, 2))).toEqual([PA2, PA3]);
    expect(Array.from(dst.subarray(0, 2))).toEqual([PA1, 0x0a000009]);
    expect(b.start[0]).toBe(HEADROOM);
  });

  it('records sent packets, with the first local address when srcAddr is 0', () => {
    const u = new MemoryUplink('nvgre', { localAddrs: [PA1], queueLimit: 1 });
    const b = allocBatch(2, 256);
    b.len[0] = 1;
    b.len[1] = 1;
    expect(u.write(b, Int32Array.from([0, 1]), Uint32Array.from([0, PA3]), Uint32Array.from([PA2, PA2]), 2)).toBe(1);
    expect(u.txDrops).toBe(1);
    expect(u.pullAll()).toEqual([{ frame: bytes(0), src: PA1, dst: PA2 }]);
  });

  it('an underlay delivers to the uplink of the same kind that owns the destination', async () => {
    const net = new MemoryUnderlay(true);
    const h1 = new MemoryUplink('vxlan', { localAddrs: [PA1] });
    const h2 = new MemoryUplink('vxlan', { localAddrs: [PA2, PA3] });
    const g2 = new MemoryUplink('nvgre', { localAddrs: [PA2] });
    net.attach(h1);
    net.attach(h2);
    net.attach(g2);
    expect(() => net.attach(new MemoryUplink('vxlan', { localAddrs: [PA1] }))).toThrow(/already attached/);

    let readable = 0;
    h2.onReadable(() => readable++);
    const b = allocBatch(3, 256);
    for (let i = 0; i < 3; i++) {
      b.len[i] = 1;
      b.slab[b.start[i]] = 10 + i;
    }
    expect(h1.write(b, Int32Array.from([0, 1, 2]), new Uint32Array(3), Uint32Array.from([PA3, PA2, 0x0a0000ff]), 3)).toBe(3);
    expect(net.noRoute).toBe(1);
    expect(net.log).toHaveLength(3);
    expect(g2.pending).toBe(0); // other kind
    expect(h1.queued).toBe(0); // delivered, not queued
    await Promise.resolve();
    expect(readable).toBe(1);
    const rb = allocBatch(4, 256);
    const src = new Uint32Array(4);
    const dst = new Uint32Array(4);
    expect(h2.read(rb, src, dst)).toBe(2);
    expect([rb.slab[rb.start[0]], src[0], dst[0]]).toEqual([10, PA1, PA3]);
    expect([rb.slab[rb.start[1]], src[1], dst[1]]).toEqual([11, PA1, PA2]);

    h2.close();
    expect(h1.write(b, Int32Array.from([0]), new Uint32Array(1), Uint32Array.from([PA2]), 1)).toBe(1);
    expect(net.noRoute).toBe(2);
  });
});
