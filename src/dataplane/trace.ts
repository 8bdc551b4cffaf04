/**
 * trace: what the dataplane would do with one frame, layer by layer (as ovs-appctl ofproto/trace).
 * It is the forwarding path itself: the same parser, the flow table's current entry for the flow,
 * and the same Engine.egress / Engine.ingress walk over the port's layers with a recorder
 * attached, so trace cannot disagree with forwarding. It works on a copy of the frame and changes
 * no state (no conntrack entries, flow entries, quota tokens, fragment entries or counters).
 *
 * A frame traced "in" comes from the wire for the port: from host `fromHost` when given, else the
 * host policy places its source on (the ingress guard judges it by that host).
 */
import type { FramePort, Uplink } from '../io/types.js';
import { A_DROP, A_PORT, ENCAP_NVGRE, type ActionTable } from '../vfp/actions.js';
import { H_ARP_REPLY, H_DHCP, V_DROP, V_FORWARD, V_HAIRPIN } from '../vfp/decision.js';
import { describeAction, macText } from '../vfp/describe.js';
import { DROP_NAMES, Drop } from '../vfp/drops.js';
import { UPLINK_BASE, type Engine } from '../vfp/engine.js';
import { formatIpv6 } from '../wire/addr6.js';
import { DIR_IN, DIR_OUT, K_IPV4, K_IPV6, KEY_WORDS, PROTO_ICMP, fillKey, hashKey, innerFlowHash, parseFrame } from '../vfp/flowkey.js';
import type { PortInfo, Snapshot } from '../vfp/snapshot.js';
import type { TraceResult, TraceStep } from '../vfp/trace-types.js';
import type { FlowTable } from '../vfp/uft.js';

export interface TraceContext {
  snap: Snapshot;
  engine: Engine;
  uft: FlowTable;
  actions: ActionTable;
  io: { ports: (FramePort | undefined)[]; vxlan?: Uplink; nvgre?: Uplink };
}

