/**
 * vhost-user ports: a VM's virtio-net device whose rings live in guest memory that qemu shares
 * with switchyard over a unix socket (qemu docs/interop/vhost-user.rst). The addon is the back
 * end (native-bindings/src/vhost_*.cc); this file runs its socket on the main thread and gives
 * each forwarding worker a FramePort over its lane of the device.
 *
 * A device lives in the addon's process-wide table, reached by id from every thread: the main
 * thread (VhostUserDevice) accepts or connects the socket and feeds protocol messages to the
 * addon; a worker (VhostQueue) moves frames through the rings of its lane with the same slab
 * layout as a TAP queue (frame at HEADROOM, 12-byte virtio-net header before it), so the
 * forwarder cannot tell the two apart.
 *
 * Workers: each worker is a lane of the device. A guest picks its transmit queue itself, so the
 * lane that reads a frame passes it on (in the addon, under the device lock) to the lane of the
 * frame's flow by the workers' steering hash (io/steering.ts): both directions of a flow meet
 * the same worker's connection tracking, as with a TAP.
 *
 * Reconnect: in server mode the socket keeps listening and a front end that went away (qemu
 * restarted) may connect again; in client mode (qemu is the server) the device reconnects every
 * `reconnectMs`. Either way the device is reset in between: rings, memory and features come again
 * with the next connection.
 */
import fs from 'node:fs';
import path from 'node:path';
import { errnoError } from './errno.js';
import { loadNative, type NativeAddon, type PollHandle } from './native.js';
import { HEADROOM, type FrameBatch, type FramePort } from './types.js';

/** The addon's device counters, in its order (native-bindings/src/vhost.h Stat). */
export const VHOST_STATS = [
  'rxFrames', 'txFrames', 'badAddress', 'badChain', 'oversize', 'ringBroken', 'noBuffers',
  'offloadDrops', 'csumFinished', 'short', 'messages', 'badMessages', 'calls', 'handoff', 'handoffDrops',
  'kicks', 'rxBatches', 'txBatches', 'callsSkipped', 'memRefused', 'memUnsealed', 'memSealed',
] as const;
export type VhostStatName = (typeof VHOST_STATS)[number];

export interface VhostUserOptions {
  /** Path of the unix socket. */
  socket: string;
  /** server: switchyard listens (qemu `-chardev socket,path=...,reconnect=1`); client: qemu
   * listens (`server=on,wait=off`) and switchyard connects. */
  mode: 'server' | 'client';
  /** Queue pairs offered (virtio-net MQ when > 1). */
  queues?: number;
  /** Forwarding workers (at most 64): pair p is read by worker p % lanes, and each frame goes on
   * to the worker of its flow (io/steering.ts), as a TAP's eBPF steering does. */
  lanes?: number;
  /** Offer checksum and TSO offloads (the agent's offload setting). */
  offload?: boolean;
  /** Offer VIRTIO_RING_F_EVENT_IDX (notification suppression; default true). */
  eventIdx?: boolean;
  /** Client mode: milliseconds between connection attempts (default 500). */
  reconnectMs?: number;
  /** Called on connect and disconnect (for logs). */
  onState?: (state: 'connected' | 'disconnected', detail: string) => void;
  /** Called when the front end gave guest memory that can still shrink under the mapping (not
   * sealed, and not sealable): a front end that shrinks it would crash the agent (README). */
  onUnsealedMemory?: (regions: number) => void;
}

export interface VhostStatus {
  connected: boolean;
  connects: number;
  disconnects: number;
  /** Acked virtio feature bits (as a hex string: they pass 32 bits). */
  features: string;
  ringsReady: number;
  ringsBroken: number;
  counters: Record<VhostStatName, number>;
}

export class VhostUserDevice {
  readonly id: number;
  connects = 0;
  disconnects = 0;
  private conn = -1;
  private listenFd = -1;
  private listenPoll: PollHandle | undefined;
  private connPoll: PollHandle | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private unsealedSeen = 0;

  private constructor(
    private readonly n: NativeAddon,
    readonly opts: VhostUserOptions,
  ) {
    this.id = n.vhostCreate({ pairs: opts.queues ?? 1, lanes: Math.min(64, opts.lanes ?? 1), offload: opts.offload ?? true, eventIdx: opts.eventIdx ?? true });
  }

  /** Creates the device and starts listening (server) or connecting (client). Throws (with
   * `.code`) when the socket path is in use by a live listener or is not a socket. */
  static open(opts: VhostUserOptions): VhostUserDevice {
    const d = new VhostUserDevice(loadNative(), opts);
    try {
      if (opts.mode === 'server') d.listen();
      else d.tryConnect();
    } catch (err) {
      d.close();
      throw err;
    }
    return d;
  }

  get connected(): boolean {
    return this.conn >= 0;
  }

  get lanes(): number {
    return Math.min(64, this.opts.lanes ?? 1);
  }

  private listen(): void {
    const sock = this.opts.socket;
    let st: fs.Stats | undefined;
    try {
      st = fs.lstatSync(sock);
    } catch {
      st = undefined;
    }
    // the directory (e.g. /run/switchyard) may not exist yet after a boot
    fs.mkdirSync(path.dirname(sock), { recursive: true, mode: 0o755 });
    if (st) {
      if (!st.isSocket()) throw Object.assign(new Error(`vhost-user socket ${sock} exists and is not a socket`), { code: 'EEXIST' });
      // a socket nobody listens on is a leftover (a crashed agent); a live one is someone else's
      const probe = this.n.unixConnect(sock);
      if (probe >= 0) {
        this.n.close(probe);
        throw Object.assign(new Error(`vhost-user socket ${sock} is in use (something listens on it)`), { code: 'EADDRINUSE' });
      }
      fs.unlinkSync(sock);
    }
    this.listenFd = this.n.unixListen(sock);
    this.listenPoll = this.n.pollStart(this.listenFd, () => this.accept());
  }

