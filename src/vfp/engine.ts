/**
 * The one decision path (issue: isolation is a guarantee). Every frame a port sends and every
 * frame from the wire is decided here, by walking layers (layer.ts) that the snapshot holds as
 * data; the forwarding loop carries the Decision out (decision.ts) and caches cacheable ones in
 * the flow table; `trace` is the same walk with a recorder attached (Decision.rec), and a traced
 * walk changes no state (no conntrack entries, no quota tokens, no fragment entries).
 *
 * egress (frame from local port X):
 *   later fragment -> the first fragment's verdict (frag.ts), else X.layersOut in order
 *   (port-security, gateway, router, vnet, acl-out); then a group frame is replicated: each
 *   other local port of the VSID gets a copy when its inbound layers allow it, and each other
 *   host with ports in the VSID one encapsulated copy; a unicast frame to a local port runs that
 *   port's inbound layers (acl-in); then commit composes the action (route rewrite, deliver or
 *   encapsulate) and starts tracking the connection when rules were on its path.
 * ingress (decapsulated frame from host H for subnet S):
 *   later fragment -> as above, else snapshot.uplinkLayers (ingress-guard, vnet-in); then the
 *   destination port's inbound layers (or each local port's, for a group frame), then commit.
 * Quotas: a new flow takes a token from its owner port (quota.ts) and a new connection is
 * charged to it (conntrack.ts); over either, the frame is dropped for that port only.
 */
import { AclLog } from './acl-log.js';
import { A_DROP, A_ENCAP, A_PORT, ENCAP_NVGRE, ENCAP_VXLAN, ROUTE_V4, ROUTE_V6, type ActionTable } from './actions.js';
import { CT_ANY, CT_FLOOD, type ConnTrack } from './conntrack.js';
import { CONTINUE, DONE, Decision, V_FORWARD, V_REPLICATE } from './decision.js';
import { Drop } from './drops.js';
import { K_IPV4, K_IPV6, type FlowFields } from './flowkey.js';
import type { FragTable } from './frag.js';
import { LayerKind, type Layer } from './layer.js';
import { aclIn, aclOut } from './layers/acl.js';
import { dhcp, dhcpIn } from './layers/dhcp.js';
import { qos } from './layers/qos.js';
import { dropWith, ipText, type LayerCtx, type LayerFn } from './layers/ctx.js';
import { gateway } from './layers/gateway.js';
import { gatewayGuard } from './layers/hnv-gateway.js';
import { nd } from './layers/nd.js';
import { ingressGuard } from './layers/ingress-guard.js';
import { portSecurity } from './layers/port-security.js';
import { router } from './layers/router.js';
import { l2switch, switchGuard } from './layers/switch.js';
import { MacTable } from './mac-table.js';
import { vnet, vnetIn } from './layers/vnet.js';
import type { FlowRate } from './quota.js';
import type { PortInfo, Snapshot } from './snapshot.js';
import type { TraceStep } from './trace-types.js';
import { UF_CT_REPLY } from './uft.js';

/** Decision functions by LayerKind. A new layer kind adds its function here. */
const LAYER_FNS: LayerFn[] = [];
LAYER_FNS[LayerKind.PortSecurity] = portSecurity;
LAYER_FNS[LayerKind.Gateway] = gateway;
LAYER_FNS[LayerKind.Router] = router;
LAYER_FNS[LayerKind.Vnet] = vnet;
LAYER_FNS[LayerKind.AclOut] = aclOut;
LAYER_FNS[LayerKind.AclIn] = aclIn;
LAYER_FNS[LayerKind.IngressGuard] = ingressGuard;
LAYER_FNS[LayerKind.IngressVnet] = vnetIn;
LAYER_FNS[LayerKind.Dhcp] = dhcp;
LAYER_FNS[LayerKind.DhcpIn] = dhcpIn;
LAYER_FNS[LayerKind.Qos] = qos;
LAYER_FNS[LayerKind.Nd] = nd;
LAYER_FNS[LayerKind.SwitchGuard] = switchGuard;
LAYER_FNS[LayerKind.L2Switch] = l2switch;
LAYER_FNS[LayerKind.GatewayGuard] = gatewayGuard;

