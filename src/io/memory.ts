/**
 * In-memory fakes of the I/O interfaces (STYLE.md 12, after wireguard-go's tuntest and smoltcp's
 * Loopback): MemoryPort is a TAP queue, MemoryUplink an underlay socket, MemoryUnderlay the wire
 * between several MemoryUplinks. Tests push frames in as Uint8Arrays, run the dataplane, and pull
 * what it wrote; no root, no devices.
 *
 * They behave like the real ones where it matters to the dataplane: reads copy into slots at
 * HEADROOM and never block; every queue is bounded and counts what it drops (a full receive
 * queue drops on push, a full transmit queue makes write() return fewer); onReadable is
 * level-triggered: it fires in a microtask after a push, and again on a later turn while frames
 * stay unread. The fakes copy frames, so they allocate per frame: they are for tests, not speed.
 */
import { HEADROOM, type FrameBatch, type FramePort, type Uplink } from './types.js';

/** A bounded FIFO (ring) of items. */
class Ring<T> {
  private items: (T | undefined)[];
  private head = 0;
  length = 0;

  constructor(readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`queue limit must be a positive integer, got ${limit}`);
    this.items = new Array<T | undefined>(limit);
  }

  push(x: T): boolean {
    if (this.length === this.limit) return false;
    this.items[(this.head + this.length) % this.limit] = x;
    this.length++;
    return true;
  }

  shift(): T | undefined {
    if (this.length === 0) return undefined;
    const x = this.items[this.head];
    this.items[this.head] = undefined;
    this.head = (this.head + 1) % this.limit;
    this.length--;
    return x;
  }

  /** Everything queued, oldest first (empties the ring). */
  drain(): T[] {
    const out: T[] = [];
    for (let x = this.shift(); x !== undefined; x = this.shift()) out.push(x);
    return out;
  }

  clear(): void {
    while (this.length) this.shift();
  }
}

/** Level-triggered readiness for a fake: a microtask after a push, then one per loop turn while
 * frames remain (an unref'd setImmediate, so a fake never keeps the process alive). */
class Readiness {
  private cb: (() => void) | undefined;
  private armed = false;
  private readonly fire = (): void => {
    this.armed = false;
    if (!this.cb || !this.ready()) return;
    this.cb();
    if (this.ready()) this.arm(false);
  };

  constructor(private readonly ready: () => boolean) {}

  set(cb: (() => void) | undefined): void {
    this.cb = cb;
    if (cb && this.ready()) this.arm(true);
  }

  arm(micro: boolean): void {
    if (this.armed || !this.cb) return;
    this.armed = true;
    if (micro) queueMicrotask(this.fire);
    else setImmediate(this.fire).unref();
  }
}

/** Copies `frame` into slot `slot` of `b` at HEADROOM; false when it does not fit. */
function fill(b: FrameBatch, slot: number, frame: Uint8Array): boolean {
  const start = slot * b.slotSize + HEADROOM;
  if (frame.length > b.slotSize - HEADROOM) return false;
  b.slab.set(frame, start);
  b.start[slot] = start;
  b.len[slot] = frame.length;
  return true;
}

function copyOut(b: FrameBatch, slot: number): Uint8Array {
  const s = b.start[slot];
  return b.slab.slice(s, s + b.len[slot]);
}

export interface MemoryQueueOptions {
  /** Frames each direction holds before it drops (default 1024). */
  queueLimit?: number;
}

/** A fake TAP queue: `push` is a frame from the tenant, `pull` a frame the dataplane delivered. */
export class MemoryPort implements FramePort {
  /** Frames pushed while the receive queue was full. */
  rxDrops = 0;
  /** Frames the dataplane wrote while the transmit queue was full. */
  txDrops = 0;
  /** Frames too large for the reader's slots (dropped). */
  oversize = 0;
  private readonly rx: Ring<Uint8Array>;
  private readonly tx: Ring<Uint8Array>;
  private readonly readiness = new Readiness(() => this.rx.length > 0);
  private closed = false;

