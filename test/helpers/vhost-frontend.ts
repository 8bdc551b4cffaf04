/**
 * A stand-in for qemu as a vhost-user front end, in TypeScript: it speaks the protocol over the
 * socket (SCM_RIGHTS for the memory fd and the eventfds), keeps "guest memory" in a memfd it maps
 * and plays the guest's virtio-net driver on the split rings in it. Tests use it to drive the
 * back end without a VM, and to write what no driver would: descriptors outside memory, loops,
 * indexes that jump, messages of the wrong size.
 *
 * Layout of guest memory (guest physical = offset in the memfd; qemu's virtual address = UVA_BASE
 * + offset): per ring i a 64 KiB area at RING_BASE + i * 64 KiB (descriptors, avail, used), frame
 * buffers from BUF_BASE on.
 */
import { loadNative, type NativeAddon } from '../../src/io/native.js';

export const REQ = {
  GET_FEATURES: 1, SET_FEATURES: 2, SET_OWNER: 3, RESET_OWNER: 4, SET_MEM_TABLE: 5, SET_VRING_NUM: 8, SET_VRING_ADDR: 9,
  SET_VRING_BASE: 10, GET_VRING_BASE: 11, SET_VRING_KICK: 12, SET_VRING_CALL: 13, SET_VRING_ERR: 14,
  GET_PROTOCOL_FEATURES: 15, SET_PROTOCOL_FEATURES: 16, GET_QUEUE_NUM: 17, SET_VRING_ENABLE: 18,
} as const;

export const F = {
  CSUM: 1n << 0n, GUEST_CSUM: 1n << 1n, GUEST_TSO4: 1n << 7n, GUEST_TSO6: 1n << 8n, HOST_TSO4: 1n << 11n, HOST_TSO6: 1n << 12n,
  MRG_RXBUF: 1n << 15n, MQ: 1n << 22n, EVENT_IDX: 1n << 29n, PROTOCOL_FEATURES: 1n << 30n, VERSION_1: 1n << 32n,
} as const;

/** fcntl F_SEAL_* bits. */
export const SEAL = { SEAL: 1, SHRINK: 2, GROW: 4, WRITE: 8 } as const;
const PF_REPLY_ACK = 1n << 3n;

export const UVA_BASE = 0x7f0000000000n;
export const RING_BASE = 0x10000;
export const RING_AREA = 0x10000;
export const BUF_BASE = 0x100000;
const DESC_F_NEXT = 1;
export const DESC_F_WRITE = 2;

export interface FrontendOptions {
  memSize?: number;
  ringSize?: number;
  pairs?: number;
  /** Feature bits to ack out of those offered (default: all offered). */
  want?: bigint;
  /** F_SEAL_* bits on guest memory (qemu's seal=on: GROW|SHRINK|SEAL); 0: sealable, none yet;
   * default: a memfd that cannot be sealed (seal=off). */
  seals?: number;
}

/** Yields to the event loop until `pred` holds (the back end runs on the same loop); throws after `turns`. */
export async function until(pred: () => boolean, what: string, turns = 20000): Promise<void> {
  for (let i = 0; i < turns; i++) {
    if (pred()) return;
    await new Promise((r) => setImmediate(r));
  }
  throw new Error(`vhost front end: gave up waiting for ${what}`);
}

export class VhostFrontend {
  readonly n: NativeAddon;
  readonly mem: Uint8Array;
  readonly view: DataView;
  readonly memFd: number;
  readonly ringSize: number;
  readonly pairs: number;
  features = 0n;
  offered = 0n;
  kick: number[] = [];
  call: number[] = [];
  /** Per ring: next free descriptor, the driver's avail index, last used index seen. */
  private nextDesc: number[] = [];
  private availIdx: number[] = [];
  private usedSeen: number[] = [];
  private bufNext = BUF_BASE;
  private ack = false;
  private rxBuf = new Uint8Array(4096);

  private constructor(readonly conn: number, opts: FrontendOptions) {
    this.n = loadNative();
    const size = opts.memSize ?? 8 << 20;
    this.memFd = this.n.memfdCreate('vhost-test-guest', size, opts.seals);
    this.mem = new Uint8Array(this.n.mapShared(this.memFd, size));
    this.view = new DataView(this.mem.buffer);
    this.ringSize = opts.ringSize ?? 256;
    this.pairs = opts.pairs ?? 1;
  }

  /** Connects to a back end listening at `path` (server mode). */
  static connect(path: string, opts: FrontendOptions = {}): VhostFrontend {
    const n = loadNative();
    const c = n.unixConnect(path);
    if (c < 0) throw new Error(`vhost front end: connect ${path}: ${c}`);
    return new VhostFrontend(c, opts);
  }