/** Flow-key input-port numbers of frames from the wire: UPLINK_BASE + the sending host's index. */
export const UPLINK_BASE = 0x8000;

export class Engine implements LayerCtx {
  private current!: Snapshot;
  checkLinear = false;
  readonly d: Decision;
  readonly aclLog = new AclLog();
  /** The learning switches' MAC table (this worker's). */
  readonly macs = new MacTable();

  constructor(
    snap: Snapshot,
    readonly actions: ActionTable,
    readonly ct: ConnTrack,
    readonly frags: FragTable,
    readonly flowRate: FlowRate,
    f: FlowFields,
  ) {
    this.d = new Decision(f);
    this.snap = snap;
  }

  get snap(): Snapshot {
    return this.current;
  }

  /** A new snapshot (between batches); the replication lists grow to its largest subnet. */
  set snap(s: Snapshot) {
    this.current = s;
    this.d.f.v6ids = s.v6.table;
    let ports = 0;
    for (const sub of s.subnets) ports = Math.max(ports, sub.localPorts.length);
    for (const sw of s.switches) ports = Math.max(ports, sw.ports.length);
    this.d.fit(ports, s.hosts.length);
  }

  /** Walks `layers` in order; DONE when one of them made the verdict. */
  private walk(layers: readonly Layer[]): number {
    const d = this.d;
    for (let i = 0; i < layers.length; i++) {
      const L = layers[i];
      if (LAYER_FNS[L.kind](this, d, L) === DONE) return DONE;
    }
    return CONTINUE;
  }

  /** Walks only the guard layers (what a frame may be and who may send it) at the head of `layers`. */
  private walkGuards(layers: readonly Layer[]): number {
    const d = this.d;
    for (let i = 0; i < layers.length; i++) {
      const L = layers[i];
      if (L.kind !== LayerKind.PortSecurity && L.kind !== LayerKind.IngressGuard && L.kind !== LayerKind.SwitchGuard && L.kind !== LayerKind.GatewayGuard) break;
      if (LAYER_FNS[L.kind](this, d, L) === DONE) return DONE;
    }
    return CONTINUE;
  }

  /** The verdict for the frame in d.f sent by local port X. */
  egress(X: PortInfo, entropy: number, now: number, rec: TraceStep[] | null = null): Decision {
    const d = this.d;
    d.reset(now, rec);
    d.src = X;
    d.entropy = entropy;
    d.dropPort = X.index;
    if (d.f.fragOff !== 0) {
      // a later fragment (IPv4 or IPv6) still meets the port's guards; then its first fragment decides the rest
      if (this.walkGuards(X.layersOut) === DONE) return d;
      return this.laterFragment(X.index);
    }
    if (this.walk(X.layersOut) === DONE) return d;
    if (d.group) return this.replicate(X.subnetIndex, X.index);
    if (d.dstPort !== null && this.walk(d.dstPort.layersIn) === DONE) return d;
    return this.commit(X.index);
  }

  /** The verdict for the decapsulated frame in d.f from host `srcHost` for subnet `subnet`. */
  ingress(subnet: number, srcHost: number, entropy: number, now: number, rec: TraceStep[] | null = null): Decision {
    const d = this.d;
    d.reset(now, rec);
    d.subnet = subnet;
    d.srcHost = srcHost;
    d.entropy = entropy;
    if (d.f.fragOff !== 0) {
      if (this.walkGuards(this.snap.uplinkLayers) === DONE) return d;
      return this.laterFragment(UPLINK_BASE + srcHost);
    }
    if (this.walk(this.snap.uplinkLayers) === DONE) return d;
    if (d.group) return this.replicate(subnet, -1);
    if (this.walk(d.dstPort!.layersIn) === DONE) return d;
    return this.commit(d.dstPort!.index);
  }