  constructor(
    readonly name: string,
    opts: MemoryQueueOptions = {},
  ) {
    this.rx = new Ring(opts.queueLimit ?? 1024);
    this.tx = new Ring(opts.queueLimit ?? 1024);
  }

  /** A frame from the tenant (copied); false (and counted) when the queue is full or the port closed. */
  push(frame: Uint8Array): boolean {
    if (this.closed || !this.rx.push(frame.slice())) {
      this.rxDrops++;
      return false;
    }
    this.readiness.arm(true);
    return true;
  }

  /** The oldest frame the dataplane wrote to this port, if any. */
  pull(): Uint8Array | undefined {
    return this.tx.shift();
  }

  /** Every frame written so far, oldest first (empties the queue). */
  pullAll(): Uint8Array[] {
    return this.tx.drain();
  }

  /** Frames pushed and not yet read. */
  get pending(): number {
    return this.rx.length;
  }

  /** Frames written and not yet pulled. */
  get queued(): number {
    return this.tx.length;
  }

  read(b: FrameBatch): number {
    let n = 0;
    while (n < b.capacity && this.rx.length > 0) {
      const f = this.rx.shift() as Uint8Array;
      if (fill(b, n, f)) n++;
      else this.oversize++;
    }
    b.count = n;
    return n;
  }

  write(b: FrameBatch, idx: Int32Array, count: number): number {
    if (this.closed) return 0;
    let k = 0;
    for (; k < count; k++) {
      if (!this.tx.push(copyOut(b, idx[k]))) break;
    }
    this.txDrops += count - k;
    return k;
  }

  onReadable(cb: () => void): void {
    this.readiness.set(cb);
  }

  close(): void {
    this.closed = true;
    this.readiness.set(undefined);
    this.rx.clear();
  }
}

/** A frame on the fake underlay: what follows the outer IPv4 header, and its addresses. */
export interface UplinkFrame {
  frame: Uint8Array;
  /** Outer IPv4 source, host order. */
  src: number;
  /** Outer IPv4 destination, host order. */
  dst: number;
  /** A UDP GRO buffer: datagrams of this many bytes back to back after the UDP header. */
  gro?: number;
}

export interface MemoryUplinkOptions extends MemoryQueueOptions {
  /** This host's provider addresses (host order); the first is the source when srcAddr is 0. */
  localAddrs?: number[];
  /** Act as a VXLAN socket with UDP GRO: reads report groSize (see pushGro). */
  gro?: boolean;
}

/** A fake underlay socket: `push` is a packet from the wire, `pull` one the dataplane sent
 * (unless the uplink is attached to a MemoryUnderlay, which delivers it to the peer instead). */
export class MemoryUplink implements Uplink {
  rxDrops = 0;
  txDrops = 0;
  oversize = 0;
  readonly localAddrs: number[];
  readonly groSize?: Uint16Array;
  /** Set by MemoryUnderlay.attach. */
  underlay: MemoryUnderlay | undefined;
  private readonly rx: Ring<UplinkFrame>;
  private readonly tx: Ring<UplinkFrame>;
  private readonly readiness = new Readiness(() => this.rx.length > 0);
  private closed = false;

  constructor(
    readonly kind: 'vxlan' | 'nvgre',
    opts: MemoryUplinkOptions = {},
  ) {
    this.localAddrs = opts.localAddrs ?? [];
    if (opts.gro) this.groSize = new Uint16Array(1024);
    this.rx = new Ring(opts.queueLimit ?? 1024);
    this.tx = new Ring(opts.queueLimit ?? 1024);
  }

  /** A packet from the wire (copied); `dst` defaults to the first local address. */
  push(frame: Uint8Array, src: number, dst: number = this.localAddrs[0] ?? 0): boolean {
    if (this.closed || !this.rx.push({ frame: frame.slice(), src: src >>> 0, dst: dst >>> 0 })) {
      this.rxDrops++;
      return false;
    }
    this.readiness.arm(true);
    return true;
  }

