/**
 * QoS (issue 15): a token bucket per port and direction, in the dataplane (not tc). Out = frames
 * the port sends, metered before they are parsed; in = frames written to the port (queuePort:
 * delivered, routed, decapsulated, and the dataplane's own answers), metered as they are queued.
 * Bytes are counted as read or written, so a TSO super-frame or a GRO buffer costs its whole
 * length. A frame is admitted while the bucket is not in debt and then takes its bytes (the
 * bucket may go below zero by one frame per worker): a 64 KB super-frame is never refused for
 * being larger than the bucket, and the average still holds. Refused frames are counted as the
 * `qos` drop. Burst: 250 ms at the rate, at least 16 KB, at most 2^30 bytes (caps above ~34
 * Gbit/s get a shorter burst): TCP through a policer loses whole 64 KB super-frames when the
 * bucket runs dry, and with 20 ms (100 ms) of burst iperf3 measured 16 (60-66) Mbit/s through a
 * 100 Mbit/s cap, with 250 ms 101-105. Clock: the batch's milliseconds.
 *
 * One bucket per port and direction for the whole agent, shared by its workers. A port's flows
 * are spread over the workers (TAP queues and uplink sockets are steered by flow hash), so
 * buckets per worker let W workers carry W x the cap. Steering a capped port's traffic to one
 * worker is not open to us: frames for the port arrive on every worker's uplink socket, and its
 * TAP queues are chosen by the kernel. So the bucket state lives in one Int32Array on a
 * SharedArrayBuffer that the agent allocates (agent/workers.ts) and every worker maps, QOS_WORDS
 * words per meter: the configured rate, the tokens, and the last refill time. No lock: a frame
 * reads the last refill time; when time has passed, the worker that wins a compare-and-swap of
 * that time from the old to its own clock adds the tokens for exactly that interval (so no
 * interval is credited twice, whichever worker reads first), clamped to the burst by a
 * compare-and-swap loop that runs at most once per millisecond per meter; then one atomic load
 * (in debt?) and one atomic subtract take the frame's bytes. Workers' batch clocks may differ by
 * a little: a clock behind the last refill adds nothing (a jump back of more than a second, a
 * changed system clock, restarts the refill time). Times are kept as the low 32 bits of the
 * millisecond clock and compared by wrapping difference, so they fit an Int32Array (Atomics
 * needs integer arrays; BigInt64Array would allocate a BigInt per frame).
 *
 * The cost for ports without QoS is unchanged: a snapshot with no QoS port skips the meter (`on`
 * false); with one, other ports pay one read of this worker's own (unshared) rate array per frame.
 */
import type { Snapshot } from '../vfp/snapshot.js';

export const QOS_OUT = 0;
export const QOS_IN = 1;
const BURST_MS = 250;
const BURST_MIN = 16384;
const BURST_MAX = 2 ** 30;
/** A clock this far behind the last refill time is a clock change, not a slower worker. */
const JUMP_BACK_MS = 1000;

/** Int32 words per meter in the shared array, and their meaning. */
export const QOS_WORDS = 4;
const W_RATE = 0;
const W_TOKENS = 1;
const W_LAST = 2;

/** A shared bucket array for meters 0..meters-1 (port id * 2 + direction). */
export function allocQosShared(meters: number): Int32Array {
  return new Int32Array(new SharedArrayBuffer(Math.max(meters, 2) * QOS_WORDS * 4));
}

/** The meters a snapshot needs (two per port id). */
export function qosMetersFor(s: Snapshot): number {
  return s.portById.length * 2;
}

export class PortMeters {
  /** Some port of the snapshot has a cap. */
  on = false;
  /** Per port id * 2 + direction: bytes per ms (0: no cap) and bucket size; this worker's copy of
   * what the snapshot says (the fast path's "is this port capped" reads it, never shared memory). */
  rate = new Float64Array(0);
  burst = new Float64Array(0);
  /** The buckets (QOS_WORDS per meter), shared with the other workers when the agent gave them. */
  private shared: Int32Array;
  /** The buckets are this instance's own (no agent gave any): grown as ports are added. */
  private owned: boolean;

