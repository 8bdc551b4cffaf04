/**
 * The slow path: a flow's first frame runs through the layers, and the composed result becomes
 * one action record (actions.ts) for the flow table. Layers, outbound (frame sent by a port):
 *   acl-out  the sender's outbound ACL (stateful: the reply of a tracked connection is allowed)
 *   router   the distributed router: a frame to the router MAC is routed by destination IP to a
 *            port of another (or the same) subnet of the same virtual network - destination MAC,
 *            router MAC as source, TTL - 1, the destination subnet's VSID; never across networks
 *   vnet     CA -> PA: the destination MAC in the (destination) VSID is a local port (deliver)
 *            or a port on another host (encapsulate to that host's PA, VNI/key = VSID)
 *   then, for a local destination, its inbound layers: vnet (deliver), acl-in.
 * Inbound (frame from the wire, already decapsulated) runs them in reverse: vnet (the VSID and
 * destination MAC pick the port), acl-in. Routing happens at the sending host only.
 *
 * Outputs are left in `res*` fields (no object per flow). With a trace recorder set, every layer
 * records what it matched and did, and connection tracking is not changed (a dry run).
 */
import { aclMatchLinear, type AclTable } from './acl.js';
import { A_DROP, A_ENCAP, A_PORT, ActionTable, ENCAP_NVGRE, ENCAP_VXLAN } from './actions.js';
import { CT_ORIG, CT_REPLY, CT_STATE_NAMES, ConnTrack } from './conntrack.js';
import { Drop } from './drops.js';
import type { FlowFields } from './flowkey.js';
import type { PortInfo, Snapshot, SubnetInfo } from './snapshot.js';
import type { TraceStep } from './trace-types.js';
import { UF_CT_REPLY, UF_DENY_CT_CHECK } from './uft.js';

