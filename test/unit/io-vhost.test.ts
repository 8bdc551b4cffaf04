/**
 * The vhost-user back end against a TypeScript stand-in for qemu (test/helpers/vhost-frontend.ts):
 * protocol handshake over a real unix socket with fds, frames both ways through split rings in a
 * memfd, and what a broken or hostile guest writes (descriptors outside memory, loops, lengths
 * past a region, an avail index that jumps, bad messages). No root, no VM.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { nativeAvailable } from '../../src/io/native.js';
import { allocBatch, HEADROOM } from '../../src/io/types.js';
import { VhostQueue, VhostUserDevice } from '../../src/io/vhost.js';
import { steerWorker } from '../../src/io/steering.js';
import { buildIcmpError, buildIcmpv6, buildIpv4UdpPacket, buildIpv6Tcp, buildIpv6Udp } from '../../src/wire/build/frames.js';
import { DESC_F_WRITE, F, REQ, RING_BASE, VhostFrontend, until } from '../helpers/vhost-frontend.js';
import { requires } from '../helpers/prerequisites.js';

const NATIVE = requires(nativeAvailable(), 'native addon not built');

function frame(len: number, seed: number): Uint8Array {
  const f = new Uint8Array(len);
  for (let i = 0; i < len; i++) f[i] = (i * 7 + seed) & 0xff;
  f.set([2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00]);
  return f;
}

/** What each lane holds: the 16-bit word at `off` of every frame it reads, lane by lane. */
function laneWords(lanes: VhostQueue[], off: number): number[][] {
  return lanes.map((q) => {
    const b = allocBatch(32, 2048);
    const n = q.read(b);
    const words: number[] = [];
    for (let i = 0; i < n; i++) words.push((b.slab[b.start[i] + off] << 8) | b.slab[b.start[i] + off + 1]);
    return words;
  });
}

