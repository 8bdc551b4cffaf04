/**
 * Notification suppression on vhost-user rings (VIRTIO_RING_F_EVENT_IDX), against the TypeScript
 * stand-in for qemu: the back end interrupts the guest only when the used index passes the
 * guest's used_event, asks for kicks with avail_event after each batch, and keeps the guest's
 * receive ring from kicking at all. The indexes are 16-bit and wrap; a property test drives the
 * used index across the wrap with random used_event values and checks every interrupt decision
 * against a model that walks the entries one by one (not the spec's formula the addon uses).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { nativeAvailable } from '../../src/io/native.js';
import { allocBatch, type FrameBatch } from '../../src/io/types.js';
import { VhostQueue, VhostUserDevice } from '../../src/io/vhost.js';
import { F, REQ, VhostFrontend, until } from '../helpers/vhost-frontend.js';
import { requires } from '../helpers/prerequisites.js';

const NATIVE = requires(nativeAvailable(), 'native addon not built');

function frame(len: number, seed: number): Uint8Array {
  const f = new Uint8Array(len);
  for (let i = 0; i < len; i++) f[i] = (i * 13 + seed) & 0xff;
  f.set([2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00]);
  return f;
}

/** Did the used index moving from `from` to `to` fill the entry the guest named in used_event?
 * The entries one by one, 16-bit. */
function modelWantsCall(event: number, from: number, to: number): boolean {
  for (let i = from; i !== to; i = (i + 1) & 0xffff) if (i === event) return true;
  return false;
}