  /** A later fragment: its first fragment's verdict, or fragment-orphan. Never cached. */
  private laterFragment(inPort: number): Decision {
    const d = this.d;
    const f = d.f;
    d.cacheable = false;
    const s = this.frags.find(inPort, f.src, f.dst, fragProto(f), f.ipId, this.snap.generation, d.now);
    const what = f.kind === K_IPV6 ? `IPv6 fragment id ${f.ipId} offset ${f.fragOff * 8}` : `${ipText(f.src)} -> ${ipText(f.dst)} id ${f.ipId} offset ${f.fragOff * 8}`;
    if (s < 0) {
      if (d.rec) d.step('fragment', what, 'no first fragment seen under this policy: drop');
      return this.dropped(Drop.FragmentOrphan);
    }
    const a = this.frags.actionOf(s);
    if (d.rec) d.step('fragment', what, "the first fragment's verdict applies");
    d.action = a;
    d.entropy = this.frags.flowHashOf(s);
    d.verdict = V_FORWARD;
    return d;
  }

  private dropped(reason: number): Decision {
    dropWith(this, this.d, reason);
    return this.d;
  }

  /**
   * A group frame: copies to the local ports of subnet `si` (except `except`) that their inbound
   * layers allow, and from a port to every other host with ports in the subnet. Not tracked,
   * not cached.
   */
  private replicate(si: number, except: number): Decision {
    const d = this.d;
    const snap = this.snap;
    const s = snap.subnets[si];
    d.cacheable = false;
    const locals = s.localPorts;
    for (let k = 0; k < locals.length; k++) {
      const p = locals[k];
      if (p === except) continue;
      const Y = snap.portById[p];
      if (Y === undefined) continue;
      d.dstPort = Y;
      if (this.walk(Y.layersIn) === DONE) d.repDenied[d.repDeniedN++] = p;
      else d.repPorts[d.repN++] = p;
    }
    d.dstPort = null;
    if (d.src !== null) {
      for (let k = 0; k < s.remoteHosts.length; k++) d.repHosts[d.repHostN++] = s.remoteHosts[k];
    }
    d.repVsid = s.vsid;
    if (d.rec) {
      const out: string[] = [];
      for (let k = 0; k < d.repN; k++) out.push(`port ${snap.portById[d.repPorts[k]]!.name}`);
      for (let k = 0; k < d.repHostN; k++) out.push(`${s.encapsulation} ${s.encapsulation === 'nvgre' ? 'key' : 'vni'} ${s.vsid} -> host ${snap.hosts[d.repHosts[k]].name}`);
      d.step('replicate', `${d.f.dstMac === 0xffffffffffff ? 'broadcast' : 'multicast'} in VSID ${s.vsid}`, `unicast copies: ${out.join('; ') || 'none'}`);
    }
    // no copy at all: no-port (besides one acl-deny per refused copy, counted by the loop)
    if (d.repN + d.repHostN === 0) return this.dropped(Drop.NoPort);
    d.verdict = V_REPLICATE;
    return d;
  }