describe('vhost-user back end', NATIVE, () => {
  let dir: string;
  let sock: string;
  let dev: VhostUserDevice | undefined;
  let fe: VhostFrontend | undefined;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-vhost-'));
    sock = path.join(dir, 'vm.sock');
  });
  afterEach(() => {
    fe?.close();
    fe = undefined;
    dev?.close();
    dev = undefined;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function up(opts: { want?: bigint; offload?: boolean } = {}): Promise<{ q: VhostQueue; fe: VhostFrontend; dev: VhostUserDevice }> {
    dev = VhostUserDevice.open({ socket: sock, mode: 'server', offload: opts.offload ?? true });
    fe = VhostFrontend.connect(sock);
    await until(() => dev!.connected, 'accept');
    await fe.handshake({ ...(opts.want !== undefined ? { want: opts.want } : {}) });
    return { q: VhostQueue.forLane(dev.id, 0, 'vm0', opts.offload ?? true), fe, dev };
  }

  it('negotiates features and protocol features; both rings become ready', async () => {
    const { dev, fe } = await up();
    expect(fe.offered & F.MRG_RXBUF).toBe(F.MRG_RXBUF);
    expect(fe.offered & F.VERSION_1).toBe(F.VERSION_1);
    expect(fe.offered & F.GUEST_TSO4).toBe(F.GUEST_TSO4);
    expect(fe.offered & F.MQ).toBe(0n); // one pair offered
    const st = dev.status();
    expect(st.ringsReady).toBe(2);
    expect(BigInt(st.features)).toBe(fe.features);
    expect(st.counters.badMessages).toBe(0);
  });

  it('without offload the guest is offered no checksum or TSO features', async () => {
    const { fe } = await up({ offload: false });
    expect(fe.offered & (F.CSUM | F.GUEST_CSUM | F.HOST_TSO4 | F.GUEST_TSO4)).toBe(0n);
  });

  it('moves guest frames into slots at HEADROOM with their virtio-net header before them, chains of several descriptors too', async () => {
    const { q, fe } = await up();
    const b = allocBatch(8, 2048);
    const hdr = new Uint8Array(12);
    hdr[0] = 1; // NEEDS_CSUM
    hdr[6] = 34;
    hdr[8] = 16;
    const frames = [frame(60, 1), frame(1514, 2), frame(300, 3)];
    fe.transmit(frames[0], { hdr });
    fe.transmit(frames[1], { piece: 100 });
    fe.transmit(frames[2], { piece: 7 });
    expect(q.read(b)).toBe(3);
    for (let i = 0; i < 3; i++) {
      expect(b.start[i]).toBe(i * 2048 + HEADROOM);
      expect(b.slab.slice(b.start[i], b.start[i] + b.len[i])).toEqual(frames[i]);
    }
    expect(b.slab.slice(b.start[0] - 12, b.start[0])).toEqual(hdr);
    expect(fe.usedIdx(1)).toBe(3); // the buffers went back to the guest
    expect(q.read(b)).toBe(0);
  });

  it('a full batch leaves the rest for the next read, and the lane fd stays readable', async () => {
    const { q, fe } = await up();
    const b = allocBatch(4, 2048);
    for (let i = 0; i < 10; i++) fe.transmit(frame(64, i));
    expect(q.read(b)).toBe(4);
    expect(q.read(b)).toBe(4);
    expect(q.read(b)).toBe(2);
  });

  it('delivers frames into receive buffers: mergeable buffers across several descriptors, num_buffers set, call eventfd signalled', async () => {
    const { q, fe } = await up();
    fe.postRx(16, 256);
    const b = allocBatch(4, 2048);
    const frames = [frame(100, 9), frame(1000, 8)];
    for (let i = 0; i < 2; i++) {
      b.slab.set(frames[i], b.start[i]);
      b.len[i] = frames[i].length;
      b.slab.fill(0, b.start[i] - 12, b.start[i]);
    }
    expect(q.write(b, Int32Array.from([0, 1]), 2)).toBe(2);
    const got = fe.received();
    expect(got.map((g) => g.frame)).toEqual(frames);
    expect(got[1].hdr[10]).toBe(Math.ceil((1000 + 12) / 256));
    expect(fe.n.eventfdRead(fe.call[0])).toBeGreaterThan(0);
  });

  it('no receive buffers: the frames are counted drops, and the next buffers work', async () => {
    const { q, fe, dev } = await up();
    const b = allocBatch(4, 2048);
    b.slab.set(frame(80, 1), b.start[0]);
    b.len[0] = 80;
    expect(q.write(b, Int32Array.from([0]), 1)).toBe(0);
    expect(dev.status().counters.noBuffers).toBe(1);
    fe.postRx(1, 64); // smaller than the frame: with MRG_RXBUF the frame needs more, so it waits
    expect(q.write(b, Int32Array.from([0]), 1)).toBe(0);
    fe.postRx(1, 64);
    expect(q.write(b, Int32Array.from([0]), 1)).toBe(1);
    expect(fe.received()[0].frame).toEqual(frame(80, 1));
  });

  it('finishes a partial checksum for a guest without GUEST_CSUM, in the copy only', async () => {
    const { q, fe, dev } = await up({ want: F.VERSION_1 | F.MRG_RXBUF | F.PROTOCOL_FEATURES });
    fe.postRx(4, 2048);
    const b = allocBatch(2, 2048);
    // IPv4/UDP: checksum field at 14+20+6; pseudo sum left there as a TAP with CSUM leaves it
    const f = frame(100, 5);
    f[14] = 0x45;
    f[23] = 17;
    f.fill(0, 40, 42);
    b.slab.set(f, b.start[0]);
    b.len[0] = f.length;
    const hdr = b.slab.subarray(b.start[0] - 12, b.start[0]);
    hdr.fill(0);
    hdr[0] = 1;
    hdr[6] = 34;
    hdr[8] = 6;
    expect(q.write(b, Int32Array.from([0]), 1)).toBe(1);
    const got = fe.received()[0];
    expect(got.hdr[0] & 1).toBe(0);
    // sum of the L4 bytes including the finished checksum folds to 0xffff
    let s = 0;
    for (let i = 34; i < got.frame.length; i += 2) s += (got.frame[i] << 8) | (got.frame[i + 1] ?? 0);
    while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
    expect(s).toBe(0xffff);
    expect(b.slab.slice(b.start[0], b.start[0] + 100)).toEqual(f); // the slab is untouched
    expect(dev.status().counters.csumFinished).toBe(1);
    // a TSO frame for a guest without GUEST_TSO4: a counted drop
    hdr[1] = 1;
    hdr[4] = 0xb4;
    hdr[5] = 0x05;
    expect(q.write(b, Int32Array.from([0]), 1)).toBe(0);
    expect(dev.status().counters.offloadDrops).toBe(1);
  });

  it('counts garbage descriptors as drops and keeps forwarding: outside memory, past a region, a loop, an index out of range, the wrong direction', async () => {
    const { q, fe, dev } = await up();
    const b = allocBatch(16, 2048);
    const memLen = BigInt(fe.mem.length);
    const cases: [bigint, number, number, number][] = [
      [memLen + 4096n, 100, 0, 0], // outside the table
      [memLen - 50n, 100, 0, 0], // runs past the region
      [0xffffffffffffff00n, 0x200, 0, 0], // wraps around
    ];
    for (const [addr, len, flags, next] of cases) {
      fe.writeDesc(1, 10, addr, len, flags, next);
      fe.pushAvail(1, 10);
    }
    fe.writeDesc(1, 11, BigInt(RING_BASE), 0, 1, 12); // loop 11 -> 12 -> 11 (empty: no length bound)
    fe.writeDesc(1, 12, BigInt(RING_BASE), 0, 1, 11);
    fe.pushAvail(1, 11);
    fe.writeDesc(1, 13, BigInt(RING_BASE), 16, 1, 999); // next out of range
    fe.pushAvail(1, 13);
    fe.writeDesc(1, 14, BigInt(RING_BASE), 64, DESC_F_WRITE, 0); // device-writable on transmit
    fe.pushAvail(1, 14);
    fe.writeDesc(1, 15, BigInt(RING_BASE), 4, 0, 0); // shorter than the header
    fe.pushAvail(1, 15);
    fe.transmit(frame(64, 1), { kick: true });
    expect(q.read(b)).toBe(1);
    const c = dev.status().counters;
    expect(c.badAddress).toBe(3);
    expect(c.badChain).toBe(3);
    expect(c.short).toBe(1);
    expect(c.rxFrames).toBe(1);
    expect(fe.usedIdx(1)).toBe(8); // every chain went back
  });

  it('an avail index that jumps past the ring stops the ring (counted) until the front end sets it up again', async () => {
    const { q, fe, dev } = await up();
    const b = allocBatch(8, 2048);
    fe.setAvailIdx(1, 5000);
    fe.doKick(1);
    expect(q.read(b)).toBe(0);
    expect(dev.status().counters.ringBroken).toBe(1);
    expect(dev.status().ringsBroken).toBe(1);
    expect(q.read(b)).toBe(0); // stopped: not counted again
    expect(dev.status().counters.ringBroken).toBe(1);
    await fe.startRing(1); // qemu resets the queue
    fe.transmit(frame(64, 3));
    expect(q.read(b)).toBe(1);
  });

  it('a head index outside the ring breaks it, on either ring', async () => {
    const { q, fe, dev } = await up();
    const b = allocBatch(8, 2048);
    fe.pushAvail(0, 60000);
    b.len[0] = 64;
    expect(q.write(b, Int32Array.from([0]), 1)).toBe(0);
    expect(dev.status().counters.ringBroken).toBe(1);
    fe.transmit(frame(64, 3));
    expect(q.read(b)).toBe(1); // the other ring forwards on
  });

  it('refuses bad messages with a REPLY_ACK failure, and ends the connection on a stream it cannot follow', async () => {
    const { dev } = await up();
    let front = fe!;
    expect(await front.call1(REQ.SET_VRING_NUM, VhostFrontend.state(7, 256))).toBe(false); // no such ring
    expect(await front.call1(REQ.SET_VRING_NUM, VhostFrontend.state(1, 100))).toBe(false); // not a power of 2
    expect(await front.call1(REQ.SET_MEM_TABLE, front.memTable([{ gpa: 0n, size: 4096n, uva: 0n, offset: 0n }]))).toBe(false); // no fd
    const big = BigInt(front.mem.length) * 2n;
    expect(await front.call1(REQ.SET_MEM_TABLE, front.memTable([{ gpa: 0n, size: big, uva: 0n, offset: 0n }]), [front.memFd])).toBe(false); // past the file
    expect(await front.call1(99, new Uint8Array(3))).toBe(false); // unknown
    expect(dev.status().counters.badMessages).toBe(5);
    expect(dev.status().ringsReady).toBe(2); // the refused ones changed nothing
    front.send(REQ.SET_OWNER, new Uint8Array(0), undefined, 2); // version 2
    await front.closedByPeer();
    await until(() => !dev.connected, 'disconnect');
    expect(dev.status().ringsReady).toBe(0);
    front.close();
    // the next front end (qemu reconnecting) gets a fresh device
    front = fe = VhostFrontend.connect(sock);
    await until(() => dev.connected, 'reconnect');
    await front.handshake();
    expect(dev.status().ringsReady).toBe(2);
    expect(dev.connects).toBe(2);
  });

  it('client mode connects to a listening front end and reconnects after it restarts', async () => {
    dev = VhostUserDevice.open({ socket: sock, mode: 'client', reconnectMs: 20 });
    fe = await VhostFrontend.listen(sock);
    await fe.handshake();
    await until(() => dev!.status().ringsReady === 2, 'rings');
    fe.close();
    fs.rmSync(sock);
    await until(() => !dev!.connected, 'disconnect');
    fe = await VhostFrontend.listen(sock);
    await fe.handshake();
    const q = VhostQueue.forLane(dev.id, 0, 'vm', true);
    fe.transmit(frame(70, 4));
    expect(q.read(allocBatch(4, 2048))).toBe(1);
    expect(dev.connects).toBe(2);
  });

  it('server mode refuses a socket path someone listens on, and replaces a stale one', () => {
    dev = VhostUserDevice.open({ socket: sock, mode: 'server' });
    expect(() => VhostUserDevice.open({ socket: sock, mode: 'server' })).toThrow(/in use/);
    fs.writeFileSync(path.join(dir, 'file'), 'x');
    expect(() => VhostUserDevice.open({ socket: path.join(dir, 'file'), mode: 'server' })).toThrow(/not a socket/);
  });

  /** A two-lane (two-worker) device with a front end attached: its lanes' queues. */
  async function twoLanes(): Promise<{ lanes: VhostQueue[]; fe: VhostFrontend; dev: VhostUserDevice }> {
    const d = (dev = VhostUserDevice.open({ socket: sock, mode: 'server', lanes: 2 }));
    const f = (fe = VhostFrontend.connect(sock));
    await until(() => d.connected, 'accept');
    await f.handshake();
    return { lanes: [VhostQueue.forLane(d.id, 0, 'vm', true), VhostQueue.forLane(d.id, 1, 'vm', true)], fe: f, dev: d };
  }

  it('with two lanes (workers) each frame reaches the lane of its flow, whichever ring it came on', async () => {
    const { lanes, fe: front, dev: device } = await twoLanes();
    const want: number[][] = [[], []];
    for (let sport = 1000; sport < 1016; sport++) {
      const f = frame(80, sport);
      f[14] = 0x45;
      f.fill(0, 20, 22);
      f[23] = 17;
      f.set([10, 1, 1, 21, 10, 1, 1, 11], 26);
      f[34] = sport >> 8;
      f[35] = sport & 0xff;
      f[36] = 0x14;
      f[37] = 0xe9;
      want[steerWorker(f, 0, f.length, 2)].push(sport);
      front.transmit(f);
    }
    expect(want[0].length).toBeGreaterThan(0);
    expect(want[1].length).toBeGreaterThan(0);
    expect(laneWords(lanes, 34)).toEqual(want);
    expect(device.status().counters.handoff).toBe(want[1].length);
  });

  it('with two lanes an ICMP error reaches the lane of the flow it quotes', async () => {
    const { lanes, fe: front } = await twoLanes();
    const want: number[][] = [[], []];
    for (let sport = 1000; sport < 1016; sport++) {
      const invoking = buildIpv4UdpPacket({ srcIp: '10.1.1.21', dstIp: '10.1.1.11', srcPort: 5353, dstPort: sport });
      const f = buildIcmpError({ srcIp: '10.1.1.11', dstIp: '10.1.1.21', invoking });
      const flow = new Uint8Array(14 + invoking.length);
      flow[12] = 0x08;
      flow.set(invoking, 14);
      const w = steerWorker(f, 0, f.length, 2);
      expect(w).toBe(steerWorker(flow, 0, flow.length, 2));
      want[w].push(sport);
      front.transmit(f);
    }
    expect(want[0].length).toBeGreaterThan(0);
    expect(want[1].length).toBeGreaterThan(0);
    // the quoted UDP destination port: Ethernet 14 + IPv4 20 + ICMP 8 + quoted IPv4 20 + 2
    expect(laneWords(lanes, 64)).toEqual(want);
  });

  it('with two lanes an IPv6 flow reaches the lane of its flow (addresses and ports), and an ICMPv6 error the lane of the packet it quotes', async () => {
    const { lanes, fe: front } = await twoLanes();
    const want: number[][] = [[], []];
    for (let sport = 1000; sport < 1016; sport++) {
      const f = buildIpv6Udp({ srcIp6: '2001:db8::21', dstIp6: '2001:db8::11', srcPort: sport, dstPort: 5201 });
      want[steerWorker(f, 0, f.length, 2)].push(sport);
      front.transmit(f);
    }
    expect(want[0].length).toBeGreaterThan(0);
    expect(want[1].length).toBeGreaterThan(0);
    // the UDP source port: Ethernet 14 + IPv6 40
    expect(laneWords(lanes, 54)).toEqual(want);
    const errs: number[][] = [[], []];
    for (let sport = 2000; sport < 2016; sport++) {
      const invoking = buildIpv6Tcp({ srcIp6: '2001:db8::21', dstIp6: '2001:db8::11', srcPort: sport, dstPort: 443 });
      const body = new Uint8Array(4 + invoking.length - 14);
      body.set([0, 0, 0x05, 0x00]);
      body.set(invoking.subarray(14), 4);
      const f = buildIcmpv6({ srcIp6: '2001:db8:ff::1', dstIp6: '2001:db8::21', type: 2, body });
      const w = steerWorker(f, 0, f.length, 2);
      expect(w).toBe(steerWorker(invoking, 0, invoking.length, 2));
      errs[w].push(sport);
      front.transmit(f);
    }
    expect(errs[0].length).toBeGreaterThan(0);
    expect(errs[1].length).toBeGreaterThan(0);
    // the quoted TCP source port: Ethernet 14 + IPv6 40 + ICMPv6 8 + quoted IPv6 40
    expect(laneWords(lanes, 102)).toEqual(errs);
  });

  it('fuzz: random descriptor tables and avail entries never crash the back end (every access goes through the memory table), and every chain taken is a frame or one counted drop', async () => {
    const { q, fe, dev } = await up();
    const b = allocBatch(32, 2048);
    const memLen = fe.mem.length;
    const desc = fc.record({
      addr: fc.oneof(fc.bigInt({ min: 0n, max: BigInt(memLen) + 8192n }), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n })),
      len: fc.oneof(fc.integer({ min: 0, max: 3000 }), fc.integer({ min: 0, max: 0xffffffff })),
      flags: fc.integer({ min: 0, max: 7 }),
      next: fc.integer({ min: 0, max: 300 }),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(desc, { minLength: 1, maxLength: 40 }), fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 40 }), async (descs, heads) => {
        descs.forEach((d, i) => fe.writeDesc(1, i % 256, d.addr & ((1n << 64n) - 1n), d.len, d.flags, d.next));
        descs.forEach((d, i) => fe.writeDesc(0, i % 256, d.addr & ((1n << 64n) - 1n), d.len, d.flags, d.next));
        const before = dev.status().counters;
        for (const h of heads) {
          fe.pushAvail(1, h);
          fe.pushAvail(0, h);
        }
        fe.doKick(1);
        let got = 0;
        for (let k = 0; k < 4; k++) got += q.read(b);
        const c = dev.status().counters;
        const drops = ['badAddress', 'badChain', 'oversize', 'short'] as const;
        const taken = got + drops.reduce((s, k) => s + c[k] - before[k], 0);
        // every chain taken from the transmit ring is a frame or exactly one counted drop
        if (dev.status().ringsBroken === 0) expect(taken).toBe(heads.length);
        for (let i = 0; i < 4; i++) b.len[i] = 64;
        const sent = q.write(b, Int32Array.from([0, 1, 2, 3]), 4);
        expect(sent).toBeLessThanOrEqual(4);
        // a broken ring is set up again, as qemu would after a device reset
        await fe.startRing(0);
        await fe.startRing(1);
      }),
      { numRuns: 60 },
    );
    expect(dev.connected).toBe(true);
  });
});