  /** Listens at `path` (qemu's server=on) and returns once the back end connected. */
  static async listen(path: string, opts: FrontendOptions = {}): Promise<VhostFrontend> {
    const n = loadNative();
    const l = n.unixListen(path);
    let c = -1;
    try {
      await until(() => (c = n.unixAccept(l)) >= 0, 'the back end to connect');
    } finally {
      n.close(l);
    }
    return new VhostFrontend(c, opts);
  }

  /** Sends one message (header + payload, fds attached). */
  send(req: number, payload: Uint8Array = new Uint8Array(0), fds?: number[], flags = 1): number {
    const m = new Uint8Array(12 + payload.length);
    const v = new DataView(m.buffer);
    v.setUint32(0, req, true);
    v.setUint32(4, flags, true);
    v.setUint32(8, payload.length, true);
    m.set(payload, 12);
    return this.n.unixSendMsg(this.conn, m, fds ? Int32Array.from(fds) : undefined);
  }

  /** Waits for one reply and returns its payload (the back end runs on this loop). */
  async reply(req: number): Promise<DataView> {
    let got = 0;
    await until(() => {
      const r = this.n.unixRecv(this.conn, this.rxBuf.subarray(got), false);
      if (r > 0) got += r;
      if (r === 0) throw new Error('vhost front end: the back end closed the connection');
      return got >= 12 && got >= 12 + new DataView(this.rxBuf.buffer).getUint32(8, true);
    }, `a reply to ${req}`);
    const v = new DataView(this.rxBuf.buffer, 0, got);
    if (v.getUint32(0, true) !== req) throw new Error(`vhost front end: reply to ${v.getUint32(0, true)}, expected ${req}`);
    return new DataView(this.rxBuf.buffer.slice(12, got));
  }

  /** A message that the back end acknowledges (REPLY_ACK): resolves to true for success. */
  async call1(req: number, payload: Uint8Array = new Uint8Array(0), fds?: number[]): Promise<boolean> {
    if (!this.ack) throw new Error('vhost front end: REPLY_ACK not negotiated');
    this.send(req, payload, fds, 1 | 8);
    const r = await this.reply(req);
    return r.getBigUint64(0, true) === 0n;
  }

  /** The back end's end of the stream: resolves when it closed the connection. */
  async closedByPeer(): Promise<void> {
    await until(() => {
      const r = this.n.unixRecv(this.conn, this.rxBuf, false);
      return r === 0 || (r < 0 && r !== -11);
    }, 'the back end to close');
  }

