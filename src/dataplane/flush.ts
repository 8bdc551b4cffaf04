/**
 * Output of a batch (STYLE.md 7): frames are queued on their output's list while the batch is
 * classified (queuePort; uplink messages are added to ForwarderState.upVx / upNv directly), and
 * flushAll writes every list with one call per output - when the batch ends, or early when a list
 * is full. Frames a port or uplink did not take are counted as tx-full drops.
 */
import type { FrameBatch, Uplink } from '../io/types.js';
import { Drop } from '../vfp/drops.js';
import { C, P, PORT_STRIDE } from './counters.js';
import type { ForwarderState } from './forwarder-state.js';
import type { UplinkOutput } from './outputs.js';
import { GsoGroups, groupRuns, worthGrouping } from './gso-batch.js';
import { QOS_IN } from './qos.js';
import { mirrorTo } from './mirror.js';

/** Queues `slot` of the current batch for port `p`. */
export function queuePort(st: ForwarderState, p: number, slot: number): void {
  const m = st.meters;
  if (m.on && m.rate[p * 2 + QOS_IN] !== 0 && !m.take(p * 2 + QOS_IN, st.cur.len[slot], st.nowMs)) return st.counters.drop(Drop.Qos, p);
  if (st.mirrorOn) mirrorTo(st, st.snap.portById[p], slot);
  if (!st.outs.addMain(p, slot)) {
    flushAll(st);
    st.outs.addMain(p, slot);
  }
}

export function flushAll(st: ForwarderState): void {
  const outs = st.outs;
  const b = st.cur;
  for (let t = 0; t < outs.touchedN; t++) {
    const p = outs.touched[t];
    const n = outs.mainN[p];
    if (n > 0) writePort(st, p, b, outs.main[p], n);
    const m = outs.copyN[p];
    if (m > 0) writePort(st, p, st.copies, outs.copy[p], m);
  }
  outs.reset();
  st.copyN = 0;
  st.bigCopyN = 0;
  if (st.upVx.n > 0) writeUplink(st, st.io.vxlan, st.upVx, b);
  if (st.upNv.n > 0) writeUplink(st, st.io.nvgre, st.upNv, b);
}

function writePort(st: ForwarderState, p: number, b: FrameBatch, idx: Int32Array, n: number): void {
  const port = st.io.ports[p];
  const g = st.counters.global;
  const pc = st.counters.port;
  const pb = p * PORT_STRIDE;
  if (!port) {
    g[C.DropBase + Drop.PortDown] += n;
    pc[pb + P.Drops] += n;
    return;
  }
  const sent = port.write(b, idx, n);
  let bytes = 0;
  for (let k = 0; k < sent; k++) bytes += b.len[idx[k]];
  g[C.PortTxFrames] += sent;
  g[C.PortTxBytes] += bytes;
  pc[pb + P.TxFrames] += sent;
  pc[pb + P.TxBytes] += bytes;
  if (sent < n) {
    g[C.DropBase + Drop.TxFull] += n - sent;
    pc[pb + P.TxFull] += n - sent;
    pc[pb + P.Drops] += n - sent;
  }
}

function writeUplink(st: ForwarderState, up: Uplink | undefined, out: UplinkOutput, b: FrameBatch): void {
  const g = st.counters.global;
  const n = out.n;
  out.n = 0;
  if (!up) {
    g[C.DropBase + Drop.NoUplink] += n;
    return;
  }
  const gso = up.gso;
  out.n = n; // stageGroups reads the list
  if (gso !== undefined && worthGrouping(out)) {
    writeGrouped(st, up, out, b);
    out.n = 0;
    return;
  }
  out.n = 0;
  const sent = gso !== undefined
    ? gso.writeMsgs(b.slab, out.start, out.len, out.gso, out.sport, out.src, out.dst, n)
    : up.write(msgView(st, b, out), out.iota, out.src, out.dst, n);
  let bytes = 0;
  for (let k = 0; k < sent; k++) bytes += out.len[k];
  g[C.UplinkTxFrames] += sent;
  g[C.UplinkTxBytes] += bytes;
  if (sent < n) g[C.DropBase + Drop.TxFull] += n - sent;
  const rs = up.ringStats;
  if (rs !== undefined) {
    g[C.NvgreRingFrames] += rs[0]!;
    g[C.NvgreRingFull] += rs[1]!;
    g[C.NvgreRingFallback] += rs[2]!;
    rs[0] = rs[1] = rs[2] = 0;
  }
}

/** The messages of `out` with runs of one flow's equal-sized datagrams grouped into UDP_SEGMENT
 * messages (gso-batch.ts), each gathered from its datagrams where they lie in the batch. */
function writeGrouped(st: ForwarderState, up: Uplink, out: UplinkOutput, b: FrameBatch): void {
  const g = st.counters.global;
  const gso = up.gso!;
  const groups = (st.gsoGroups ??= new GsoGroups(out.capacity));
  groupRuns(out, groups, gso.maxSegments);
  const n = groups.n;
  const sent = gso.writeMsgs(b.slab, out.start, out.len, groups.gso, groups.sport, groups.src, groups.dst, n, groups.parts);
  let bytes = 0;
  for (let k = 0; k < sent; k++) bytes += groups.bytes[k];
  g[C.UplinkTxFrames] += sent;
  g[C.UplinkTxBytes] += bytes;
  g[C.GsoGrouped] += groups.grouped;
  if (sent < n) g[C.DropBase + Drop.TxFull] += n - sent;
}

/** The view of batch `b` whose start/len are `out`'s message arrays (made once per batch). */
export function msgView(st: ForwarderState, b: FrameBatch, out: UplinkOutput): FrameBatch {
  let v = st.msgViews.get(b);
  if (v === undefined) {
    const mk = (o: UplinkOutput): FrameBatch => ({ slab: b.slab, view: b.view, slotSize: b.slotSize, capacity: o.capacity, start: o.start, len: o.len, count: 0 });
    v = [mk(st.upVx), mk(st.upNv)];
    st.msgViews.set(b, v);
  }
  return out === st.upVx ? v[0] : v[1];
}