  /** A UDP GRO buffer from the wire: `datagrams` (UDP payloads: VXLAN + frame, all the same
   * size but the last) behind one UDP header, as the kernel hands them to a socket with UDP_GRO. */
  pushGro(datagrams: readonly Uint8Array[], src: number, dst: number = this.localAddrs[0] ?? 0): boolean {
    const total = datagrams.reduce((n, d) => n + d.length, 0);
    const buf = new Uint8Array(8 + total);
    buf[2] = 0x12;
    buf[3] = 0xb5; // destination port 4789
    buf[4] = ((8 + total) >>> 8) & 0xff;
    buf[5] = (8 + total) & 0xff;
    let o = 8;
    for (const d of datagrams) {
      buf.set(d, o);
      o += d.length;
    }
    if (this.closed || !this.rx.push({ frame: buf, src: src >>> 0, dst: dst >>> 0, gro: datagrams.length > 1 ? datagrams[0].length : 0 })) {
      this.rxDrops++;
      return false;
    }
    this.readiness.arm(true);
    return true;
  }

  pull(): UplinkFrame | undefined {
    return this.tx.shift();
  }

  pullAll(): UplinkFrame[] {
    return this.tx.drain();
  }

  get pending(): number {
    return this.rx.length;
  }

  get queued(): number {
    return this.tx.length;
  }

  read(b: FrameBatch, srcAddr: Uint32Array, dstAddr: Uint32Array): number {
    let n = 0;
    while (n < b.capacity && this.rx.length > 0) {
      const f = this.rx.shift() as UplinkFrame;
      if (!fill(b, n, f.frame)) {
        this.oversize++;
        continue;
      }
      srcAddr[n] = f.src;
      dstAddr[n] = f.dst;
      if (this.groSize) this.groSize[n] = f.gro ?? 0;
      n++;
    }
    b.count = n;
    return n;
  }

  write(b: FrameBatch, idx: Int32Array, srcAddr: Uint32Array, dstAddr: Uint32Array, count: number): number {
    if (this.closed) return 0;
    let k = 0;
    for (; k < count; k++) {
      const f: UplinkFrame = { frame: copyOut(b, idx[k]), src: srcAddr[k] || (this.localAddrs[0] ?? 0), dst: dstAddr[k] };
      if (this.underlay) this.underlay.deliver(this, f);
      else if (!this.tx.push(f)) break;
    }
    this.txDrops += count - k;
    return k;
  }

  onReadable(cb: () => void): void {
    this.readiness.set(cb);
  }

  close(): void {
    this.closed = true;
    this.readiness.set(undefined);
    this.rx.clear();
    this.underlay?.detach(this);
  }
}

/** The fake physical network between hosts: delivers what one MemoryUplink sends to the uplink
 * of the same kind that owns the destination address. */
export class MemoryUnderlay {
  /** Packets sent to an address no attached uplink owns. */
  noRoute = 0;
  /** Every packet delivered or not, in order, when `record` is on (for assertions). */
  readonly log: (UplinkFrame & { kind: 'vxlan' | 'nvgre' })[] = [];
  private readonly uplinks: MemoryUplink[] = [];

  constructor(private readonly record = false) {}

  attach(u: MemoryUplink): void {
    for (const a of u.localAddrs) {
      if (this.uplinks.some((o) => o.kind === u.kind && o.localAddrs.includes(a))) {
        throw new Error(`MemoryUnderlay: address ${a >>> 0} is already attached for ${u.kind}`);
      }
    }
    this.uplinks.push(u);
    u.underlay = this;
  }

  detach(u: MemoryUplink): void {
    const i = this.uplinks.indexOf(u);
    if (i >= 0) this.uplinks.splice(i, 1);
    u.underlay = undefined;
  }

  deliver(from: MemoryUplink, f: UplinkFrame): void {
    if (this.record) this.log.push({ ...f, kind: from.kind });
    const to = this.uplinks.find((u) => u.kind === from.kind && u.localAddrs.includes(f.dst));
    if (to) to.push(f.frame, f.src, f.dst);
    else this.noRoute++;
  }
}
