/**
 * trace: what the dataplane would do with one frame, layer by layer (as ovs-appctl ofproto/trace):
 * edge validation, the ARP responder, the router's own address, replication, the flow table's
 * current entry for the flow, then each layer's matching rule and action, and the verdict with
 * its outputs. It works on a copy of the frame and changes no state (no conntrack entries, no
 * flow entries, no counters).
 */
import type { FramePort, Uplink } from '../io/types.js';
import { arpCheck } from '../wire/arp.js';
import { readU16, readU32 } from '../wire/bytes.js';
import { A_DROP, A_PORT, ENCAP_NVGRE, type ActionTable } from '../vfp/actions.js';
import type { ConnTrack } from '../vfp/conntrack.js';
import { DROP_NAMES, Drop } from '../vfp/drops.js';
import { DIR_IN, DIR_OUT, ETH_ARP, FlowFields, KEY_WORDS, PROTO_ICMP, UPLINK_PORT, fillKey, hashKey, innerFlowHash, parseFrame } from '../vfp/flowkey.js';
import { describeAction, macText, type SlowPath } from '../vfp/pipeline.js';
import type { PortInfo, Snapshot } from '../vfp/snapshot.js';
import type { TraceResult, TraceStep } from '../vfp/trace-types.js';
import type { FlowTable } from '../vfp/uft.js';

