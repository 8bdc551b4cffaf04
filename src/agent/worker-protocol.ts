/**
 * Messages between the agent (main thread) and its forwarding workers (worker.ts). Everything
 * here survives structured clone: the snapshot the agent compiled (once: workers revive it,
 * vfp/snapshot-transfer.ts, and never compile policy themselves), fds as numbers (process-wide),
 * counters as Float64Arrays over SharedArrayBuffers (shared, not copied).
 */
import type { AclLogRecord } from '../vfp/acl-log.js';
import type { Snapshot } from '../vfp/snapshot.js';
import type { TapOptions } from '../io/tap.js';
import type { TapIoMode } from '../io/uring.js';
import type { UplinkFds } from '../io/uplink.js';
import type { FlowDumpEntry } from '../dataplane/flows.js';

/** One queue of a tenant TAP (or one lane of a vhost-user device), owned by one worker. */
export interface WorkerPort {
  /** The port's stable id (PortInfo.index). */
  index: number;
  ifname: string;
  /** The TAP queue's fd; -1 for a vhost-user port. */
  fd: number;
  tap: TapOptions;
  /** A vhost-user port: the device (process-wide id) and this worker's lane of it. */
  vhost?: { device: number; lane: number; offload: boolean };
}

export interface WorkerUplinks {
  vxlan?: UplinkFds;
  nvgre?: UplinkFds;
}

/** Table sizes and per-port quotas of each worker's dataplane (agent flags). */
export interface DataplaneLimits {
  /** Connection-tracking slots per worker (default 262,144). */
  ctCapacity?: number;
  /** Connections one port may own per worker (default 50,000). */
  ctPerPort?: number;
  /** New flows per second per port, also the burst (default 20,000; 0: no limit). */
  newFlowsPerSecond?: number;
  /** Adaptive busy polling: keep polling this long (us) after the last frame before sleeping
   * (agent/busy-poll.ts; default BUSY_POLL_DEFAULT_US: off). */
  busyPollUs?: number;
  /** A restarted worker adopts the connections its predecessor tracked (default true); false
   * (`--no-keep-conntrack`): it starts with an empty table, as before. */
  keepConntrack?: boolean;
  /** TAP I/O of the workers: 'uring' (one io_uring_enter per batch, io/uring.ts) or 'syscall'
   * (read()/write() per frame). The agent resolves the default and the fallback before it starts
   * the workers (`--tap-io`); absent: 'syscall'. */
  tapIo?: TapIoMode;
}

export interface CounterArrays {
  global: Float64Array;
  port: Float64Array;
}

/** workerData of a worker (a restarted one gets the same, with its counters to continue on). */
export interface WorkerInit {
  id: number;
  workers: number;
  host: string;
  snapshot: Snapshot;
  offload: boolean;
  limits: DataplaneLimits;
  ports: WorkerPort[];
  uplinks: WorkerUplinks;
  counters?: CounterArrays;
  /** The worker's connection-tracking table, owned by the agent's main thread so that it outlives
   * the thread (vfp/conntrack.ts); absent with keepConntrack false. */
  ctState?: SharedArrayBuffer;
  /** The QoS buckets every worker shares (dataplane/qos.ts), sized for the snapshot. */
  qos: Int32Array;
  testHooks: boolean;
}

export type WorkerRequest =
  /** Switch to this snapshot and to this port mapping together, between batches. */
  | { op: 'apply'; snapshot: Snapshot; ports: WorkerPort[]; qos: Int32Array }
  /** Forward on exactly these queues (the others stop being polled; their fds stay open). */
  | { op: 'ports'; ports: WorkerPort[] }
  | { op: 'uplinks'; uplinks: WorkerUplinks }
  | { op: 'dump-flows'; port?: string }
  | { op: 'trace'; port: string; frame: Uint8Array; direction: 'out' | 'in'; fromHost?: string }
  /** Test hook (SWITCHYARD_TEST_HOOKS=1): throw from the event loop (between batches). */
  | { op: 'crash' };

export type WorkerMessage =
  | { type: 'ready'; counters: CounterArrays }
  /** The counter arrays were replaced (more ports). */
  | { type: 'counters'; counters: CounterArrays }
  | { type: 'acl-log'; record: AclLogRecord }
  | { type: 'reply'; seq: number; ok: true; value: unknown }
  | { type: 'reply'; seq: number; ok: false; error: string };

export type FlowDumpReply = FlowDumpEntry[];