  static u64(v: bigint): Uint8Array {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, v, true);
    return b;
  }
  static state(index: number, num: number): Uint8Array {
    const b = new Uint8Array(8);
    const v = new DataView(b.buffer);
    v.setUint32(0, index, true);
    v.setUint32(4, num, true);
    return b;
  }
  memTable(regions: { gpa: bigint; size: bigint; uva: bigint; offset: bigint }[]): Uint8Array {
    const b = new Uint8Array(8 + 32 * regions.length);
    const v = new DataView(b.buffer);
    v.setUint32(0, regions.length, true);
    regions.forEach((r, i) => {
      v.setBigUint64(8 + 32 * i, r.gpa, true);
      v.setBigUint64(16 + 32 * i, r.size, true);
      v.setBigUint64(24 + 32 * i, r.uva, true);
      v.setBigUint64(32 + 32 * i, r.offset, true);
    });
    return b;
  }
  ringAddr(i: number): Uint8Array {
    const b = new Uint8Array(40);
    const v = new DataView(b.buffer);
    const base = BigInt(RING_BASE + i * RING_AREA);
    v.setUint32(0, i, true);
    v.setBigUint64(8, UVA_BASE + base, true); // desc
    v.setBigUint64(16, UVA_BASE + base + 0x8000n, true); // used
    v.setBigUint64(24, UVA_BASE + base + 0x4000n, true); // avail
    return b;
  }

  /** The whole setup qemu does before the guest runs; returns the acked features. */
  async handshake(opts: FrontendOptions = {}): Promise<bigint> {
    this.send(REQ.GET_FEATURES);
    this.offered = (await this.reply(REQ.GET_FEATURES)).getBigUint64(0, true);
    this.features = this.offered & (opts.want ?? this.offered);
    this.send(REQ.SET_FEATURES, VhostFrontend.u64(this.features));
    this.send(REQ.GET_PROTOCOL_FEATURES);
    const pf = (await this.reply(REQ.GET_PROTOCOL_FEATURES)).getBigUint64(0, true);
    this.send(REQ.SET_PROTOCOL_FEATURES, VhostFrontend.u64(pf & PF_REPLY_ACK));
    this.ack = (pf & PF_REPLY_ACK) !== 0n;
    if (!(await this.call1(REQ.SET_OWNER))) throw new Error('SET_OWNER refused');
    const size = BigInt(this.mem.length);
    if (!(await this.call1(REQ.SET_MEM_TABLE, this.memTable([{ gpa: 0n, size, uva: UVA_BASE, offset: 0n }]), [this.memFd]))) {
      throw new Error('SET_MEM_TABLE refused');
    }
    for (let i = 0; i < 2 * this.pairs; i++) await this.startRing(i);
    return this.features;
  }

  /** Sets ring i up (again), its indexes starting at `base` (qemu passes the last avail index on a
   * reconnect; tests use it to reach the 16-bit wrap quickly). */
  async startRing(i: number, base = 0): Promise<void> {
    this.mem.fill(0, RING_BASE + i * RING_AREA, RING_BASE + (i + 1) * RING_AREA);
    this.nextDesc[i] = 0;
    this.availIdx[i] = base & 0xffff;
    this.usedSeen[i] = base & 0xffff;
    this.view.setUint16(RING_BASE + i * RING_AREA + 0x4000 + 2, base & 0xffff, true);
    this.view.setUint16(RING_BASE + i * RING_AREA + 0x8000 + 2, base & 0xffff, true);
    const ok = (await this.call1(REQ.SET_VRING_NUM, VhostFrontend.state(i, this.ringSize))) &&
      (await this.call1(REQ.SET_VRING_ADDR, this.ringAddr(i))) &&
      (await this.call1(REQ.SET_VRING_BASE, VhostFrontend.state(i, base & 0xffff)));
    if (!ok) throw new Error(`ring ${i} setup refused`);
    this.kick[i] ??= this.n.eventfdCreate();
    this.call[i] ??= this.n.eventfdCreate();
    if (!(await this.call1(REQ.SET_VRING_KICK, VhostFrontend.u64(BigInt(i)), [this.kick[i]]))) throw new Error('kick refused');
    if (!(await this.call1(REQ.SET_VRING_CALL, VhostFrontend.u64(BigInt(i)), [this.call[i]]))) throw new Error('call refused');
    if (!(await this.call1(REQ.SET_VRING_ENABLE, VhostFrontend.state(i, 1)))) throw new Error('enable refused');
  }

  get hdrLen(): number {
    return this.features & (F.MRG_RXBUF | F.VERSION_1) ? 12 : 10;
  }

  descAddr(ring: number, i: number): number {
    return RING_BASE + ring * RING_AREA + 16 * i;
  }
  /** Writes descriptor i of `ring` as given (any values: the test decides what is garbage). */
  writeDesc(ring: number, i: number, addr: bigint, len: number, flags: number, next: number): void {
    const o = this.descAddr(ring, i);
    this.view.setBigUint64(o, addr, true);
    this.view.setUint32(o + 8, len, true);
    this.view.setUint16(o + 12, flags, true);
    this.view.setUint16(o + 14, next, true);
  }
  /** Puts `head` in the next avail entry and publishes (avail idx += 1); no kick. */
  pushAvail(ring: number, head: number): void {
    const a = RING_BASE + ring * RING_AREA + 0x4000;
    const idx = this.availIdx[ring];
    this.view.setUint16(a + 4 + 2 * (idx % this.ringSize), head, true);
    this.availIdx[ring] = (idx + 1) & 0xffff;
    this.view.setUint16(a + 2, this.availIdx[ring], true);
  }
  /** Sets the avail index directly (garbage). */
  setAvailIdx(ring: number, v: number): void {
    this.availIdx[ring] = v & 0xffff;
    this.view.setUint16(RING_BASE + ring * RING_AREA + 0x4000 + 2, v & 0xffff, true);
  }
  /** EVENT_IDX, the driver's side: used_event (after the avail ring): "interrupt me when the used
   * index moves past this". */
  setUsedEvent(ring: number, v: number): void {
    this.view.setUint16(RING_BASE + ring * RING_AREA + 0x4000 + 4 + 2 * this.ringSize, v & 0xffff, true);
  }
  /** EVENT_IDX, the device's side: avail_event (after the used ring): "kick me when the avail index
   * moves past this". */
  availEvent(ring: number): number {
    return this.view.getUint16(RING_BASE + ring * RING_AREA + 0x8000 + 4 + 8 * this.ringSize, true);
  }
  usedFlags(ring: number): number {
    return this.view.getUint16(RING_BASE + ring * RING_AREA + 0x8000, true);
  }
  /** The avail index the driver last published on `ring`. */
  availIndex(ring: number): number {
    return this.availIdx[ring];
  }
  usedIdx(ring: number): number {
    return this.view.getUint16(RING_BASE + ring * RING_AREA + 0x8000 + 2, true);
  }
  usedElem(ring: number, k: number): { id: number; len: number } {
    const o = RING_BASE + ring * RING_AREA + 0x8000 + 4 + 8 * (k % this.ringSize);
    return { id: this.view.getUint32(o, true), len: this.view.getUint32(o + 4, true) };
  }
  doKick(ring: number): void {
    this.n.eventfdWrite(this.kick[ring]);
  }
  private alloc(len: number): number {
    const a = this.bufNext;
    this.bufNext += (len + 63) & ~63;
    if (this.bufNext > this.mem.length) {
      this.bufNext = BUF_BASE + ((len + 63) & ~63);
      return BUF_BASE;
    }
    return a;
  }

  /** The guest sends `frame` with virtio-net header `hdr` (zeros by default) on pair `pair`'s
   * transmit ring, split into descriptors of at most `piece` bytes. Returns the head. */
  transmit(frame: Uint8Array, opts: { hdr?: Uint8Array; piece?: number; pair?: number; kick?: boolean } = {}): number {
    const ring = 2 * (opts.pair ?? 0) + 1;
    const h = this.hdrLen;
    const bytes = new Uint8Array(h + frame.length);
    if (opts.hdr) bytes.set(opts.hdr.subarray(0, h));
    bytes.set(frame, h);
    const addr = this.alloc(bytes.length);
    this.mem.set(bytes, addr);
    const piece = opts.piece ?? bytes.length;
    const pieces = Math.max(1, Math.ceil(bytes.length / piece));
    const head = this.nextDesc[ring];
    for (let k = 0; k < pieces; k++) {
      const d = (head + k) % this.ringSize;
      const len = Math.min(piece, bytes.length - k * piece);
      this.writeDesc(ring, d, BigInt(addr + k * piece), len, k < pieces - 1 ? DESC_F_NEXT : 0, (d + 1) % this.ringSize);
    }
    this.nextDesc[ring] = (head + pieces) % this.ringSize;
    this.pushAvail(ring, head);
    if (opts.kick !== false) this.doKick(ring);
    return head;
  }

  /** The guest posts `count` receive buffers of `size` bytes on pair `pair`'s receive ring. */
  postRx(count: number, size: number, pair = 0): void {
    const ring = 2 * pair;
    for (let k = 0; k < count; k++) {
      const d = this.nextDesc[ring];
      this.writeDesc(ring, d, BigInt(this.alloc(size)), size, DESC_F_WRITE, 0);
      this.nextDesc[ring] = (d + 1) % this.ringSize;
      this.pushAvail(ring, d);
    }
  }

  /** Frames the back end delivered on pair `pair`'s receive ring since the last call (merging
   * num_buffers chains): each as its header and frame bytes. */
  received(pair = 0): { hdr: Uint8Array; frame: Uint8Array }[] {
    const ring = 2 * pair;
    const out: { hdr: Uint8Array; frame: Uint8Array }[] = [];
    const h = this.hdrLen;
    const end = this.usedIdx(ring);
    while (this.usedSeen[ring] !== end) {
      const first = this.usedElem(ring, this.usedSeen[ring]);
      this.usedSeen[ring] = (this.usedSeen[ring] + 1) & 0xffff;
      const addr = Number(this.view.getBigUint64(this.descAddr(ring, first.id), true));
      const hdr = this.mem.slice(addr, addr + h);
      const nb = h === 12 ? hdr[10] | (hdr[11] << 8) : 1;
      const parts = [this.mem.slice(addr + h, addr + first.len)];
      for (let k = 1; k < nb; k++) {
        const e = this.usedElem(ring, this.usedSeen[ring]);
        this.usedSeen[ring] = (this.usedSeen[ring] + 1) & 0xffff;
        const a = Number(this.view.getBigUint64(this.descAddr(ring, e.id), true));
        parts.push(this.mem.slice(a, a + e.len));
      }
      const total = parts.reduce((s, p) => s + p.length, 0);
      const frame = new Uint8Array(total);
      let o = 0;
      for (const p of parts) {
        frame.set(p, o);
        o += p.length;
      }
      if (first.len >= h) out.push({ hdr, frame });
    }
    return out;
  }

  close(): void {
    this.n.close(this.conn);
    for (const fd of [...this.kick, ...this.call]) if (fd !== undefined) this.n.close(fd);
    this.n.close(this.memFd);
  }
}