  private accept(): void {
    const c = this.n.unixAccept(this.listenFd);
    if (c < 0) return;
    if (this.conn >= 0) {
      this.n.close(c); // one front end at a time
      return;
    }
    this.attach(c, 'accepted');
  }

  private tryConnect(): void {
    this.timer = undefined;
    if (this.closed || this.conn >= 0) return;
    const c = this.n.unixConnect(this.opts.socket);
    if (c >= 0) return this.attach(c, 'connected');
    this.timer = setTimeout(() => this.tryConnect(), this.opts.reconnectMs ?? 500);
    this.timer.unref();
  }

  private attach(conn: number, how: string): void {
    this.conn = conn;
    this.connects++;
    this.opts.onState?.('connected', how);
    this.connPoll = this.n.pollStart(conn, () => this.service());
  }

  private service(): void {
    if (this.conn < 0) return;
    const r = this.n.vhostService(this.id, this.conn);
    if (r < 0) {
      this.detach(errnoError(r, `vhost-user ${this.opts.socket}`, 'recvmsg').message);
      return;
    }
    if (r > 0 && this.opts.onUnsealedMemory) {
      const unsealed = this.n.vhostStats(this.id)[VHOST_STATS.indexOf('memUnsealed')];
      if (unsealed > this.unsealedSeen) this.opts.onUnsealedMemory(unsealed - this.unsealedSeen);
      this.unsealedSeen = unsealed;
    }
  }

  /** The front end went away: the device forgets it and waits for the next one. */
  private detach(why: string): void {
    if (this.connPoll) this.n.pollStop(this.connPoll);
    this.connPoll = undefined;
    if (this.conn >= 0) this.n.close(this.conn);
    this.conn = -1;
    this.n.vhostReset(this.id);
    this.disconnects++;
    this.opts.onState?.('disconnected', why);
    if (this.opts.mode === 'client' && !this.closed) {
      this.timer = setTimeout(() => this.tryConnect(), this.opts.reconnectMs ?? 500);
      this.timer.unref();
    }
  }

  status(): VhostStatus {
    const s = this.n.vhostStats(this.id);
    const counters = {} as Record<VhostStatName, number>;
    VHOST_STATS.forEach((name, i) => (counters[name] = s[i]));
    const k = VHOST_STATS.length;
    return {
      connected: this.connected,
      connects: this.connects,
      disconnects: this.disconnects,
      features: `0x${((BigInt(s[k + 1]) << 32n) | BigInt(s[k])).toString(16)}`,
      ringsReady: s[k + 2],
      ringsBroken: s[k + 3],
      counters,
    };
  }

  /** Stops listening/connecting, closes the connection and the device; the socket file of a
   * server goes too. Workers must have let go of their queues first. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.connPoll) this.n.pollStop(this.connPoll);
    if (this.conn >= 0) this.n.close(this.conn);
    this.conn = -1;
    if (this.listenPoll) this.n.pollStop(this.listenPoll);
    if (this.listenFd >= 0) {
      this.n.close(this.listenFd);
      try {
        fs.unlinkSync(this.opts.socket);
      } catch {
        // already gone
      }
    }
    this.listenFd = -1;
    this.n.vhostDestroy(this.id);
  }
}

/**
 * One worker's lane of a vhost-user device, as a FramePort: read() takes what the guest sent on
 * the lane's transmit rings, write() puts frames into the guest's receive ring. With `offload`
 * the 12-byte virtio-net header before each frame carries checksum/TSO state both ways (as a
 * TAP's IFF_VNET_HDR); without, the guest was offered no offloads and the header is empty.
 */
export class VhostQueue implements FramePort {
  readonly vnetHdrSize: number;
  readErrors = 0;
  private poll: PollHandle | undefined;
  private closed = false;

  constructor(
    private readonly n: NativeAddon,
    readonly device: number,
    readonly lane: number,
    readonly name: string,
    offload: boolean,
  ) {
    this.vnetHdrSize = offload ? 12 : 0;
  }

  static forLane(device: number, lane: number, name: string, offload: boolean): VhostQueue {
    return new VhostQueue(loadNative(), device, lane, name, offload);
  }

  read(b: FrameBatch): number {
    const got = this.n.vhostRecv(this.device, this.lane, b.slab, b.start, b.len, b.slotSize, HEADROOM, b.capacity);
    if (got < 0) {
      this.readErrors++;
      this.stopPolling(); // the device is gone
      b.count = 0;
      return 0;
    }
    b.count = got;
    return got;
  }

  write(b: FrameBatch, idx: Int32Array, count: number): number {
    const sent = this.n.vhostSend(this.device, this.lane, b.slab, b.start, b.len, idx, count, this.vnetHdrSize);
    return sent < 0 ? 0 : sent;
  }

  onReadable(cb: () => void): void {
    if (this.closed) throw new Error(`vhost-user ${this.name}: onReadable after close`);
    this.stopPolling();
    this.poll = this.n.pollStart(this.n.vhostLaneFd(this.device, this.lane), cb);
  }

  stopPolling(): void {
    if (this.poll) this.n.pollStop(this.poll);
    this.poll = undefined;
  }

  /** Stops polling; the device (and its fds) belong to the agent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.stopPolling();
  }
}
