/**
 * Adaptive busy polling, bounded (the idea of OVS-DPDK's PMD threads and of the kernel's
 * SO_BUSY_POLL, without giving a core away for good). A worker sleeps in epoll (uv_poll) until one
 * of its fds is readable; every such wake-up costs a scheduler hand-off, and on a ping's path there
 * are four of them (tenant -> worker, worker -> peer's worker, and back). After a wake-up that
 * forwarded something, the worker keeps reading its queues and uplinks without sleeping until
 * nothing has come for `idleUs`, so an answer that follows soon after (a ping reply, the next
 * segment of a request) is taken without another wake-up. Never longer than `maxUs` in one go:
 * the worker's event loop (policy swaps, dump-flows, trace) runs between spins, and under
 * continuous load the level-triggered poll brings it straight back.
 *
 * Cost: up to `idleUs` of CPU after each burst. 0 turns it off (the agent's `--busy-poll 0`).
 */
import { performance } from 'node:perf_hooks';
import { C } from '../dataplane/counters.js';

/** Default: off. Measured on the 2-core bench machine (both hosts and their tenants share the
 * cores): 200 us made ping RTT worse (median 462-531 us against 312-378 off) and tcp-1 slower
 * (4.4-4.5 against 4.9 Gbit/s), since a spinning worker takes the core the other side needs. It
 * pays where a worker has a core of its own. */
export const BUSY_POLL_DEFAULT_US = 0;
/** The longest one spin may keep the worker's event loop from its other work (us). */
export const BUSY_POLL_MAX_US = 2000;

export class BusyPoller {
  /** True while spinning: a readiness callback that fires from inside a spin does not nest. */
  private active = false;

  constructor(
    /** Stop after this long without a frame. */
    private readonly idleUs: number,
    /** Stop after this long in any case. */
    private readonly maxUs: number,
    /** Reads every queue and uplink once; returns the frames read. */
    private readonly pollAll: () => number,
    /** The worker's global counters (C.BusyPollSpins, BusyPollHits, BusyPollUs). */
    private readonly g: Float64Array,
    private readonly now: () => number = () => performance.now(),
  ) {}

  get enabled(): boolean {
    return this.idleUs > 0;
  }

  /** Called after a wake-up forwarded `got` frames. */
  after(got: number): void {
    if (got <= 0 || this.idleUs <= 0 || this.active) return;
    this.active = true;
    const idle = this.idleUs / 1000;
    const start = this.now();
    const end = start + this.maxUs / 1000;
    let last = start;
    let t = start;
    this.g[C.BusyPollSpins]++;
    while (t - last < idle && t < end) {
      if (this.pollAll() > 0) {
        this.g[C.BusyPollHits]++;
        last = this.now();
        t = last;
      } else {
        t = this.now();
      }
    }
    this.g[C.BusyPollUs] += Math.round((t - start) * 1000);
    this.active = false;
  }
}
