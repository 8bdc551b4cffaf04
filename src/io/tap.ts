/**
 * A tenant port backed by one queue of a Linux TAP device (FramePort over native-bindings).
 *
 * Frames are read straight into the caller's slab at HEADROOM of each slot and written from
 * wherever `start` points, one native call per batch; the path allocates nothing. Readiness comes
 * from a level-triggered uv_poll on this thread's loop, so a TapQueue belongs to the thread that
 * opened it (a worker opens its own queue of a multi-queue device).
 *
 * With `vnetHdr` every frame on the fd is preceded by a virtio-net header (10 or 12 bytes). It is
 * read into the bytes just before the frame, so `start[i]` still points at the Ethernet header
 * and the header is at `start[i] - vnetHdrSize` for the dataplane to inspect; on write the same
 * bytes in front of each frame are sent (zeroed first unless `vnetHdrOnWrite: 'caller'`).
 *
 * With a TapRing (io/uring.ts) a batch is one io_uring_enter instead of a read()/write() per frame;
 * the semantics are the same. If the kernel refuses the ring's requests on this fd (EOPNOTSUPP),
 * the queue goes back to read()/write() for good and counts it (UringStat.Fallbacks).
 */
import { Errno, errnoError } from './errno.js';
import { loadNative, type NativeAddon, type PollHandle } from './native.js';
import { HEADROOM, type FrameBatch, type FramePort } from './types.js';
import { UringStat, type TapRing } from './uring.js';

/** Reads the first io_uring round of a wake-up starts with: one more than the last batch read, so
 * a steady stream is read in one round with one empty read at its end. At RING_HINT_MIN (the last
 * wake-up read one frame or none: a trickle, a ping) the queue reads with read() instead, and a
 * single frame is written with write(): one syscall either way, and a lone frame takes exactly the
 * path it took before io_uring. */
const RING_HINT_MIN = 2;
const RING_HINT_MAX = 64;
const nextHint = (got: number): number => (got < RING_HINT_MIN ? RING_HINT_MIN : got >= RING_HINT_MAX ? RING_HINT_MAX : got + 1);

export interface TapOptions {
  /** IFF_MULTI_QUEUE: open more queues of the same device with further TapQueue.open calls. */
  multiQueue?: boolean;
  /** IFF_TUN_EXCL: create the device, never attach to one that exists (EBUSY). Only the first
   * queue of a device can be exclusive: the others attach to it by name. */
  exclusive?: boolean;
  /** IFF_VNET_HDR: frames carry a virtio-net header (needed for checksum/TSO offloads). */
  vnetHdr?: boolean;
  /** Size of that header: 10 (virtio_net_hdr) or 12 (with num_buffers, virtio 1.0). Default 12. */
  vnetHdrSize?: 10 | 12;
  /** TUNSETOFFLOAD flags (native constants TUN_F_*); only with vnetHdr. Default: none. */
  offload?: number;
  /** With vnetHdr: 'zero' (default) writes an all-zero header (no offload) in front of each frame;
   * 'caller' sends the bytes the caller put at start - vnetHdrSize. */
  vnetHdrOnWrite?: 'zero' | 'caller';
  /** Not a TAP but an AF_PACKET socket of native packetOpen (the bound NIC of an External switch,
   * fromFd only): reads go through packetReadBatch, never the ring, because a plain read returns a
   * frame the kernel took the VLAN tag off as untagged; packetReadBatch puts the tag back, and the
   * dataplane drops the frame (vlan-tagged). Writes are as on a TAP. */
  packet?: boolean;
}

export class TapQueue implements FramePort {
  /** Bytes of virtio-net header in front of each frame on the fd; 0 without vnetHdr. */
  readonly vnetHdrSize: number;
  /** Frames the kernel refused on write (not counting a full queue), and the last such error. */
  writeErrors = 0;
  lastWriteError: NodeJS.ErrnoException | undefined;
  readErrors = 0;
  lastReadError: NodeJS.ErrnoException | undefined;

  private poll: PollHandle | undefined;
  private closed = false;
  private readonly zeroVnetHdr: boolean;
  private readonly packet: boolean;
  /** The fd belongs to another thread (fromFd): close() stops polling only. */
  private borrowed = false;
  /** io_uring batches (fromFd with a ring); undefined: read()/write(). */
  private ring: TapRing | undefined;
  private ringHint = 8;

  private constructor(
    private readonly n: NativeAddon,
    /** The queue's file descriptor (for tests and diagnostics; do not close it directly). */
    readonly fd: number,
    /** The device name the kernel gave. */
    readonly name: string,
    opts: TapOptions,
  ) {
    this.vnetHdrSize = opts.vnetHdr ? (opts.vnetHdrSize ?? 12) : 0;
    this.zeroVnetHdr = opts.vnetHdrOnWrite !== 'caller';
    this.packet = opts.packet === true;
  }

