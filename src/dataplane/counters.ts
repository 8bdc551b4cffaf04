/**
 * Counters as arrays (STYLE.md 10): one Float64Array of global counters indexed by the const enum
 * C (drop reasons at C.DropBase + Drop), and one of per-port counters (port index * PORT_STRIDE +
 * P). Float64 is exact to 2^53 and increments without allocating (BigUint64Array would allocate
 * a BigInt per add). Both live on SharedArrayBuffers so another thread can read them without locks.
 */
import { DROP_COUNT, DROP_NAMES, Drop } from '../vfp/drops.js';
import type { Snapshot } from '../vfp/snapshot.js';

export const enum C {
  PortRxFrames = 0,
  PortRxBytes,
  PortTxFrames,
  PortTxBytes,
  UplinkRxFrames,
  UplinkRxBytes,
  UplinkTxFrames,
  UplinkTxBytes,
  ArpReplies,
  IcmpEchoReplies,
  IcmpTimeExceeded,
  Routed,
  Replicated,
  UftHits,
  UftMisses,
  UftInstalls,
  UftRevalidated,
  UftEvictions,
  UftExpired,
  CtCreated,
  CtEvictions,
  CtRefused,
  SnapshotSwaps,
  GsoFrames,
  GsoSegments,
  GroFrames,
  GroSegments,
  GroSplit,
  CsumFinished,
  /** Plain datagrams sent grouped into UDP_SEGMENT messages (dataplane/gso-batch.ts). */
  GsoGrouped,
  /** Adaptive busy polling (agent/busy-poll.ts): spins after a wake-up, polls in them that found
   * frames (each a wake-up saved), and microseconds spent spinning (its CPU cost). */
  BusyPollSpins,
  BusyPollHits,
  BusyPollUs,
  NvgreGroFrames,
  NvgreGroSegments,
  /** VXLAN datagrams read one per slot and merged into super-frames (offload-rx.ts coalesceVxlanSlots). */
  VxlanSoftGroFrames,
  VxlanSoftGroSegments,
  DhcpOffers,
  DhcpAcks,
  DhcpNaks,
  IcmpFragNeeded,
  AclLogged,
  AclLogSuppressed,
  Mirrored,
  /** IPv6: neighbour and router advertisements the dataplane answered with. */
  NdAdverts,
  RouterAdverts,
  /** Wake-ups of a worker (a readiness callback of a queue or uplink), the frames they read and
   * the microseconds spent in them: OVS's pmd-stats-show for one worker. Per wake-up cost and
   * frames per wake-up are what a ping's latency and a stream's batching come down to. */
  Wakeups,
  WakeupFrames,
  WakeupUs,
  /** Connections a restarted worker adopted from its predecessor's shared table (vfp/conntrack.ts). */
  CtRestored,
  /** ICMPv6 packet too big sent to a port (dataplane/pmtu.ts, hairpin6.ts packetTooBig). */
  Icmp6TooBig,
  /** TAP I/O through io_uring (io/uring.ts, `--tap-io uring`): io_uring_enter calls, the frames
   * they read and wrote (frames per enter is the batching), and queues or workers that went back
   * to read()/write() because the kernel refused the ring. */
  TapUringEnters,
  TapUringRxFrames,
  TapUringTxFrames,
  TapUringFallbacks,
  /** NVGRE through the AF_PACKET TX ring (io/nvgre-tx-ring.ts): frames the ring sent, messages
   * that found it or the device queue full or were refused (sent through the raw socket) and messages sent through the raw socket for
   * another reason (next hop not resolved or not confirmed, larger than the device MTU). */
  NvgreRingFrames,
  NvgreRingFull,
  NvgreRingFallback,
  /** Gauges, written at the end of each batch (forwarder.ts end()): entries held in the unified
   * flow table and in the conntrack table (idle ones not yet swept included), and their capacity.
   * Summed over workers, as the counters are: each worker has its own tables. */
  UftEntries,
  UftCapacity,
  CtEntries,
  CtCapacity,
  DropBase,
}

