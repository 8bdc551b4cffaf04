/**
 * qos-out / qos-in, mirror: what the dataplane does per frame, shown as layers (a mirror copy
 * and a cap apply to every frame, so neither can be a cached per-flow decision).
 * qos: the port's bandwidth cap. The meter runs per frame in the dataplane
 * (dataplane/qos.ts: a token bucket per port and direction, the fast path included), because a
 * flow-table entry caches decisions per flow and a cap is per frame; this layer makes the cap
 * visible in `ctl layers` and in trace, and decides nothing.
 */
import { CONTINUE, type Decision } from '../decision.js';
import type { Layer } from '../layer.js';
import type { LayerCtx } from './ctx.js';

export function qos(_c: LayerCtx, d: Decision, L: Layer): number {
  if (d.rec) d.step(L.name, L.rules[0], 'carried out per frame by the dataplane: pass');
  return CONTINUE;
}