  constructor(shared?: Int32Array) {
    this.shared = shared ?? allocQosShared(32);
    this.owned = shared === undefined;
  }

  /** Uses `shared` for the buckets from now on (the agent's array, grown for more ports); call
   * configure after it. */
  attach(shared: Int32Array): void {
    this.shared = shared;
    this.owned = false;
  }

  /** Takes the caps of snapshot `s` at time `now` (ms); a meter whose rate is unchanged keeps its
   * bucket (also across workers: the first to see a new rate resets the bucket, the others find
   * it set). */
  configure(s: Snapshot, now: number): void {
    const n = qosMetersFor(s);
    if (this.rate.length < n) {
      const grow = (a: Float64Array) => {
        const b = new Float64Array(n);
        b.set(a);
        return b;
      };
      this.rate = grow(this.rate);
      this.burst = grow(this.burst);
    }
    if (this.shared.length < n * QOS_WORDS) {
      // the agent sizes its array for every snapshot it sends; only an instance of its own grows
      if (!this.owned) throw new Error(`qos: the shared bucket array holds ${this.shared.length / QOS_WORDS} meters, the snapshot needs ${n}`);
      const next = allocQosShared(n * 2);
      next.set(this.shared);
      this.shared = next;
    }
    const sh = this.shared;
    let on = false;
    for (let id = 0; id < s.portById.length; id++) {
      const p = s.portById[id];
      // bytes per ms: Mbit/s x 1e6 / 8 / 1000 (an integer for whole Mbit/s)
      const perMs = p === undefined ? 0 : Math.round(p.qosMbps * 125);
      for (let dir = 0; dir < 2; dir++) {
        const i = id * 2 + dir;
        this.rate[i] = perMs;
        this.burst[i] = Math.min(Math.max(perMs * BURST_MS, BURST_MIN), BURST_MAX);
        const w = i * QOS_WORDS;
        const old = Atomics.load(sh, w + W_RATE);
        if (old !== perMs && Atomics.compareExchange(sh, w + W_RATE, old, perMs) === old) {
          Atomics.store(sh, w + W_TOKENS, this.burst[i]);
          Atomics.store(sh, w + W_LAST, now | 0);
        }
      }
      if (perMs > 0) on = true;
    }
    this.on = on;
  }

  /** Admits `bytes` on meter `i` (port id * 2 + direction) at `now` ms, or refuses them. */
  take(i: number, bytes: number, now: number): boolean {
    const sh = this.shared;
    const w = i * QOS_WORDS;
    const last = Atomics.load(sh, w + W_LAST);
    // `now | 0`: the low 32 bits of the clock; the wrapping difference is right for gaps < 24 days
    if (((now | 0) - last) | 0) this.refill(i, w, last, now | 0);
    if (Atomics.load(sh, w + W_TOKENS) < 0) return false;
    Atomics.sub(sh, w + W_TOKENS, bytes);
    return true;
  }

  /** Credits the interval from `last` to `now32` on meter `i` (words at `w`) if this caller wins it. */
  private refill(i: number, w: number, last: number, now32: number): void {
    const sh = this.shared;
    const dt = (now32 - last) | 0;
    if (dt < 0) {
      // a worker whose batch clock is a little behind adds nothing; a clock set back restarts
      if (dt < -JUMP_BACK_MS) Atomics.compareExchange(sh, w + W_LAST, last, now32);
      return;
    }
    if (Atomics.compareExchange(sh, w + W_LAST, last, now32) !== last) return; // another worker credited it
    const burst = this.burst[i];
    const add = Math.min(dt * this.rate[i], burst);
    let t = Atomics.load(sh, w + W_TOKENS);
    for (;;) {
      const next = Math.min(burst, t + add);
      const seen = Atomics.compareExchange(sh, w + W_TOKENS, t, next);
      if (seen === t) return;
      t = seen;
    }
  }
}