function ipText(v: number): string {
  return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

export class SlowPath {
  snap: Snapshot;
  /** Set by the caller for a trace: steps are recorded and conntrack is left alone. */
  rec: TraceStep[] | null = null;
  /** Set by the caller to check ACL lookups against the linear reference (tests). */
  checkLinear = false;

  resAction = -1;
  resCt = -1;
  resCtId = 0;
  resFlags = 0;

  constructor(
    snap: Snapshot,
    readonly actions: ActionTable,
    readonly ct: ConnTrack,
  ) {
    this.snap = snap;
  }

  private step(layer: string, rule: string | null, action: string): void {
    this.rec!.push({ layer, rule, action });
  }

  private finishDrop(reason: number, flags: number): void {
    const a = this.actions;
    a.begin();
    a.nextKind = A_DROP;
    a.nextDrop = reason;
    this.resAction = a.intern();
    this.resFlags = flags;
  }

  /** ACL verdict for `f` against `t` (null = allow all), recorded under `layer`. */
  aclAllows(t: AclTable | null, f: FlowFields, layer: string, who: string): boolean {
    if (t === null) {
      if (this.rec) this.step(layer, null, `no ${layer === 'acl-in' ? 'inbound' : 'outbound'} rules on ${who}: allow`);
      return true;
    }
    const rank = t.classifier.lookup(f);
    if (this.checkLinear && rank !== aclMatchLinear(t, f)) throw new Error('ACL classifier disagrees with the linear reference');
    const allow = rank >= 0 && t.rules[rank].allow;
    if (this.rec) this.step(layer, rank >= 0 ? t.rules[rank].text : null, rank >= 0 ? (allow ? 'allow' : 'deny') : `no rule matches on ${who}: deny (default)`);
    return allow;
  }

  /**
   * The ACL stage of a flow from `src` (a local port, or null from the wire) to `dst` (a local
   * port, or null for a remote one), stateful. Returns true when allowed; on deny, the result
   * is already the drop action.
   */
  private aclStage(f: FlowFields, src: PortInfo | null, dst: PortInfo | null, rdid: number, now: number): boolean {
    const outT = src ? src.aclOut : null;
    const inT = dst ? dst.aclIn : null;
    const tracked = f.isIp && (outT !== null || inT !== null);
    this.resCt = -1;
    this.resCtId = 0;
    this.resFlags = 0;
    if (!tracked) {
      if (src && this.rec) this.aclAllows(null, f, 'acl-out', src.name);
      if (dst && this.rec) this.aclAllows(null, f, 'acl-in', dst.name);
      return true;
    }
    const ct = this.ct;
    const c = ct.find(rdid, f, now);
    const dir = c >= 0 ? ct.direction(c, f) : CT_ORIG;
    if (c >= 0 && dir === CT_REPLY && ct.admitsReply(c)) {
      if (this.rec) this.step('conntrack', `${CT_STATE_NAMES[ct.state[c]]} connection from ${ipText(ct.origSrc[c])}`, 'reply direction: allow (ACLs skipped)');
      this.resCt = c;
      this.resCtId = ct.id[c];
      this.resFlags = UF_CT_REPLY;
      return true;
    }
    if (this.rec) this.step('conntrack', c >= 0 ? `${CT_STATE_NAMES[ct.state[c]]} connection, ${dir === CT_ORIG ? 'orig' : 'closed reply'} direction` : null, 'evaluate ACLs');
    let ok = src ? this.aclAllows(outT, f, 'acl-out', src.name) : true;
    if (ok && dst) ok = this.aclAllows(inT, f, 'acl-in', dst.name);
    if (!ok) {
      if (c >= 0 && dir === CT_ORIG && !this.rec) ct.kill(c);
      this.finishDrop(Drop.AclDeny, UF_DENY_CT_CHECK);
      return false;
    }
    if (this.rec) {
      this.step('conntrack', null, c >= 0 && dir === CT_ORIG ? 'continue tracking' : 'track new connection');
      return true;
    }
    const s = c >= 0 && dir === CT_ORIG ? c : ct.create(rdid, f, now);
    this.resCt = s;
    this.resCtId = ct.id[s];
    return true;
  }

  /** A frame sent by local port `port`; `entropy` is the inner flow hash. */
  egress(f: FlowFields, port: PortInfo, entropy: number, now: number): void {
    const snap = this.snap;
    this.resCt = -1;
    this.resCtId = 0;
    this.resFlags = 0;
    if (f.srcMac !== port.mac || (f.isIp && f.src !== port.ip && f.src !== 0)) {
      if (this.rec) this.step('edge', null, `source ${f.srcMac !== port.mac ? 'MAC' : 'IP'} is not ${port.name}'s own: drop (spoofed)`);
      this.finishDrop(Drop.Spoofed, 0);
      return;
    }
    // where it goes (computed first: the ACL stage needs to know the destination port)
    let routed = false;
    let ep: number;
    let dstSubnet: SubnetInfo = snap.subnets[port.subnetIndex];
    if (f.dstMac === snap.routerMac) {
      routed = true;
      ep = f.isIp ? (snap.endpointByIp[port.rdid].get(f.dst) ?? -1) : -1;
      if (ep < 0 || ep === port.endpoint) {
        if (this.rec) {
          this.aclAllows(port.aclOut, f, 'acl-out', port.name);
          this.step('router', null, f.isIp ? `no port with address ${ipText(f.dst)} in virtual network ${port.virtualNetwork}: drop (no route)` : 'not IPv4: drop (no route)');
        }
        this.finishDrop(Drop.NoRoute, 0);
        return;
      }
      dstSubnet = snap.subnets[snap.endpoints[ep].subnetIndex];
    } else {
      ep = snap.endpointByMac[port.subnetIndex].get(f.dstMac) ?? -1;
      if (ep < 0 || ep === port.endpoint) {
        if (this.rec) {
          this.aclAllows(port.aclOut, f, 'acl-out', port.name);
          this.step('router', null, 'not addressed to the router: pass');
          this.step('vnet', null, `no port with MAC ${snap.endpoints[ep]?.macText ?? macText(f.dstMac)} in VSID ${port.vsid} other than the sender: drop (no port)`);
        }
        this.finishDrop(Drop.NoPort, 0);
        return;
      }
    }
    const e = snap.endpoints[ep];
    const dstPort = e.port >= 0 ? snap.ports[e.port] : null;
    if (!this.aclStage(f, port, dstPort, port.rdid, now)) return;
    const a = this.actions;
    a.begin();
    if (routed) {
      if (this.rec) this.step('router', `${ipText(f.dst)} is ${e.name} in ${dstSubnet.virtualNetwork}/${dstSubnet.name} (${dstSubnet.prefixText})`, `route: dst MAC ${e.macText}, src MAC ${snap.routerMacText}, TTL - 1, VSID ${port.vsid} -> ${dstSubnet.vsid}`);
      a.nextRoute = 1;
      a.nextDstMac = e.mac;
      a.nextSrcMac = snap.routerMac;
    } else if (this.rec) this.step('router', null, 'not addressed to the router: pass');
    if (dstPort) {
      if (this.rec) this.step('vnet', `MAC ${e.macText} in VSID ${dstSubnet.vsid} is local port ${dstPort.name}`, `deliver to ${dstPort.name}`);
      a.nextKind = A_PORT;
      a.nextPort = dstPort.index;
    } else {
      const h = snap.hosts[e.hostIndex];
      a.nextKind = A_ENCAP;
      a.nextEncap = dstSubnet.encapsulation === 'nvgre' ? ENCAP_NVGRE : ENCAP_VXLAN;
      a.nextVni = dstSubnet.vsid;
      a.nextFlowId = dstSubnet.nvgreFlowId;
      a.nextDstPa = h.pas.length ? h.pas[entropy % h.pas.length] : 0;
      const lp = snap.localPas;
      a.nextSrcPa = lp.length ? lp[(entropy >>> 8) % lp.length] : 0;
      if (this.rec) this.step('vnet', `MAC ${e.macText} in VSID ${dstSubnet.vsid} is ${e.name} on host ${h.name}`, `encapsulate ${dstSubnet.encapsulation} ${dstSubnet.encapsulation === 'nvgre' ? 'key' : 'vni'} ${dstSubnet.vsid}, PA ${ipText(a.nextSrcPa)} -> ${ipText(a.nextDstPa)}`);
    }
    this.resAction = a.intern();
  }

  /** A frame from the wire, decapsulated, for subnet `subnetIndex`. */
  ingress(f: FlowFields, subnetIndex: number, now: number): void {
    const snap = this.snap;
    this.resCt = -1;
    this.resCtId = 0;
    this.resFlags = 0;
    const s = snap.subnets[subnetIndex];
    const ep = snap.endpointByMac[subnetIndex].get(f.dstMac) ?? -1;
    const port = ep >= 0 && snap.endpoints[ep].port >= 0 ? snap.ports[snap.endpoints[ep].port] : null;
    if (!port) {
      if (this.rec) this.step('vnet', null, `no local port with MAC ${macText(f.dstMac)} in VSID ${s.vsid}: drop (no port)`);
      this.finishDrop(Drop.NoPort, 0);
      return;
    }
    if (this.rec) this.step('vnet', `MAC ${port.macText} in VSID ${s.vsid} is local port ${port.name}`, `decapsulated; deliver to ${port.name}`);
    if (!this.aclStage(f, null, port, s.rdid, now)) return;
    const a = this.actions;
    a.begin();
    a.nextKind = A_PORT;
    a.nextPort = port.index;
    this.resAction = a.intern();
  }
}

export function macText(mac: number): string {
  return mac.toString(16).padStart(12, '0').replace(/(..)(?!$)/g, '$1:');
}

/** One line describing action record `i`. */
export function describeAction(a: ActionTable, i: number, snap: Snapshot, dropNames: readonly string[]): string {
  const route = a.route[i] ? `set dst ${macText(a.dstMac[i])} src ${macText(a.srcMac[i])}, ttl-1, ` : '';
  switch (a.kind[i]) {
    case A_DROP:
      return `drop (${dropNames[a.drop[i]]})`;
    case A_PORT:
      return `${route}output ${snap.ports[a.port[i]]?.name ?? `port#${a.port[i]}`}`;
    default: {
      const kind = a.encap[i] === ENCAP_NVGRE ? 'nvgre' : 'vxlan';
      const id = a.encap[i] === ENCAP_NVGRE ? `key ${a.vni[i]}<<8|${a.flowId[i] < 0 ? 'hash' : a.flowId[i]}` : `vni ${a.vni[i]}`;
      return `${route}encap ${kind} ${id} ${ipText(a.srcPa[i])} -> ${ipText(a.dstPa[i])}`;
    }
  }
}