function ipText(v: number): string {
  return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

/** The live entry for `key` without touching the table (no expiry, no counters). */
function peek(uft: FlowTable, key: Uint32Array, h: number, now: number): number {
  for (let i = 0; i < 8; i++) {
    const s = (h + i) & (uft.capacity - 1);
    if (uft.used[s] === 0 || uft.hash[s] !== h) continue;
    let same = true;
    for (let w = 0; w < KEY_WORDS; w++) if (uft.keys[s * KEY_WORDS + w] !== key[w]) same = false;
    if (same) return now - uft.lastHit[s] > uft.idleMs ? -1 : s;
  }
  return -1;
}

/** The host a frame from the wire for port X is taken to come from. */
function sourceHost(snap: Snapshot, X: PortInfo, srcMac: number, srcIp: number, isIp: boolean, fromHost?: string): number {
  if (fromHost !== undefined) {
    const h = snap.hosts.findIndex((x) => x.name === fromHost);
    if (h < 0) throw new Error(`trace: no host "${fromHost}" in the policy`);
    if (h === snap.hostIndex) throw new Error(`trace: ${fromHost} is this host; frames from the wire come from another host`);
    return h;
  }
  let ep = snap.endpointByMac[X.subnetIndex].get(srcMac);
  if (ep === undefined && srcMac === snap.routerMac && isIp) ep = snap.endpointByIp[X.rdid].get(srcIp);
  const h = ep === undefined ? -1 : snap.endpoints[ep].hostIndex;
  return h === snap.hostIndex ? -1 : h;
}

export function traceFrame(ctx: TraceContext, portName: string, frame: Uint8Array, direction: 'out' | 'in', now: number, fromHost?: string): TraceResult {
  const { snap, engine, uft, actions } = ctx;
  const pi = snap.portByName.get(portName);
  if (pi === undefined) throw new Error(`trace: no port "${portName}" on host ${snap.hostName}`);
  const X: PortInfo = snap.portById[pi]!;
  // a switch port or a gateway port has no VSID a frame from the wire could carry to it
  if (direction === 'in' && X.subnetIndex < 0) throw new Error(`trace: port "${portName}" is in no virtual subnet: frames from the wire never reach it directly (trace what its peers send)`);
  const buf = new Uint8Array(frame.length + 64);
  buf.set(frame, 0);
  const f = engine.d.f;
  const steps: TraceStep[] = [];
  const res: TraceResult = { port: portName, direction, generation: snap.generation, frame: {}, steps, verdict: 'drop', outputs: [], uft: 'not-cached' };
  const dropWith = (reason: number): TraceResult => {
    res.verdict = 'drop';
    res.dropReason = DROP_NAMES[reason];
    return res;
  };
  const srcHost = direction === 'in' ? -2 : -1;
  const where = direction === 'out' ? `sent by ${portName}` : `from the wire (VSID ${X.vsid}) for ${portName}`;
  if (parseFrame(buf, 0, frame.length, f) !== Drop.None) {
    steps.push({ layer: 'edge', rule: null, action: `frame ${where}: malformed (Ethernet/IPv4/ARP/L4 lengths or IPv4 checksum): drop` });
    return dropWith(Drop.Malformed);
  }
  res.frame = {
    length: frame.length,
    srcMac: macText(f.srcMac),
    dstMac: macText(f.dstMac),
    ethertype: `0x${f.ethertype.toString(16).padStart(4, '0')}`,
    ...(f.isIp ? { srcIp: ipText(f.src), dstIp: ipText(f.dst), proto: f.proto, ttl: f.ttl } : {}),
    ...(f.kind === K_IPV6 && frame.length >= 54 ? { srcIp: formatIpv6(buf, f.l3 + 8), dstIp: formatIpv6(buf, f.l3 + 24), proto: f.proto, ttl: f.ttl } : {}),
    ...(f.l4 ? { srcPort: f.sport, dstPort: f.dport } : {}),
    ...(f.proto === PROTO_ICMP ? { icmpType: f.sport >>> 8, icmpCode: f.sport & 0xff } : {}),
  };
  let host = -1;
  if (srcHost === -2) {
    host = sourceHost(snap, X, f.srcMac, f.src, f.isIp, fromHost);
    steps.push({ layer: 'edge', rule: null, action: `frame ${where}, from host ${host >= 0 ? snap.hosts[host].name : '(none that policy places its source on)'}: valid` });
  } else steps.push({ layer: 'edge', rule: null, action: `frame ${where}: valid` });

  f.inPort = direction === 'out' ? X.index : UPLINK_BASE + Math.max(host, 0);
  f.dir = direction === 'out' ? DIR_OUT : DIR_IN;
  f.vsid = X.vsid;
  const cacheable = (f.kind === K_IPV4 || (f.kind === K_IPV6 && !f.bad6)) && f.fragOff === 0 && (buf[0] & 1) === 0;
  if (cacheable) {
    const key = new Uint32Array(KEY_WORDS);
    fillKey(f, key);
    const h = hashKey(key);
    const s = peek(uft, key, h, now);
    res.uft = s < 0 ? 'miss' : uft.gen[s] === snap.generation ? 'hit' : 'stale';
    if (s >= 0) steps.push({ layer: 'uft', rule: `entry of generation ${uft.gen[s]}, ${uft.frames[s]} frames`, action: `${describeAction(actions, uft.action[s], snap, DROP_NAMES)} (the layers below decide and would give the same)` });
    else steps.push({ layer: 'uft', rule: null, action: 'no entry: the first frame of this flow takes the layers (slow path)' });
  }
  const entropy = innerFlowHash(f);
  const d = direction === 'out' ? engine.egress(X, entropy, now, steps) : engine.ingress(X.subnetIndex, host, entropy, now, steps);
  if (d.verdict === V_DROP) return dropWith(d.drop);
  if (d.verdict === V_HAIRPIN) {
    res.verdict = 'reply';
    res.outputs.push(`port ${portName}${d.hairpin === H_ARP_REPLY ? ' (ARP reply)' : d.hairpin === H_DHCP ? ' (DHCP reply)' : ' (ICMP echo reply)'}`);
    return res;
  }
  if (d.verdict === V_FORWARD) {
    const a = d.action;
    if (actions.kind[a] === A_DROP) return dropWith(actions.drop[a]);
    if (actions.route[a] !== 0 && direction === 'out' && f.ttl <= 1) {
      steps.push({ layer: 'router', rule: `TTL ${f.ttl}`, action: 'TTL exceeded: drop, ICMP time exceeded back to the sender' });
      res.outputs.push(`port ${portName} (ICMP time exceeded)`);
      return dropWith(Drop.TtlExceeded);
    }
    res.verdict = 'forward';
    if (actions.kind[a] === A_PORT) res.outputs.push(`port ${snap.portById[actions.port[a]]!.name}`);
    else {
      const enc = actions.encap[a] === ENCAP_NVGRE ? 'nvgre' : 'vxlan';
      if ((enc === 'nvgre' ? ctx.io.nvgre : ctx.io.vxlan) === undefined) steps.push({ layer: 'vnet', rule: null, action: `the ${enc} uplink is not open: drop` });
      res.outputs.push(describeAction(actions, a, snap, DROP_NAMES).replace(/^.*?encap /, ''));
    }
    return res;
  }
  // replicate
  const s = snap.subnets[X.subnetIndex];
  for (let k = 0; k < d.repN; k++) res.outputs.push(`port ${snap.portById[d.repPorts[k]]!.name}`);
  for (let k = 0; k < d.repHostN; k++) {
    const h = snap.hosts[d.repHosts[k]];
    res.outputs.push(`${s.encapsulation} ${s.encapsulation === 'nvgre' ? 'key' : 'vni'} ${s.vsid} -> host ${h.name} (${h.pasText.join(', ')})`);
  }
  res.verdict = 'forward';
  return res;
}
