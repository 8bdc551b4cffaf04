/**
 * Messages between the agent (main thread) and its forwarding workers (worker.ts). Everything
 * here survives structured clone: the policy as plain objects (each worker compiles its own
 * snapshot: a Snapshot holds Maps and classes), fds as numbers (process-wide), counters as
 * Float64Arrays over SharedArrayBuffers (shared, not copied).
 */
import type { Policy } from '../policy/types.js';
import type { TapOptions } from '../io/tap.js';
import type { UplinkFds } from '../io/uplink.js';
import type { FlowDumpEntry } from '../dataplane/flows.js';

/** One queue of a tenant TAP, owned by one worker. */
export interface WorkerPort {
  /** PortInfo.index in the current snapshot. */
  index: number;
  ifname: string;
  fd: number;
  tap: TapOptions;
}

export interface WorkerUplinks {
  vxlan?: UplinkFds;
  nvgre?: UplinkFds;
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
  policy: Policy;
  generation: number;
  downPas: number[];
  offload: boolean;
  ports: WorkerPort[];
  uplinks: WorkerUplinks;
  counters?: CounterArrays;
  testHooks: boolean;
}

export type WorkerRequest =
  /** Compile this policy, switch to it and to this port mapping, between batches. */
  | { op: 'apply'; policy: Policy; generation: number; downPas: number[]; ports: WorkerPort[] }
  /** Forward on exactly these queues (the others stop being polled; their fds stay open). */
  | { op: 'ports'; ports: WorkerPort[] }
  | { op: 'uplinks'; uplinks: WorkerUplinks }
  | { op: 'dump-flows'; port?: string }
  | { op: 'trace'; port: string; frame: Uint8Array; direction: 'out' | 'in' }
  /** Test hook (SWITCHYARD_TEST_HOOKS=1): throw from the event loop. */
  | { op: 'crash' };

export type WorkerMessage =
  | { type: 'ready'; counters: CounterArrays }
  /** The counter arrays were replaced (more ports). */
  | { type: 'counters'; counters: CounterArrays }
  | { type: 'reply'; seq: number; ok: true; value: unknown }
  | { type: 'reply'; seq: number; ok: false; error: string };

export type FlowDumpReply = FlowDumpEntry[];
