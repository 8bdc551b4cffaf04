/**
 * The native addon (native-bindings/), typed. Loaded on first use, so modules that only need the
 * types or the in-memory fakes work on a machine where the addon was never built.
 *
 * Conventions (STYLE.md 5): setup calls throw an Error whose `.code` is the errno name; batch
 * calls return a count or `-errno` and never throw on I/O; argument mistakes (a slot outside the
 * slab) throw TypeError/RangeError. Addresses are IPv4 numbers in host byte order.
 */
import { createRequire } from 'node:module';

/** What `pollStart` returns; pass it to `pollStop`. */
export interface PollHandle {
  readonly fd: number;
}

export interface NativeConstants {
  readonly IFF_TAP: number;
  readonly IFF_NO_PI: number;
  readonly IFF_MULTI_QUEUE: number;
  readonly IFF_VNET_HDR: number;
  readonly IFF_TUN_EXCL: number;
  readonly TUN_F_CSUM: number;
  readonly TUN_F_TSO4: number;
  readonly TUN_F_TSO6: number;
  readonly TUN_F_TSO_ECN: number;
  readonly TUN_F_UFO: number;
  readonly TUN_F_USO4: number;
  readonly TUN_F_USO6: number;
}

/** nextHop(): the route's device, next hop (host order), preferred source (0: none), and the next
 * hop's neighbour entry (state: NUD_* bits, 0 none); or why there is no unicast route. */
export type NextHop =
  | { error?: undefined; dev: string; ifindex: number; nextHop: number; prefsrc: number; mac: Uint8Array | null; state: number }
  | { error: string; dev?: undefined; mac?: undefined; state?: undefined; prefsrc?: undefined };