  /** Opens (creating if needed) TAP device `name` and returns one queue of it. Throws an Error
   * with `.code` (EPERM without CAP_NET_ADMIN, EBUSY if the device exists with other flags or at all with
   * `exclusive`, ...). */
  static open(name: string, opts: TapOptions = {}): TapQueue {
    if (opts.packet) throw new Error(`TapQueue.open ${name}: a packet socket comes through fromFd`);
    const n = loadNative();
    const { fd, name: actual } = n.tapOpen(name, { multiQueue: opts.multiQueue, vnetHdr: opts.vnetHdr, exclusive: opts.exclusive });
    try {
      if (opts.vnetHdr) {
        n.tapSetVnetHdrSize(fd, opts.vnetHdrSize ?? 12);
        if (opts.offload !== undefined) n.tapSetOffload(fd, opts.offload);
      } else if (opts.offload) {
        throw new Error(`TapQueue.open ${actual}: offload needs vnetHdr`);
      }
    } catch (e) {
      n.close(fd);
      throw e;
    }
    return new TapQueue(n, fd, actual, opts);
  }

  /**
   * A queue over an fd another thread opened with `open` and the same options (fds are
   * process-wide): a worker forwards on it, the opener keeps ownership and closes it.
   */
  static fromFd(fd: number, name: string, opts: TapOptions = {}, ring?: TapRing): TapQueue {
    const q = new TapQueue(loadNative(), fd, name, opts);
    q.borrowed = true;
    q.ring = ring;
    return q;
  }

  /** 'uring' while batches go through an io_uring, else 'syscall'. */
  get ioMode(): 'uring' | 'syscall' {
    return this.ring ? 'uring' : 'syscall';
  }

  /** A ring call the kernel refused for this fd (EOPNOTSUPP: no RWF_NOWAIT on it; not an I/O
   * error of the queue, and not EINVAL, which a write of a bad vnet header returns either way):
   * from now on read()/write(). Returns true when it did so (the caller repeats the call). */
  private ringRefused(ret: number): boolean {
    if (!this.ring || ret !== -Errno.EOPNOTSUPP) return false;
    this.ring.stats[UringStat.Fallbacks]++;
    this.ring = undefined;
    return true;
  }

  read(b: FrameBatch): number {
    const h = this.vnetHdrSize;
    let got: number;
    if (this.packet) {
      got = this.n.packetReadBatch(this.fd, b.slab, b.start, b.len, b.slotSize, HEADROOM, b.capacity);
    } else if (this.ring && this.ringHint > RING_HINT_MIN) {
      got = this.ring.read(this.fd, b.slab, b.start, b.len, b.slotSize, HEADROOM - h, b.capacity, this.ringHint);
      if (got < 0 && this.ringRefused(got)) got = this.n.readBatch(this.fd, b.slab, b.start, b.len, b.slotSize, HEADROOM - h, b.capacity);
    } else {
      got = this.n.readBatch(this.fd, b.slab, b.start, b.len, b.slotSize, HEADROOM - h, b.capacity);
    }
    if (got >= 0) this.ringHint = nextHint(got);
    if (got < 0) {
      // counted, never thrown on the fast path; a queue whose device is gone (EBADFD: detached,
      // EBADF/ENODEV: closed or removed, e.g. while the agent shuts down) stops polling instead
      // of waking the loop forever
      this.readErrors++;
      this.lastReadError = errnoError(got, `read from TAP ${this.name}`, 'read');
      if (got === -Errno.EBADFD || got === -Errno.EBADF || got === -Errno.ENODEV) this.stopPolling();
      b.count = 0;
      return 0;
    }
    if (h > 0) {
      for (let i = 0; i < got; i++) {
        b.start[i] += h;
        b.len[i] = b.len[i] >= h ? b.len[i] - h : 0;
      }
    }
    b.count = got;
    return got;
  }

  write(b: FrameBatch, idx: Int32Array, count: number): number {
    const h = this.vnetHdrSize;
    if (h > 0 && this.zeroVnetHdr) {
      for (let k = 0; k < count; k++) {
        const s = b.start[idx[k]];
        if (s >= h) b.slab.fill(0, s - h, s);
      }
    }
    let sent = this.ring && count > 1 ? this.ring.write(this.fd, b.slab, b.start, b.len, idx, count, h) : this.n.writeBatch(this.fd, b.slab, b.start, b.len, idx, count, h);
    if (sent < 0 && this.ringRefused(sent)) sent = this.n.writeBatch(this.fd, b.slab, b.start, b.len, idx, count, h);
    if (sent < 0) {
      this.writeErrors += count;
      this.lastWriteError = errnoError(sent, `write to TAP ${this.name}`, 'write');
      return 0;
    }
    return sent;
  }

  /** Starts calling `cb` while frames are ready (replacing an earlier callback). */
  onReadable(cb: () => void): void {
    if (this.closed) throw new Error(`TAP ${this.name}: onReadable after close`);
    this.stopPolling();
    this.poll = this.n.pollStart(this.fd, cb);
  }

  /** Stops readiness callbacks (for backpressure); onReadable starts them again. */
  stopPolling(): void {
    if (this.poll) this.n.pollStop(this.poll);
    this.poll = undefined;
  }

  /** TUNSETOFFLOAD (native constants TUN_F_*). */
  setOffload(flags: number): void {
    this.n.tapSetOffload(this.fd, flags);
  }

  /** Detaches this queue from a multi-queue device (the kernel stops steering frames to it) or attaches it again. */
  setQueueAttached(attached: boolean): void {
    this.n.tapSetQueue(this.fd, attached);
  }

  /** Stops polling and closes the fd; a non-persistent device disappears with its last queue. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.stopPolling();
    if (!this.borrowed) this.n.close(this.fd);
  }
}
