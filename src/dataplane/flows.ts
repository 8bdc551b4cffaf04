/**
 * dump-flows: the unified flow table as plain JSON objects (match, action, counters, age,
 * generation), optionally only the entries whose input or output is one port. Off the fast path.
 */
import { A_PORT, type ActionTable } from '../vfp/actions.js';
import { CT_STATE_NAMES, type ConnTrack } from '../vfp/conntrack.js';
import { DROP_NAMES } from '../vfp/drops.js';
import { describeAction, macText } from '../vfp/describe.js';
import { UPLINK_BASE } from '../vfp/engine.js';
import { DIR_IN, KEY_WORDS } from '../vfp/flowkey.js';
import type { Snapshot } from '../vfp/snapshot.js';
import type { FlowTable } from '../vfp/uft.js';
import type { AddrTable6 } from '../vfp/ip6.js';
import { formatIpv6 } from '../wire/addr6.js';

export interface FlowDumpEntry {
  /** Input: a port name, or "uplink" for frames from the wire. */
  port: string;
  /** From the wire: the host that sent it. */
  fromHost?: string;
  direction: 'out' | 'in';
  match: {
    vsid: number;
    srcMac: string;
    dstMac: string;
    ethertype: string;
    proto?: number;
    srcIp?: string;
    dstIp?: string;
    srcPort?: number;
    dstPort?: number;
    icmpType?: number;
    icmpCode?: number;
    icmpId?: number;
  };
  action: string;
  /** Output port name when the action delivers locally. */
  output?: string;
  counters: { frames: number; bytes: number };
  ageMs: number;
  idleMs: number;
  generation: number;
  /** Computed under an older snapshot: re-evaluated at its next frame. */
  stale: boolean;
  conntrack?: string;
}

function ipText(v: number): string {
  return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

/** IPv6 address id (ip6.ts: flow keys hold ids, not addresses) -> its text, from the snapshot's
 * table; an id the table does not know (0: an address of no endpoint) reads "unknown". */
function v6Names(t: AddrTable6): (id: number) => string {
  const names = new Map<number, string>();
  const a = new Uint8Array(16);
  const v = new DataView(a.buffer);
  for (let s = 0; s < t.ids.length; s++) {
    if (t.ids[s] === 0) continue;
    for (let w = 0; w < 4; w++) v.setUint32(w * 4, t.keys[s * 4 + w]);
    names.set(t.ids[s], formatIpv6(a));
  }
  return (id) => names.get(id) ?? 'unknown';
}

export function dumpFlows(uft: FlowTable, actions: ActionTable, ct: ConnTrack, snap: Snapshot, now: number, filter?: { port?: string }): FlowDumpEntry[] {
  let want = -2;
  if (filter?.port !== undefined) {
    want = snap.portByName.get(filter.port) ?? -3;
    if (want === -3) return [];
  }
  const out: FlowDumpEntry[] = [];
  const k = uft.keys;
  let v6: ((id: number) => string) | undefined;
  for (let s = 0; s < uft.capacity; s++) {
    if (uft.used[s] === 0) continue;
    const base = s * KEY_WORDS;
    const inPort = k[base] & 0xffff;
    const dir = k[base] >>> 16;
    const a = uft.action[s];
    const outPort = actions.kind[a] === A_PORT ? actions.port[a] : -1;
    if (want !== -2 && inPort !== want && outPort !== want) continue;
    const w2 = k[base + 2];
    const dstMac = (w2 >>> 16) * 0x100000000 + k[base + 3];
    const srcMac = (w2 & 0xffff) * 0x100000000 + k[base + 4];
    const w5 = k[base + 5];
    const ethertype = w5 >>> 16;
    const isIp = (w5 & 1) === 1;
    const match: FlowDumpEntry['match'] = { vsid: k[base + 1], srcMac: macText(srcMac), dstMac: macText(dstMac), ethertype: `0x${ethertype.toString(16).padStart(4, '0')}` };
    if (isIp || ethertype === 0x86dd) {
      const proto = (w5 >>> 8) & 0xff;
      match.proto = proto;
      if (isIp) {
        match.srcIp = ipText(k[base + 6]);
        match.dstIp = ipText(k[base + 7]);
      } else {
        v6 ??= v6Names(snap.v6.table);
        match.srcIp = v6(k[base + 6]);
        match.dstIp = v6(k[base + 7]);
      }
      const sp = k[base + 8] >>> 16;
      const dp = k[base + 8] & 0xffff;
      if (proto === 1 || proto === 58) {
        match.icmpType = sp >>> 8;
        match.icmpCode = sp & 0xff;
        match.icmpId = dp;
      } else if (proto === 6 || proto === 17) {
        match.srcPort = sp;
        match.dstPort = dp;
      }
    }
    const e: FlowDumpEntry = {
      port: inPort >= UPLINK_BASE ? 'uplink' : (snap.portById[inPort]?.name ?? `port#${inPort}`),
      direction: dir === DIR_IN ? 'in' : 'out',
      match,
      action: describeAction(actions, a, snap, DROP_NAMES),
      counters: { frames: uft.frames[s], bytes: uft.bytes[s] },
      ageMs: now - uft.created[s],
      idleMs: now - uft.lastHit[s],
      generation: uft.gen[s],
      stale: uft.gen[s] !== snap.generation,
    };
    if (inPort >= UPLINK_BASE) e.fromHost = snap.hosts[inPort - UPLINK_BASE]?.name ?? `host#${inPort - UPLINK_BASE}`;
    if (outPort >= 0) e.output = snap.portById[outPort]?.name ?? `port#${outPort}`;
    const c = uft.ct[s];
    if (c >= 0) e.conntrack = ct.alive(c, uft.ctId[s], now) ? CT_STATE_NAMES[ct.state[c]] : 'gone';
    out.push(e);
  }
  return out;
}
