/**
 * The host's underlay endpoints (Uplink over native-bindings): VXLAN and NVGRE over IPv4.
 *
 * VXLAN receives on a UDP socket bound to PA:4789, so the kernel demultiplexes by port and
 * checks the UDP checksum; it sends through a raw IPPROTO_UDP socket (send-only: a drop-all BPF
 * filter keeps the host's other UDP traffic out of it), because switchyard writes the UDP header
 * itself to put the inner flow's hash in the source port, as the kernel's vxlan does. The UDP
 * socket strips the UDP header on receive, so `read` puts an equivalent one back in the 8 bytes
 * in front (source port as received, destination the local port, checksum 0): frames always
 * start at the UDP header, as the Uplink contract says.
 * NVGRE uses one raw socket of IP protocol 47 for both directions; the kernel hands received
 * packets over with their IPv4 header, which `read` skips.
 * Either way the payload lands at HEADROOM of its slot (for IPv4 without options), and the
 * kernel writes the outer IPv4 header on send, choosing the source from srcAddr (IP_PKTINFO).
 */
import { Errno, errnoError } from './errno.js';
import { loadNative, type NativeAddon, type PollHandle } from './native.js';
import { NvgreTxRing, type NvgreTxMode, type RawSend } from './nvgre-tx-ring.js';
import { HEADROOM, type FrameBatch, type Uplink } from './types.js';

export const VXLAN_PORT = 4789;
export const IPPROTO_UDP = 17;
export const IPPROTO_GRE = 47;
const UDP_HEADER = 8;
const IPV4_HEADER = 20;
/** recvmmsg/sendmmsg take at most this many messages per call (UIO_MAXIOV). */
const MAX_BATCH = 1024;

export interface UplinkOptions {
  /** The provider address (IPv4, dotted or host-order number) to receive on. */
  localAddr: string | number;
  /** Bind the receive socket to 0.0.0.0 instead of localAddr (a host whose PAs come and go). */
  bindAny?: boolean;
  /** Socket buffer sizes in bytes (as root past net.core.*mem_max). */
  rcvbuf?: number;
  sndbuf?: number;
}

export interface VxlanUplinkOptions extends UplinkOptions {
  /** UDP port to receive on; default 4789; 0 picks a free one (tests). */
  port?: number;
  /** SO_REUSEPORT on the receive socket: one socket per worker, the kernel spreads flows. */
  reusePort?: boolean;
  /** Send through this many UDP sockets bound to source ports spread over 49152-65535 (one per
   * outer source port, chosen by inner flow hash), with UDP_SEGMENT; 0 (default): the raw socket. */
  gsoPool?: number;
  /** UDP_GRO on the receive socket. */
  gro?: boolean;
}

/** The first source port of the pool; ports are spread evenly from here to 65535. */
export const POOL_BASE_PORT = 49152;
/** UDP_SEGMENT limits: segments per send (UDP_MAX_SEGMENTS) and payload bytes per send. */
export const GSO_MAX_SEGMENTS = 64;
export const GSO_MAX_BYTES = 65507;

/**
 * The send side of VXLAN with segmentation offload: UDP sockets bound to fixed source ports (so
 * the kernel can segment with UDP_SEGMENT, which a raw socket cannot), one per port. A flow's
 * port is ports[hash % size]: different inner flows get different ports with probability
 * 1 - 1/size, and every worker binds the same ports (SO_REUSEPORT), so a flow keeps its port
 * whichever worker sends it. The UDP checksum is the kernel's (offloaded on veth/NICs).
 */
class SendPool {
  readonly ports: Uint16Array;
  readonly fds: Int32Array;
  /** port -> index in fds, -1 if not ours. */
  private readonly byPort = new Int16Array(65536).fill(-1);
  private msgFds = new Int32Array(256);