const BASE_NAMES = [
  'port-rx-frames',
  'port-rx-bytes',
  'port-tx-frames',
  'port-tx-bytes',
  'uplink-rx-frames',
  'uplink-rx-bytes',
  'uplink-tx-frames',
  'uplink-tx-bytes',
  'arp-replies',
  'icmp-echo-replies',
  'icmp-time-exceeded',
  'routed',
  'replicated',
  'uft-hits',
  'uft-misses',
  'uft-installs',
  'uft-revalidated',
  'uft-evictions',
  'uft-expired',
  'ct-created',
  'ct-evictions',
  'ct-refused',
  'snapshot-swaps',
  'tso-frames',
  'tso-segments',
  'gro-frames',
  'gro-segments',
  'gro-split',
  'csum-finished',
  'udp-gso-grouped',
  'busy-poll-spins',
  'busy-poll-hits',
  'busy-poll-us',
  'nvgre-gro-frames',
  'nvgre-gro-segments',
  'vxlan-soft-gro-frames',
  'vxlan-soft-gro-segments',
  'dhcp-offers',
  'dhcp-acks',
  'dhcp-naks',
  'icmp-frag-needed',
  'acl-log-lines',
  'acl-log-suppressed',
  'mirrored',
  'nd-adverts',
  'router-adverts',
  'wakeups',
  'wakeup-frames',
  'wakeup-us',
  'ct-restored',
  'icmpv6-packet-too-big',
  'tap-uring-enters',
  'tap-uring-rx-frames',
  'tap-uring-tx-frames',
  'tap-uring-fallbacks',
  'nvgre-ring-frames',
  'nvgre-ring-full',
  'nvgre-ring-fallback',
  'uft-entries',
  'uft-capacity',
  'ct-entries',
  'ct-capacity',
];

/** Global counter names by index; drops are "drop-<reason>". */
export const COUNTER_NAMES: readonly string[] = [...BASE_NAMES, ...DROP_NAMES.map((n) => `drop-${n}`)];
export const GLOBAL_COUNT = BASE_NAMES.length + DROP_COUNT;

export const enum P {
  RxFrames = 0,
  RxBytes,
  TxFrames,
  TxBytes,
  Drops,
  AclDeny,
  TxFull,
}
export const PORT_STRIDE = 8;
export const PORT_COUNTER_NAMES: readonly string[] = ['rx-frames', 'rx-bytes', 'tx-frames', 'tx-bytes', 'drops', 'acl-deny', 'tx-full'];

export class Counters {
  readonly global: Float64Array;
  /** Replaced (with the old values copied) when the number of ports grows. */
  port: Float64Array;

  /** `shared`: continue on arrays another thread made (a restarted worker keeps its counts). */
  constructor(ports: number, shared?: { global: Float64Array; port: Float64Array }) {
    this.global = shared?.global ?? new Float64Array(new SharedArrayBuffer(GLOBAL_COUNT * 8));
    this.port = shared?.port ?? new Float64Array(new SharedArrayBuffer(Math.max(ports, 1) * PORT_STRIDE * 8));
    this.ensurePorts(ports);
  }

  /** The sum of several workers' counters (read without locks: a sum may be a few frames behind). */
  static sum(list: readonly Counters[]): Counters {
    const out = new Counters(Math.max(1, ...list.map((c) => c.portCapacity)));
    for (const c of list) {
      for (let i = 0; i < GLOBAL_COUNT; i++) out.global[i] += c.global[i];
      for (let i = 0; i < c.port.length; i++) out.port[i] += c.port[i];
    }
    return out;
  }

  get portCapacity(): number {
    return this.port.length / PORT_STRIDE;
  }

  ensurePorts(ports: number): void {
    if (ports <= this.portCapacity) return;
    const next = new Float64Array(new SharedArrayBuffer(ports * PORT_STRIDE * 8));
    next.set(this.port);
    this.port = next;
  }

  /** Clears one port's counters (its index was given to another port). */
  resetPort(index: number): void {
    if (index < this.portCapacity) this.port.fill(0, index * PORT_STRIDE, (index + 1) * PORT_STRIDE);
  }

  drops(reason: number): number {
    return this.global[C.DropBase + reason];
  }

  /** Counts one dropped frame by reason, and against port `port` unless it is -1 (from the wire). */
  drop(reason: number, port: number): void {
    this.global[C.DropBase + reason]++;
    if (port >= 0) {
      const pc = this.port;
      pc[port * PORT_STRIDE + P.Drops]++;
      if (reason === Drop.AclDeny) pc[port * PORT_STRIDE + P.AclDeny]++;
    }
  }
}

export interface CountersJson {
  counters: Record<string, number>;
  drops: Record<string, number>;
  ports: Record<string, Record<string, number>>;
}

/** The counters as plain JSON, by name; per-port counters keyed by the snapshot's port names. */
export function countersToJson(c: Counters, snapshot: Pick<Snapshot, 'ports'>): CountersJson {
  const counters: Record<string, number> = {};
  for (let i = 0; i < BASE_NAMES.length; i++) counters[BASE_NAMES[i]] = c.global[i];
  const drops: Record<string, number> = {};
  for (let r = 1; r < DROP_COUNT; r++) drops[DROP_NAMES[r]] = c.global[BASE_NAMES.length + r];
  const ports: Record<string, Record<string, number>> = {};
  for (const p of snapshot.ports) {
    const o: Record<string, number> = {};
    // per-port counters are kept by port id (PortInfo.index)
    for (let k = 0; k < PORT_COUNTER_NAMES.length; k++) o[PORT_COUNTER_NAMES[k]] = p.index < c.portCapacity ? c.port[p.index * PORT_STRIDE + k] : 0;
    ports[p.name] = o;
  }
  return { counters, drops, ports };
}
