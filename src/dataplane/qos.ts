/**
 * QoS (issue 15): a token bucket per port and direction, in the dataplane (not tc). Out = frames
 * the port sends, metered before they are parsed; in = frames written to the port (queuePort:
 * delivered, routed, decapsulated, and the dataplane's own answers), metered as they are queued.
 * Bytes are counted as read or written, so a TSO super-frame or a GRO buffer costs its whole
 * length. A frame is admitted while the bucket is not in debt and then takes its bytes (the
 * bucket may go below zero by one frame): a 64 KB super-frame is never refused for being larger
 * than the bucket, and the average still holds. Refused frames are counted as the `qos` drop.
 * Burst: 250 ms at the rate, at least 16 KB: TCP through a policer loses whole 64 KB super-frames
 * when the bucket runs dry, and with 20 ms (100 ms) of burst iperf3 measured 16 (60-66) Mbit/s
 * through a 100 Mbit/s cap, with 250 ms 101-105. Clock: the batch's milliseconds.
 *
 * Per worker: each forwarding worker meters what it forwards. One flow is always forwarded by one
 * worker (TAP queues and uplink sockets are steered by flow), so a single flow meets the cap; a
 * port's many flows spread over W workers may together reach up to W x the cap.
 *
 * The cost for ports without QoS: a snapshot with no QoS port skips the meter (`on` false); with
 * one, other ports pay one typed-array read per frame.
 */
import type { Snapshot } from '../vfp/snapshot.js';

export const QOS_OUT = 0;
export const QOS_IN = 1;
const BURST_MS = 250;
const BURST_MIN = 16384;

export class PortMeters {
  /** Some port of the snapshot has a cap. */
  on = false;
  /** Per port id * 2 + direction: bytes per ms (0: no cap), bucket size, tokens, last refill. */
  rate = new Float64Array(0);
  burst = new Float64Array(0);
  tokens = new Float64Array(0);
  last = new Float64Array(0);

  /** Takes the caps of snapshot `s`; a port whose cap is unchanged keeps its bucket. */
  configure(s: Snapshot): void {
    const n = s.portById.length * 2;
    if (this.rate.length < n) {
      const grow = (a: Float64Array) => {
        const b = new Float64Array(n);
        b.set(a);
        return b;
      };
      this.rate = grow(this.rate);
      this.burst = grow(this.burst);
      this.tokens = grow(this.tokens);
      this.last = grow(this.last);
    }
    let on = false;
    for (let id = 0; id < s.portById.length; id++) {
      const p = s.portById[id];
      const perMs = p === undefined ? 0 : (p.qosMbps * 1e6) / 8 / 1000;
      for (let dir = 0; dir < 2; dir++) {
        const i = id * 2 + dir;
        if (this.rate[i] === perMs) continue;
        this.rate[i] = perMs;
        this.burst[i] = Math.max(perMs * BURST_MS, BURST_MIN);
        this.tokens[i] = this.burst[i];
        this.last[i] = 0;
      }
      if (perMs > 0) on = true;
    }
    this.on = on;
  }

  /** Admits `bytes` on meter `i` (port id * 2 + direction) at `now` ms, or refuses them. */
  take(i: number, bytes: number, now: number): boolean {
    let t = this.tokens[i];
    const dt = now - this.last[i];
    if (dt > 0) {
      t = Math.min(this.burst[i], t + dt * this.rate[i]);
      this.last[i] = now;
    }
    if (t < 0) {
      this.tokens[i] = t;
      return false;
    }
    this.tokens[i] = t - bytes;
    return true;
  }
}