  constructor(
    private readonly n: NativeAddon,
    bind: number,
    size: number,
    sndbuf: number | undefined,
    /** Sockets opened elsewhere (another thread): [fds, ports]. */
    given?: { fds: readonly number[]; ports: readonly number[] },
  ) {
    this.ports = new Uint16Array(size);
    this.fds = new Int32Array(size).fill(-1);
    if (given) {
      this.fds.set(given.fds);
      this.ports.set(given.ports);
      this.ports.forEach((p, i) => (this.byPort[p] = i));
      return;
    }
    const span = Math.floor((65536 - POOL_BASE_PORT) / size);
    try {
      for (let i = 0; i < size; i++) {
        let port = POOL_BASE_PORT + i * span;
        for (let t = 0; ; t++) {
          try {
            this.fds[i] = n.udpOpen(bind, port, { reusePort: true, sndbuf, rcvbuf: 4096, gsoProbe: true });
            break;
          } catch (e) {
            if ((e as NodeJS.ErrnoException).code !== 'EADDRINUSE' || t >= span - 1) throw e;
            port++;
          }
        }
        this.ports[i] = port;
        this.byPort[port] = i;
      }
    } catch (e) {
      this.close();
      throw e;
    }
  }

  sourcePort(hash: number): number {
    return this.ports[(hash >>> 0) % this.ports.length];
  }

  send(slab: Uint8Array, start: Int32Array, len: Int32Array, gso: Uint16Array, sport: Uint16Array, src: Uint32Array, dst: Uint32Array, count: number, parts?: Uint16Array): number {
    if (this.msgFds.length < count) this.msgFds = new Int32Array(count * 2);
    const f = this.msgFds;
    for (let k = 0; k < count; k++) {
      const i = this.byPort[sport[k]];
      f[k] = this.fds[i < 0 ? 0 : i];
    }
    return this.n.sendMsgs(f, slab, start, len, gso, src, dst, VXLAN_PORT, count, parts);
  }

  close(): void {
    for (const fd of this.fds) if (fd >= 0) this.n.close(fd);
    this.fds.fill(-1);
  }
}

/** "10.0.0.1" or a host-order number -> host-order number. */
export function ipv4ToNumber(a: string | number): number {
  if (typeof a === 'number') {
    if (!Number.isInteger(a) || a < 0 || a > 0xffffffff) throw new RangeError(`bad IPv4 address ${a}`);
    return a;
  }
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(a);
  const parts = m ? m.slice(1).map(Number) : [];
  if (parts.length !== 4 || parts.some((p) => p > 255)) throw new RangeError(`bad IPv4 address "${a}"`);
  return ((parts[0] << 24) | (parts[1] << 16) | (parts[2] << 8) | parts[3]) >>> 0;
}