describe('vhost-user notification suppression (EVENT_IDX)', NATIVE, () => {
  let dir: string;
  let sock: string;
  let dev: VhostUserDevice | undefined;
  let fe: VhostFrontend | undefined;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-vhost-ev-'));
    sock = path.join(dir, 'vm.sock');
  });
  afterEach(() => {
    fe?.close();
    fe = undefined;
    dev?.close();
    dev = undefined;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function up(opts: { want?: bigint; eventIdx?: boolean } = {}): Promise<{ q: VhostQueue; fe: VhostFrontend; dev: VhostUserDevice }> {
    dev = VhostUserDevice.open({ socket: sock, mode: 'server', ...(opts.eventIdx !== undefined ? { eventIdx: opts.eventIdx } : {}) });
    fe = VhostFrontend.connect(sock);
    await until(() => dev!.connected, 'accept');
    await fe.handshake(opts.want !== undefined ? { want: opts.want } : {});
    return { q: VhostQueue.forLane(dev.id, 0, 'vm0', true), fe, dev };
  }

  /** k frames from the switch into the guest's receive ring, in one write. */
  function send(q: VhostQueue, b: FrameBatch, k: number, seed = 0): number {
    const idx = new Int32Array(k);
    for (let i = 0; i < k; i++) {
      const f = frame(64 + i, seed + i);
      b.slab.set(f, b.start[i]);
      b.slab.fill(0, b.start[i] - 12, b.start[i]);
      b.len[i] = f.length;
      idx[i] = i;
    }
    return q.write(b, idx, k);
  }

  it('is offered (and not when the device is made without it)', async () => {
    const { fe, dev } = await up();
    expect(fe.offered & F.EVENT_IDX).toBe(F.EVENT_IDX);
    expect(BigInt(dev.status().features) & F.EVENT_IDX).toBe(F.EVENT_IDX);
    fe.close();
    dev.close();
    const second = await up({ eventIdx: false });
    expect(second.fe.offered & F.EVENT_IDX).toBe(0n);
  });

  it('interrupts the guest only when the used index passes its used_event', async () => {
    const { q, fe, dev } = await up();
    const b = allocBatch(8, 2048);
    fe.postRx(64, 2048);
    const calls = () => fe.n.eventfdRead(fe.call[0]);
    calls();
    expect(send(q, b, 1)).toBe(1); // the first publish after a ring start always interrupts
    expect(calls()).toBe(1);
    fe.setUsedEvent(0, 4); // "tell me when entry 4 is used"
    expect(send(q, b, 2)).toBe(2); // used 1 -> 3
    expect(calls()).toBe(0);
    expect(send(q, b, 1)).toBe(1); // 3 -> 4: entry 4 not yet
    expect(calls()).toBe(0);
    expect(send(q, b, 1)).toBe(1); // 4 -> 5: entry 4 used
    expect(calls()).toBe(1);
    expect(send(q, b, 3)).toBe(3); // 5 -> 8: passed already
    expect(calls()).toBe(0);
    const c = dev.status().counters;
    expect(c.calls).toBe(2);
    expect(c.callsSkipped).toBe(3);
    expect(c.txBatches).toBe(5);
    expect(fe.received().length).toBe(8); // every frame arrived, interrupts or not
  });

  it('property: across the 16-bit wrap, each batch interrupts exactly when the model says, and every frame arrives', async () => {
    const { q, fe } = await up();
    const b = allocBatch(8, 2048);
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 65536 - 200, max: 65535 + 200 }),
        fc.array(fc.record({ k: fc.integer({ min: 1, max: 8 }), ahead: fc.integer({ min: -12, max: 24 }) }), { minLength: 1, maxLength: 60 }),
        async (start, batches) => {
          const base = start & 0xffff;
          await fe.startRing(0, base);
          fe.n.eventfdRead(fe.call[0]);
          let used = base;
          let last: number | undefined; // used index at the last decision; none yet after the start
          let seed = 0;
          for (const { k, ahead } of batches) {
            const event = (used + ahead) & 0xffff;
            fe.setUsedEvent(0, event);
            fe.postRx(k, 2048);
            expect(send(q, b, k, seed)).toBe(k);
            const to = (used + k) & 0xffff;
            const want = last === undefined || modelWantsCall(event, last, to);
            expect(fe.n.eventfdRead(fe.call[0]) > 0).toBe(want);
            expect(fe.usedIdx(0)).toBe(to);
            const got = fe.received();
            expect(got.map((g) => g.frame.length)).toEqual(Array.from({ length: k }, (_, i) => 64 + i));
            expect(got[0].frame).toEqual(frame(64, seed));
            last = to;
            used = to;
            seed += k;
          }
        },
      ),
      { numRuns: 40 },
    );
  });

  it('asks for a kick at the next chain after each batch (avail_event), across the wrap, and counts kicks and batches', async () => {
    const { q, fe, dev } = await up();
    await fe.startRing(1, 65533);
    const b = allocBatch(16, 2048);
    for (let i = 0; i < 4; i++) fe.transmit(frame(80, i), { kick: false });
    fe.transmit(frame(80, 4)); // one kick for the five
    expect(q.read(b)).toBe(5);
    expect(fe.availEvent(1)).toBe((65533 + 5) & 0xffff);
    expect(fe.usedIdx(1)).toBe(2);
    fe.transmit(frame(90, 5));
    expect(q.read(b)).toBe(1);
    expect(fe.availEvent(1)).toBe(3);
    const c = dev.status().counters;
    expect(c.kicks).toBe(2);
    expect(c.rxBatches).toBe(2);
    expect(c.rxFrames).toBe(6);
  });

  it('a transmit ring that starts again with chains but no kick (a reconnect) is looked at once, as if kicked', async () => {
    const { q, fe } = await up();
    const b = allocBatch(16, 2048);
    expect(q.read(b)).toBe(0); // takes what the setup raised
    fe.transmit(frame(70, 1), { kick: false });
    // qemu stops the ring and starts it again with the chain still there
    fe.send(REQ.GET_VRING_BASE, VhostFrontend.state(1, 0));
    expect((await fe.reply(REQ.GET_VRING_BASE)).getUint32(4, true)).toBe(0);
    expect(await fe.call1(REQ.SET_VRING_KICK, VhostFrontend.u64(1n), [fe.kick[1]])).toBe(true);
    let woke = false;
    q.onReadable(() => {
      woke = true;
    });
    await until(() => woke, 'the lane to be woken');
    q.stopPolling();
    expect(q.read(b)).toBe(1);
  });

  it('keeps the guest receive ring from kicking: avail_event out of reach with EVENT_IDX, NO_NOTIFY without', async () => {
    const { q, fe } = await up();
    const b = allocBatch(4, 2048);
    fe.postRx(8, 2048);
    expect(send(q, b, 2)).toBe(2);
    expect(fe.availEvent(0)).toBe((2 + 256) & 0xffff);
    fe.close();
    dev!.close();
    const second = await up({ want: F.VERSION_1 | F.MRG_RXBUF | F.PROTOCOL_FEATURES });
    second.fe.postRx(8, 2048);
    expect(send(second.q, b, 1)).toBe(1);
    expect(second.fe.usedFlags(0)).toBe(1);
    expect(second.fe.n.eventfdRead(second.fe.call[0])).toBe(1); // no EVENT_IDX: every batch interrupts
    expect(send(second.q, b, 1)).toBe(1);
    expect(second.fe.n.eventfdRead(second.fe.call[0])).toBe(1);
  });
});
