/**
 * Before the demo sends a probe (the UDP marker, iperf3's TCP connection), it asks the agents
 * with `trace` whether the policy lets that frame through, first out of the sender's port on its
 * host, then into the receiver's port on the other. A policy that blocks it gets named: the rule,
 * the layer and the port, so the user knows why the demo skips that probe, not "iperf3 gave no
 * JSON" half a minute later.
 */
import { controlRequest } from '../agent/control-client.js';
import type { FrameSpec } from '../agent/control-protocol.js';
import type { TraceResult } from '../vfp/trace-types.js';

export interface ProbeEnd {
  /** Port (network interface) name. */
  port: string;
  /** Control socket of the agent on the port's host. */
  socket: string;
}

async function traceOne(end: ProbeEnd, direction: 'out' | 'in', spec: FrameSpec): Promise<string | undefined> {
  const r = (await controlRequest(end.socket, { op: 'trace', port: end.port, direction, spec })) as TraceResult;
  if (r.verdict !== 'drop') return undefined;
  // the deciding step is the last one: a rule that denies, or a layer's default ("no rule matches")
  const step = r.steps[r.steps.length - 1];
  const what = step ? (step.rule ? `rule ${step.rule}` : step.action) : 'no step';
  return `${what} (layer ${step?.layer ?? '?'} of port ${end.port}, ${direction === 'out' ? 'leaving it' : 'arriving'}; drop reason ${r.dropReason ?? '?'})`;
}

/** Why policy drops `spec` on its way from `from` to `to`, or undefined when it passes. */
export async function policyBlocks(from: ProbeEnd, to: ProbeEnd, spec: FrameSpec): Promise<string | undefined> {
  return (await traceOne(from, 'out', spec)) ?? (await traceOne(to, 'in', spec));
}
