import { describe, expect, it } from 'vitest';
import { BusyPoller } from '../../src/agent/busy-poll.js';
import { C, GLOBAL_COUNT } from '../../src/dataplane/counters.js';

/** A clock that advances `step` ms at every reading, and a poll that finds frames on chosen rounds. */
function rig(found: (round: number) => number, step = 0.01) {
  let t = 0;
  let rounds = 0;
  const g = new Float64Array(GLOBAL_COUNT);
  const now = () => (t += step);
  const poll = () => found(rounds++);
  return { g, now, poll, rounds: () => rounds };
}

describe('adaptive busy polling', () => {
  it('keeps polling until nothing came for the idle time, counting the polls that found frames', () => {
    // frames on rounds 0..4, then nothing: 5 hits, then polls until 100 us idle (10 us per reading)
    const r = rig((i) => (i < 5 ? 3 : 0));
    new BusyPoller(100, 2000, r.poll, r.g, r.now).after(1);
    expect(r.g[C.BusyPollSpins]).toBe(1);
    expect(r.g[C.BusyPollHits]).toBe(5);
    // after the last hit, about 100 us / 10 us of empty polls
    expect(r.rounds()).toBeGreaterThanOrEqual(5 + 9);
    expect(r.rounds()).toBeLessThanOrEqual(5 + 11);
    expect(r.g[C.BusyPollUs]).toBeGreaterThan(100);
  });

  it('never spins longer than the cap, even when frames keep coming', () => {
    const r = rig(() => 1);
    new BusyPoller(100, 500, r.poll, r.g, r.now).after(1);
    expect(r.g[C.BusyPollUs]).toBeLessThanOrEqual(520);
    expect(r.g[C.BusyPollUs]).toBeGreaterThanOrEqual(490);
  });

  it('does nothing when off, after an empty wake-up, or from inside a spin', () => {
    const off = rig(() => 1);
    new BusyPoller(0, 500, off.poll, off.g, off.now).after(5);
    expect(off.rounds()).toBe(0);
    const empty = rig(() => 1);
    new BusyPoller(100, 500, empty.poll, empty.g, empty.now).after(0);
    expect(empty.rounds()).toBe(0);
    // a readiness callback run from inside pollAll must not start a second spin
    let t = 0;
    const g = new Float64Array(GLOBAL_COUNT);
    let inner = 0;
    const bp: BusyPoller = new BusyPoller(50, 500, () => (inner++ < 3 ? (bp.after(1), 1) : 0), g, () => (t += 0.01));
    bp.after(1);
    expect(g[C.BusyPollSpins]).toBe(1);
  });
});