export interface NativeAddon {
  /** Opens one queue of TAP device `name` (created if missing; "tap%d" lets the kernel pick). */
  tapOpen(name: string, flags: { multiQueue?: boolean; vnetHdr?: boolean; exclusive?: boolean }): { fd: number; name: string };
  /** TUNSETOFFLOAD with TUN_F_* flags. */
  tapSetOffload(fd: number, flags: number): void;
  /** TUNSETVNETHDRSZ (10 or 12). */
  tapSetVnetHdrSize(fd: number, size: number): void;
  /** TUNGETFEATURES: the IFF_* flags the kernel supports. */
  tapFeatures(): number;
  /** TUNSETQUEUE: attach (true) or detach (false) this queue of a multi-queue device. */
  tapSetQueue(fd: number, attach: boolean): void;
  /** read() up to `max` frames, frame i into `i*slotSize + headroom`; returns n or -errno. */
  readBatch(fd: number, slab: Uint8Array, start: Int32Array, len: Int32Array, slotSize: number, headroom: number, max: number): number;
  /** write() slots idx[0..count) as slab[start-prefix, start+len); returns how many the kernel took, or -errno. */
  writeBatch(fd: number, slab: Uint8Array, start: Int32Array, len: Int32Array, idx: Int32Array, count: number, prefix?: number): number;
  /** close(); returns 0 or -errno. */
  close(fd: number): number;
  /** An io_uring of this thread (io/uring.ts); it counts into `stats` (URING_STATS order). Throws
   * an Error with `.code` when the kernel refuses (EPERM, ENOSYS). The four uring calls are absent
   * from an addon built before them (callers use readBatch/writeBatch then). */
  uringCreate?(stats: Float64Array): number;
  /** Frees the ring (also done when its thread ends). */
  uringDestroy?(ring: number): void;
  /** readBatch through the ring: rounds of `hint` (1..64) RWF_NOWAIT reads, one io_uring_enter each. */
  uringReadBatch?(ring: number, fd: number, slab: Uint8Array, start: Int32Array, len: Int32Array, slotSize: number, headroom: number, max: number, hint?: number): number;
  /** writeBatch through the ring: up to 128 RWF_NOWAIT writes per io_uring_enter. */
  uringWriteBatch?(ring: number, fd: number, slab: Uint8Array, start: Int32Array, len: Int32Array, idx: Int32Array, count: number, prefix?: number): number;
  /** A non-blocking UDP socket with IP_PKTINFO, bound to bindAddr:port (0: any). */
  udpOpen(bindAddr: number, port: number, opts?: { reusePort?: boolean; rcvbuf?: number; sndbuf?: number; gro?: boolean; gsoProbe?: boolean }): number;
  /** A non-blocking raw IPv4 socket of `protocol`; `sendOnly` attaches a drop-all BPF filter. */
  rawOpen(protocol: number, bindAddr: number, opts?: { sendOnly?: boolean; rcvbuf?: number; sndbuf?: number }): number;
  /** getsockname(): the bound address and port. */
  sockName(fd: number): { addr: number; port: number };
  /** recvmmsg into slots 0..n-1 (at i*slotSize + headroom); srcAddr/dstAddr/srcPort per slot;
   * a datagram larger than its slot gets len 0. Returns n or -errno. max <= 1024. */
  recvBatch(
    fd: number, slab: Uint8Array, start: Int32Array, len: Int32Array, slotSize: number, headroom: number,
    srcAddr: Uint32Array, dstAddr: Uint32Array, max: number, srcPort?: Uint16Array, gsoSize?: Uint16Array,
  ): number;
  /** sendmmsg of slots idx[0..count) to dstAddr[k]:dstPort from srcAddr[k] (0: by route); gsoSize > 0
   * adds UDP_SEGMENT (UDP sockets). Returns how many the kernel took, or -errno. */
  sendBatch(
    fd: number, slab: Uint8Array, start: Int32Array, len: Int32Array, idx: Int32Array,
    srcAddr: Uint32Array, dstAddr: Uint32Array, dstPort: number, count: number, gsoSize?: number,
  ): number;
  /** The kernel's route and neighbour entry for dst (rtnetlink; native-bindings/src/netlink.cc). */
  nextHop(dst: number): NextHop;
  /** An AF_PACKET TX ring (TPACKET_V2) on `ifname` for NVGRE send (native-bindings/src/txring.cc);
   * returns a ring id valid on the calling thread only. */
  txRingOpen(ifname: string, opts?: { frames?: number; qdiscBypass?: boolean; sndbuf?: number; mmsg?: boolean }): number;
  txRingClose(ring: number): void;
  txRingInfo(ring: number): { mtu: number; mac: Uint8Array; frames: number };
  /** The next hop's MAC for dstAddr (null: known, not usable) and the source PA for messages without one;
   * nudge: the next send's messages to it take the raw socket (the kernel re-confirms its neighbour). */
  txRingSetPeer(ring: number, dstAddr: number, srcAddr: number, mac: Uint8Array | null, nudge: boolean): void;
  /** GRE packets idx[0..count) framed into the ring, one send(); positions k it did not take go to
   * rest (returns how many); stats += [ring frames, ring full, raw fallback, of them unknown peers]. */
  txRingSend(
    ring: number, slab: Uint8Array, start: Int32Array, len: Int32Array, idx: Int32Array,
    srcAddr: Uint32Array, dstAddr: Uint32Array, count: number, rest: Int32Array, stats: Float64Array,
  ): number;
  /** Message k = slab[start[k], +len[k]) on socket fds[k] to dstAddr[k]:dstPort from srcAddr[k]; gso[k] > 0
   * adds UDP_SEGMENT. With `parts`, message k is gathered from parts[k] consecutive ranges of
   * start/len (message 0's first). Runs of one fd go in one sendmmsg. Returns messages sent, or -errno. */
  sendMsgs(
    fds: Int32Array, slab: Uint8Array, start: Int32Array, len: Int32Array, gso: Uint16Array | undefined,
    srcAddr: Uint32Array, dstAddr: Uint32Array, dstPort: number, count: number, parts?: Uint16Array,
  ): number;
  /** Calls `cb` (level-triggered) while `fd` is readable, on this thread's loop. */
  pollStart(fd: number, cb: () => void): PollHandle;
  /** Stops a poller; a second call is a no-op. */
  pollStop(handle: PollHandle): void;
  /** Attaches a classic BPF program (pairs [code | jt << 16 | jf << 24, k]) as a socket filter,
   * as the selector of the socket's SO_REUSEPORT group (SO_ATTACH_REUSEPORT_CBPF), or as the
   * selector of an AF_PACKET socket's PACKET_FANOUT_CBPF group (PACKET_FANOUT_DATA). */
  attachCbpf(fd: number, kind: 'filter' | 'reuseport' | 'fanout', prog: Uint32Array): void;
  /** Loads an eBPF socket-filter program (raw 8-byte instructions) and sets it as the queue
   * selector of a multi-queue TAP (TUNSETSTEERINGEBPF). */
  tapSetSteeringEbpf(fd: number, insns: Uint8Array): void;
  /** A non-blocking AF_PACKET socket bound to NIC `ifname`, promiscuous while open, not seeing
   * outgoing frames; sockets with the same `fanout` group (1..65535) share its frames by flow:
   * the kernel's hash, or with `cbpf` the program set with attachCbpf(fd, 'fanout') (members in
   * join order). */
  packetOpen(ifname: string, opts?: { fanout?: number; cbpf?: boolean }): number;
  /** readBatch for a packetOpen socket: a frame whose outer VLAN tag (802.1Q, 802.1ad, VLAN 0
   * too) the kernel took off gets it back in front of its EtherType (start 4 less, len 4 more;
   * headroom >= 4), so the dataplane sees and drops it as on any other port. */
  packetReadBatch(fd: number, slab: Uint8Array, start: Int32Array, len: Int32Array, slotSize: number, headroom: number, max: number): number;
  /** fold(sum of the big-endian 16-bit words of buf[off..off+len) + initial); not complemented. */
  checksum(buf: Uint8Array, off: number, len: number, initial: number): number;
  /** out[k] = folded sum of buf[first + k*stride, + (k < count-1 ? chunkLen : lastLen)), k < count. */
  sumChunks(buf: Uint8Array, first: number, stride: number, chunkLen: number, count: number, lastLen: number, out: Uint32Array): number;
  /** vfp/offload.ts segmentFrame in one call (same arguments, same bytes); out = [segments,
   * stride, last length, header length]; returns the segments, 0 when it refuses (nothing moved).
   * Absent from an addon built before it (callers fall back to the TypeScript). */
  segmentFrame?(buf: Uint8Array, F: number, len: number, gsoType: number, mss: number, pre: number, lenField: number, limit: number, out: Int32Array): number;
  /** A vhost-user device in the process-wide table (reachable from every thread by its id);
   * `lanes` forwarding workers, ring pair p belongs to lane p % lanes. */
  vhostCreate(opts: { pairs?: number; lanes?: number; offload?: boolean; eventIdx?: boolean }): number;
  /** Closes the device's fds and unmaps guest memory; idempotent. */
  vhostDestroy(device: number): void;
  /** The front end went away: rings, fds, features and memory go. */
  vhostReset(device: number): void;
  /** Handles the protocol messages waiting on `conn`: count, or -errno when the connection must end. */
  vhostService(device: number, conn: number): number;
  /** Frames the guest sent on the lane's transmit rings into slots (12-byte header before each); returns n. */
  vhostRecv(device: number, lane: number, slab: Uint8Array, start: Int32Array, len: Int32Array, slotSize: number, headroom: number, max: number): number;
  /** Slots idx[0..count) into the guest's receive ring (header at start-12 when prefix is 12); returns how many went. */
  vhostSend(device: number, lane: number, slab: Uint8Array, start: Int32Array, len: Int32Array, idx: Int32Array, count: number, prefix: number): number;
  /** An fd readable while the lane's transmit rings were kicked (poll it). */
  vhostLaneFd(device: number, lane: number): number;
  /** Counters (VHOST_STATS order), then acked features low/high 32 bits, rings ready, rings broken. */
  vhostStats(device: number): Float64Array;
  /** A non-blocking listening unix socket at `path`. */
  unixListen(path: string): number;
  /** accept(): a connection fd (blocking, 1 s timeouts) or -errno. */
  unixAccept(fd: number): number;
  /** connect(): a connection fd (blocking, 1 s timeouts) or -errno. */
  unixConnect(path: string): number;
  /** sendmsg of `bytes` with `fds` as SCM_RIGHTS: bytes sent or -errno. */
  unixSendMsg(fd: number, bytes: Uint8Array, fds?: Int32Array): number;
  /** recv: bytes read, 0 at end of stream, or -errno; `wait` blocks up to the socket timeout. */
  unixRecv(fd: number, bytes: Uint8Array, wait: boolean): number;
  /** A memfd of `size` bytes; with `seals` (F_SEAL_* bits, 0 for none yet) one that can be sealed. */
  memfdCreate(name: string, size: number, seals?: number): number;
  /** A memfd's F_SEAL_* bits, or -errno. */
  memfdSeals(fd: number): number;
  /** A shared mapping of `fd` as an ArrayBuffer. */
  mapShared(fd: number, size: number): ArrayBuffer;
  eventfdCreate(): number;
  eventfdWrite(fd: number): number;
  /** The count taken (0 when none). */
  eventfdRead(fd: number): number;
  readonly constants: NativeConstants;
}

/** Path of the built addon relative to this file: the same from src/io (vitest) and dist/io (tsc). */
const ADDON_PATH = '../../native-bindings/build/Release/switchyard_native.node';

let addon: NativeAddon | undefined;
let loadError: Error | undefined;

/** The addon; throws a clear Error (code ENATIVE) when it was not built. */
export function loadNative(): NativeAddon {
  if (addon) return addon;
  if (loadError) throw loadError;
  const require = createRequire(import.meta.url);
  try {
    addon = require(ADDON_PATH) as NativeAddon;
    return addon;
  } catch (cause) {
    const err = new Error(
      `switchyard native addon not loadable from ${new URL(ADDON_PATH, import.meta.url).pathname}: ` +
        `${(cause as Error).message.split('\n')[0]}. Build it with \`npx node-gyp rebuild --directory native-bindings\` (or \`make build\`).`,
      { cause },
    ) as NodeJS.ErrnoException;
    err.code = 'ENATIVE';
    loadError = err;
    throw err;
  }
}

/** True when the addon loads (tests use it to skip). */
export function nativeAvailable(): boolean {
  try {
    loadNative();
    return true;
  } catch {
    return false;
  }
}