/** Host-order number -> "10.0.0.1". */
export function numberToIpv4(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

/**
 * The file descriptors of an uplink, to hand it to another thread (fds are process-wide): the
 * thread that opened them closes them; the one that got them builds a borrowed uplink with
 * `uplinkFromFds`, whose close() only stops its polling.
 */
export type UplinkFds =
  | { kind: 'vxlan'; rxFd: number; txFd: number; localAddr: number; port: number; gro: boolean; pool?: { fds: number[]; ports: number[] } }
  | { kind: 'nvgre'; fd: number; localAddr: number; txRing?: NvgreTxMode };

/** An uplink over descriptors another thread opened (and will close). */
export function uplinkFromFds(d: UplinkFds): VxlanUplink | NvgreUplink {
  return d.kind === 'vxlan' ? VxlanUplink.fromFds(d) : NvgreUplink.fromFd(d);
}

/** Shared by both uplinks: polling, close, write accounting. */
abstract class SocketUplink {
  /** Datagrams the kernel refused on send (no route, bad source...), and the last such error. */
  writeErrors = 0;
  lastWriteError: NodeJS.ErrnoException | undefined;
  private poll: PollHandle | undefined;
  protected closed = false;
  /** The fds belong to another thread: close() stops polling only. */
  protected borrowed = false;

  protected constructor(
    protected readonly n: NativeAddon,
    /** The socket that receives. */
    readonly rxFd: number,
    /** The socket that sends (the same as rxFd for NVGRE). */
    readonly txFd: number,
  ) {}

  protected send(b: FrameBatch, idx: Int32Array, srcAddr: Uint32Array, dstAddr: Uint32Array, count: number): number {
    let sent = 0;
    for (let done = 0; done < count; done += MAX_BATCH) {
      const c = Math.min(MAX_BATCH, count - done);
      const i = done === 0 ? idx : idx.subarray(done, done + c);
      const s = done === 0 ? srcAddr : srcAddr.subarray(done, done + c);
      const d = done === 0 ? dstAddr : dstAddr.subarray(done, done + c);
      const r = this.n.sendBatch(this.txFd, b.slab, b.start, b.len, i, s, d, 0, c);
      if (r < 0) {
        this.writeErrors += c;
        this.lastWriteError = errnoError(r, `${this.describe()}: send`, 'sendmmsg');
        continue;
      }
      sent += r;
      if (r < c) break; // queue full: the rest are drops
    }
    return sent;
  }

  protected abstract describe(): string;

  onReadable(cb: () => void): void {
    if (this.closed) throw new Error(`${this.describe()}: onReadable after close`);
    this.stopPolling();
    this.poll = this.n.pollStart(this.rxFd, cb);
  }

  /** Stops readiness callbacks (for backpressure); onReadable starts them again. */
  stopPolling(): void {
    if (this.poll) this.n.pollStop(this.poll);
    this.poll = undefined;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.stopPolling();
    if (this.borrowed) return;
    this.n.close(this.rxFd);
    if (this.txFd !== this.rxFd) this.n.close(this.txFd);
  }
}

export class VxlanUplink extends SocketUplink implements Uplink {
  readonly kind = 'vxlan' as const;
  /** Source ports of the last batch (the UDP socket strips the header that carried them). */
  private srcPort = new Uint16Array(0);
  /** With UDP_GRO: per slot of the last read, the size of each datagram in it (0: just one). */
  groSize: Uint16Array | undefined;
  /** Set while UDP GSO sends work; cleared for good when the kernel refuses them (below). */
  gso: Uplink['gso'];
  /** The GSO send path was refused at run time (EIO: the underlay device cannot checksum). */
  gsoRefused = false;
  private pool: SendPool | undefined;

  private constructor(
    n: NativeAddon,
    rxFd: number,
    txFd: number,
    /** The local address the receive socket is bound to (0: any). */
    readonly localAddr: number,
    /** The UDP port received on (the actual one when 0 was asked). */
    readonly port: number,
    pool: SendPool | undefined,
    gro: boolean,
  ) {
    super(n, rxFd, txFd);
    this.pool = pool;
    if (gro) this.groSize = new Uint16Array(0);
    if (pool) {
      const p = pool;
      this.gso = {
        maxSegments: GSO_MAX_SEGMENTS,
        sourcePort: (h) => p.sourcePort(h),
        writeMsgs: (slab, start, len, gso, sport, src, dst, count, parts) => this.sendPool(slab, start, len, gso, sport, src, dst, count, parts),
      };
    }
  }

  /** Opens the receive socket on localAddr:port and the raw send socket (and the GSO pool when
   * asked). Throws with `.code` (EADDRINUSE: something, e.g. a kernel vxlan device, already holds
   * the port; ENOPROTOOPT: the kernel has no UDP_GRO / UDP_SEGMENT). */
  static open(opts: VxlanUplinkOptions): VxlanUplink {
    const n = loadNative();
    const local = ipv4ToNumber(opts.localAddr);
    const bind = opts.bindAny ? 0 : local;
    const rx = n.udpOpen(bind, opts.port ?? VXLAN_PORT, { reusePort: opts.reusePort, rcvbuf: opts.rcvbuf, gro: opts.gro });
    let tx: number;
    let pool: SendPool | undefined;
    try {
      tx = n.rawOpen(IPPROTO_UDP, bind, { sendOnly: true, sndbuf: opts.sndbuf });
      try {
        if (opts.gsoPool) pool = new SendPool(n, bind, opts.gsoPool, opts.sndbuf);
      } catch (e) {
        n.close(tx);
        throw e;
      }
    } catch (e) {
      n.close(rx);
      throw e;
    }
    return new VxlanUplink(n, rx, tx, bind, n.sockName(rx).port, pool, opts.gro === true);
  }

  /** A borrowed uplink over another thread's sockets (see UplinkFds). */
  static fromFds(d: Extract<UplinkFds, { kind: 'vxlan' }>): VxlanUplink {
    const n = loadNative();
    const pool = d.pool ? new SendPool(n, d.localAddr, d.pool.fds.length, undefined, d.pool) : undefined;
    const u = new VxlanUplink(n, d.rxFd, d.txFd, d.localAddr, d.port, pool, d.gro);
    u.borrowed = true;
    return u;
  }

  /** This uplink's descriptors, for another thread. */
  fds(): UplinkFds {
    const pool = this.pool ? { fds: [...this.pool.fds], ports: [...this.pool.ports] } : undefined;
    return { kind: 'vxlan', rxFd: this.rxFd, txFd: this.txFd, localAddr: this.localAddr, port: this.port, gro: this.groSize !== undefined, ...(pool ? { pool } : {}) };
  }

  private sendPool(slab: Uint8Array, start: Int32Array, len: Int32Array, gso: Uint16Array, sport: Uint16Array, src: Uint32Array, dst: Uint32Array, count: number, parts?: Uint16Array): number {
    const r = this.pool!.send(slab, start, len, gso, sport, src, dst, count, parts);
    if (r === -Errno.EIO) {
      // the kernel takes UDP_SEGMENT only where the device finishes checksums (a NIC without tx
      // checksum offload, e.g. qemu's socket netdev, answers EIO): fall back to one datagram per
      // segment on the raw socket from the next batch on; this batch is lost (TCP resends it)
      this.gso = undefined;
      this.gsoRefused = true;
      this.writeErrors += count;
      this.lastWriteError = errnoError(r, `${this.describe()}: UDP GSO refused, sending plain datagrams from now on`, 'sendmmsg');
      return 0;
    }
    if (r < 0) {
      this.writeErrors += count;
      this.lastWriteError = errnoError(r, `${this.describe()}: send`, 'sendmmsg');
      return 0;
    }
    return r;
  }

  override close(): void {
    super.close();
    if (!this.borrowed) this.pool?.close();
    this.pool = undefined;
  }

  protected describe(): string {
    return `VXLAN uplink ${numberToIpv4(this.localAddr)}:${this.port}`;
  }

  read(b: FrameBatch, srcAddr: Uint32Array, dstAddr: Uint32Array): number {
    const max = Math.min(b.capacity, MAX_BATCH);
    if (this.srcPort.length < max) this.srcPort = new Uint16Array(max);
    const sp = this.srcPort;
    let gs = this.groSize;
    if (gs && gs.length < max) gs = this.groSize = new Uint16Array(max);
    // Receive 8 bytes further in, then write the UDP header into those 8 bytes.
    const got = this.n.recvBatch(this.rxFd, b.slab, b.start, b.len, b.slotSize, HEADROOM + UDP_HEADER, srcAddr, dstAddr, max, sp, gs);
    if (got < 0) throw errnoError(got, `${this.describe()}: receive`, 'recvmmsg');
    const v = b.view;
    for (let i = 0; i < got; i++) {
      const l = b.len[i];
      if (l === 0) continue; // truncated: stays empty so the caller drops it
      const s = b.start[i] - UDP_HEADER;
      v.setUint16(s, sp[i]);
      v.setUint16(s + 2, this.port);
      v.setUint16(s + 4, Math.min(l + UDP_HEADER, 0xffff)); // a GRO buffer may be longer than one datagram
      v.setUint16(s + 6, 0); // checked by the kernel already
      b.start[i] = s;
      b.len[i] = l + UDP_HEADER;
    }
    b.count = got;
    return got;
  }

  /** Sends UDP+VXLAN+inner frames (the UDP header written by the caller) to dstAddr[k]. */
  write(b: FrameBatch, idx: Int32Array, srcAddr: Uint32Array, dstAddr: Uint32Array, count: number): number {
    return this.send(b, idx, srcAddr, dstAddr, count);
  }
}

export interface NvgreUplinkOptions extends UplinkOptions {
  /** Send through an AF_PACKET socket (io/nvgre-tx-ring.ts: 'ring', a PACKET_MMAP TX ring, or
   * 'mmsg', sendmmsg) where the next hop is resolved; the raw socket stays for everything else. */
  txRing?: NvgreTxMode;
}

export class NvgreUplink extends SocketUplink implements Uplink {
  readonly kind = 'nvgre' as const;
  /** The TX ring, opened by the thread that sends (each worker its own). */
  readonly txRing: NvgreTxRing | undefined;
  private readonly rawSend: RawSend;
  private rawB: FrameBatch | undefined;

  private constructor(
    n: NativeAddon,
    fd: number,
    /** The local address the socket is bound to (0: any). */
    readonly localAddr: number,
    txRing: NvgreTxMode | undefined,
  ) {
    super(n, fd, fd);
    this.txRing = txRing ? new NvgreTxRing(n, { mode: txRing }) : undefined;
    this.rawSend = (idx, src, dst, count) => this.send(this.rawB!, idx, src, dst, count);
  }

  /** Opens a raw IP protocol 47 socket bound to localAddr. Throws with `.code` (EPERM without CAP_NET_RAW). */
  static open(opts: NvgreUplinkOptions): NvgreUplink {
    const n = loadNative();
    const bind = opts.bindAny ? 0 : ipv4ToNumber(opts.localAddr);
    const fd = n.rawOpen(IPPROTO_GRE, bind, { rcvbuf: opts.rcvbuf, sndbuf: opts.sndbuf });
    return new NvgreUplink(n, fd, bind, opts.txRing);
  }

  /** A borrowed uplink over another thread's socket (see UplinkFds). */
  static fromFd(d: Extract<UplinkFds, { kind: 'nvgre' }>): NvgreUplink {
    const u = new NvgreUplink(loadNative(), d.fd, d.localAddr, d.txRing);
    u.borrowed = true;
    return u;
  }

  get ringStats(): Float64Array | undefined {
    return this.txRing?.stats;
  }

  /** This uplink's descriptor, for another thread. */
  fds(): UplinkFds {
    return { kind: 'nvgre', fd: this.rxFd, localAddr: this.localAddr, ...(this.txRing ? { txRing: this.txRing.mode } : {}) };
  }

  override close(): void {
    this.txRing?.close();
    super.close();
  }

  protected describe(): string {
    return `NVGRE uplink ${numberToIpv4(this.localAddr)}`;
  }

  read(b: FrameBatch, srcAddr: Uint32Array, dstAddr: Uint32Array): number {
    // Receive 20 bytes earlier, so that after an option-less IPv4 header the GRE header is at HEADROOM.
    const got = this.n.recvBatch(this.rxFd, b.slab, b.start, b.len, b.slotSize, HEADROOM - IPV4_HEADER, srcAddr, dstAddr, Math.min(b.capacity, MAX_BATCH));
    if (got < 0) throw errnoError(got, `${this.describe()}: receive`, 'recvmmsg');
    const slab = b.slab;
    for (let i = 0; i < got; i++) {
      const l = b.len[i];
      const ihl = (slab[b.start[i]] & 0x0f) << 2;
      if (l < IPV4_HEADER || ihl < IPV4_HEADER || ihl > l) {
        b.len[i] = 0; // not a sane IPv4 header (or truncated): the caller drops it
        continue;
      }
      b.start[i] += ihl;
      b.len[i] = l - ihl;
    }
    b.count = got;
    return got;
  }

  /** Sends GRE+inner frames to dstAddr[k]: through the TX ring where it can, else the raw socket. */
  write(b: FrameBatch, idx: Int32Array, srcAddr: Uint32Array, dstAddr: Uint32Array, count: number): number {
    const ring = this.txRing;
    if (ring === undefined) return this.send(b, idx, srcAddr, dstAddr, count);
    this.rawB = b;
    return ring.send(b.slab, b.start, b.len, idx, srcAddr, dstAddr, count, this.rawSend);
  }
}