export interface TraceContext {
  snap: Snapshot;
  slow: SlowPath;
  uft: FlowTable;
  ct: ConnTrack;
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

export function traceFrame(ctx: TraceContext, portName: string, frame: Uint8Array, direction: 'out' | 'in', now: number): TraceResult {
  const { snap, slow, uft, actions } = ctx;
  const pi = snap.portByName.get(portName);
  if (pi === undefined) throw new Error(`trace: no port "${portName}" on host ${snap.hostName}`);
  const X: PortInfo = snap.ports[pi];
  const buf = new Uint8Array(frame.length + 64);
  buf.set(frame, 0);
  const f = new FlowFields();
  const steps: TraceStep[] = [];
  const res: TraceResult = { port: portName, direction, generation: snap.generation, frame: {}, steps, verdict: 'drop', outputs: [], uft: 'not-cached' };
  const dropWith = (reason: number): TraceResult => {
    res.verdict = 'drop';
    res.dropReason = DROP_NAMES[reason];
    return res;
  };
  const where = direction === 'out' ? `sent by ${portName}` : `from the wire (VSID ${X.vsid}) for ${portName}`;
  if (parseFrame(buf, 0, frame.length, f) !== Drop.None) {
    steps.push({ layer: 'edge', rule: null, action: `frame ${where}: malformed (Ethernet/IPv4/L4 lengths or IPv4 checksum): drop` });
    return dropWith(Drop.Malformed);
  }
  res.frame = {
    length: frame.length,
    srcMac: macText(f.srcMac),
    dstMac: macText(f.dstMac),
    ethertype: `0x${f.ethertype.toString(16).padStart(4, '0')}`,
    ...(f.isIp ? { srcIp: ipText(f.src), dstIp: ipText(f.dst), proto: f.proto, ttl: f.ttl } : {}),
    ...(f.l4 ? { srcPort: f.sport, dstPort: f.dport } : {}),
    ...(f.proto === PROTO_ICMP ? { icmpType: f.sport >>> 8, icmpCode: f.sport & 0xff } : {}),
  };
  steps.push({ layer: 'edge', rule: null, action: `frame ${where}: valid` });
  const subnet = snap.subnets[X.subnetIndex];

  if (direction === 'out' && f.ethertype === ETH_ARP) {
    if (arpCheck(buf, 14, frame.length - 14) !== 0) {
      steps.push({ layer: 'arp', rule: null, action: 'malformed ARP: drop' });
      return dropWith(Drop.Malformed);
    }
    const op = readU16(buf, 14 + 6);
    const tpa = readU32(buf, 14 + 24);
    const spa = readU32(buf, 14 + 14);
    if (op !== 1 || spa === tpa || tpa === X.ip) {
      steps.push({ layer: 'arp', rule: null, action: 'not a request for another address (reply, gratuitous or probe): drop, the dataplane answers ARP itself' });
      return dropWith(Drop.ArpIgnored);
    }
    let answer: string | null = null;
    if (tpa === X.gateway) answer = `${ipText(tpa)} is the gateway: router MAC ${snap.routerMacText}`;
    else {
      const ep = snap.endpointByIp[X.rdid].get(tpa);
      if (ep !== undefined && snap.endpoints[ep].subnetIndex === X.subnetIndex) answer = `${ipText(tpa)} is ${snap.endpoints[ep].name}: ${snap.endpoints[ep].macText}`;
    }
    if (answer === null) {
      steps.push({ layer: 'arp', rule: null, action: `who-has ${ipText(tpa)}: unknown in VSID ${X.vsid}, no answer` });
      return dropWith(Drop.ArpUnknown);
    }
    steps.push({ layer: 'arp', rule: answer, action: `reply in place, back out ${portName}` });
    res.verdict = 'reply';
    res.outputs.push(`port ${portName}`);
    return res;
  }

  f.inPort = direction === 'out' ? X.index : UPLINK_PORT;
  f.dir = direction === 'out' ? DIR_OUT : DIR_IN;
  f.vsid = X.vsid;
  const rec: TraceStep[] = [];
  const prevRec = slow.rec;
  slow.rec = rec;
  try {
    if ((buf[0] & 1) !== 0) {
      if (direction === 'out') {
        if (X.aclOut !== null && !slow.aclAllows(X.aclOut, f, 'acl-out', X.name)) {
          steps.push(...rec);
          return dropWith(Drop.AclDeny);
        }
      }
      for (const p of subnet.localPorts) {
        if (direction === 'out' && p === X.index) continue;
        const Y = snap.ports[p];
        if (Y.aclIn === null || slow.aclAllows(Y.aclIn, f, 'acl-in', Y.name)) res.outputs.push(`port ${Y.name}`);
      }
      if (direction === 'out') {
        for (const h of subnet.remoteHosts) {
          const host = snap.hosts[h];
          res.outputs.push(`${subnet.encapsulation} ${subnet.encapsulation === 'nvgre' ? 'key' : 'vni'} ${subnet.vsid} -> host ${host.name} (${host.pasText.join(', ')})`);
        }
      }
      steps.push(...rec);
      steps.push({ layer: 'replicate', rule: `${f.dstMac === 0xffffffffffff ? 'broadcast' : 'multicast'} in VSID ${subnet.vsid}`, action: `unicast copies: ${res.outputs.join('; ') || 'none'}` });
      if (res.outputs.length === 0) return dropWith(Drop.NoPort);
      res.verdict = 'forward';
      return res;
    }
    if (direction === 'out' && f.isIp && f.dst === X.gateway && f.dstMac === snap.routerMac) {
      const echo = f.proto === PROTO_ICMP && !f.frag && f.sport >>> 8 === 8;
      steps.push({ layer: 'router', rule: `${ipText(f.dst)} is the router's address in ${subnet.name}`, action: echo ? 'ICMP echo request: answer with an echo reply' : 'not an echo request: drop' });
      if (!echo) return dropWith(Drop.RouterLocal);
      res.verdict = 'reply';
      res.outputs.push(`port ${portName}`);
      return res;
    }
    const key = new Uint32Array(KEY_WORDS);
    fillKey(f, key);
    const h = hashKey(key);
    const s = peek(uft, key, h, now);
    res.uft = s < 0 ? 'miss' : uft.gen[s] === snap.generation ? 'hit' : 'stale';
    if (s >= 0) steps.push({ layer: 'uft', rule: `entry of generation ${uft.gen[s]}, ${uft.frames[s]} frames`, action: `${describeAction(actions, uft.action[s], snap, DROP_NAMES)}${res.uft === 'stale' ? ' (stale: the layers below decide)' : ''}` });
    else steps.push({ layer: 'uft', rule: null, action: 'no entry: the first frame of this flow takes the layers (slow path)' });
    if (direction === 'out') slow.egress(f, X, innerFlowHash(f), now);
    else slow.ingress(f, X.subnetIndex, now);
    steps.push(...rec);
    const a = slow.resAction;
    if (actions.kind[a] === A_DROP) return dropWith(actions.drop[a]);
    if (actions.route[a] !== 0 && f.ttl <= 1) {
      steps.push({ layer: 'router', rule: `TTL ${f.ttl}`, action: 'TTL exceeded: drop, ICMP time exceeded back to the sender' });
      res.outputs.push(`port ${portName} (ICMP time exceeded)`);
      return dropWith(Drop.TtlExceeded);
    }
    res.verdict = 'forward';
    if (actions.kind[a] === A_PORT) res.outputs.push(`port ${snap.ports[actions.port[a]].name}`);
    else {
      const enc = actions.encap[a] === ENCAP_NVGRE ? 'nvgre' : 'vxlan';
      if ((enc === 'nvgre' ? ctx.io.nvgre : ctx.io.vxlan) === undefined) steps.push({ layer: 'vnet', rule: null, action: `the ${enc} uplink is not open: drop` });
      res.outputs.push(describeAction(actions, a, snap, DROP_NAMES).replace(/^.*?encap /, ''));
    }
    return res;
  } finally {
    slow.rec = prevRec;
  }
}