  /** A unicast frame every layer allowed: quotas, connection tracking, the composed action. */
  private commit(owner: number): Decision {
    const d = this.d;
    const f = d.f;
    const snap = this.snap;
    const tracing = d.rec !== null;
    // a frame with another conversation's 5-tuple (ctForeign) starts nothing: the tuple is taken
    const newConn = d.track && !d.ctReply && !d.ctRelated && !d.ctForeign;
    if (d.cacheable && (f.kind === K_IPV4 || f.kind === K_IPV6)) {
      const ok = tracing ? this.flowRate.peek(owner, d.now) : this.flowRate.take(owner, d.now);
      if (!ok) {
        if (d.rec) d.step('quota', `new flows of ${snap.portById[owner]?.name ?? 'port'}: ${this.flowRate.perSecond}/s`, 'over the limit: drop');
        d.cacheable = false;
        return this.dropped(Drop.FlowLimit);
      }
    }
    if (newConn) {
      if (tracing) d.step('conntrack', null, d.ct >= 0 ? 'continue tracking' : 'track new connection');
      else {
        const zone = d.src !== null ? d.src.zone : snap.subnets[d.subnet].zone;
        // on a switch its parties are the two ports (the VMs set their own addresses); on HNV
        // port-security and the ingress-guard bind the addresses to the ports (CT_ANY). A switch
        // frame always has its port here (l2switch); were it missing, the first port to answer
        // would be pinned (CT_FLOOD), never any port
        const sw = d.src !== null && d.src.switchIndex >= 0;
        const s = d.ct >= 0 ? d.ct : this.ct.create(zone, f, d.now, owner, sw ? d.src!.index : CT_ANY, sw ? (d.dstPort !== null ? d.dstPort.index : CT_FLOOD) : CT_ANY);
        if (s < 0) {
          d.cacheable = false;
          return this.dropped(Drop.CtLimit);
        }
        d.resCt = s;
        d.resCtId = this.ct.id[s];
      }
    } else if (d.ctReply) {
      d.resCt = d.ct;
      d.resCtId = this.ct.id[d.ct];
      d.resFlags = UF_CT_REPLY;
    }
    const a = this.actions;
    a.begin();
    // to the HNV gateway (layers/router.ts): its vNIC's MAC, on its host
    const gw = d.toGateway ? snap.gateways[d.src!.rdid]! : null;
    if (d.routed) {
      a.nextRoute = f.kind === K_IPV6 ? ROUTE_V6 : ROUTE_V4;
      a.nextDstMac = gw !== null ? gw.mac : snap.endpoints[d.dstEp].mac;
      a.nextSrcMac = snap.routerMac;
    }
    if (d.dstPort !== null) {
      a.nextKind = A_PORT;
      a.nextPort = d.dstPort.index;
    } else {
      const e = gw !== null ? null : snap.endpoints[d.dstEp];
      const s = snap.subnets[d.dstSubnet];
      const h = snap.hosts[gw !== null ? gw.hostIndex : e!.hostIndex];
      const entropy = d.entropy;
      a.nextKind = A_ENCAP;
      a.nextEncap = s.encapsulation === 'nvgre' ? ENCAP_NVGRE : ENCAP_VXLAN;
      a.nextVni = s.vsid;
      a.nextFlowId = s.nvgreFlowId;
      a.nextDstPa = h.pas.length ? h.pas[entropy % h.pas.length] : 0;
      const lp = snap.localPas;
      a.nextSrcPa = lp.length ? lp[(entropy >>> 8) % lp.length] : 0;
      if (d.rec) d.step('encap', `${e !== null ? e.name : `the gateway of ${s.virtualNetwork}`} on host ${h.name}`, `${s.encapsulation} ${s.encapsulation === 'nvgre' ? 'key' : 'vni'} ${s.vsid}, PA ${ipText(a.nextSrcPa)} -> ${ipText(a.nextDstPa)}`);
    }
    d.action = a.intern();
    d.verdict = V_FORWARD;
    return d;
  }

  /** Remembers the verdict of a first fragment (the forwarding loop calls it, also on flow-table
   * hits). A first fragment the guards refused (spoofed, tagged, not owned...) speaks for nothing:
   * its followers are orphans and meet the guards themselves. */
  recordFirstFragment(inPort: number, action: number, flowHash: number, now: number): void {
    const a = this.actions;
    if (a.kind[action] === A_DROP) {
      const r = a.drop[action];
      if (r === Drop.Spoofed || r === Drop.SrcNotOwned || r === Drop.Malformed) return;
    }
    const f = this.d.f;
    if (f.kind !== K_IPV4 && f.kind !== K_IPV6) return;
    this.frags.record(inPort, f.src, f.dst, fragProto(f), f.ipId, action, flowHash, this.snap.generation, now);
  }
}

/** The protocol under which a datagram's fragments are remembered: IPv6 ones apart from IPv4's
 * (their addresses are ids, ip6.ts, which could equal an IPv4 address as numbers). */
function fragProto(f: FlowFields): number {
  return f.kind === K_IPV6 ? f.proto | 0x100 : f.proto;
}
