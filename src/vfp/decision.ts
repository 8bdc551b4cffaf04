/**
 * The engine decides, the loop acts (DESIGN.md). A Decision is what Engine.egress/ingress leave
 * for the forwarding loop (or for trace) to carry out: one reusable record per engine, never an
 * object per frame. Verdicts:
 *   V_DROP       drop, `drop` says why (a Drop reason; counted against `dropPort` unless -1)
 *   V_FORWARD    apply action record `action` (actions.ts: deliver to a port, or encapsulate,
 *                maybe after the router's rewrite); `cacheable` says whether the flow table may
 *                keep it for later frames of the flow (IPv4 unicast whose decision depended only
 *                on flow-key fields)
 *   V_HAIRPIN    answer back out the sending port: an ARP reply (`hairpinMac` owns the asked
 *                address), an ICMP echo reply from the gateway, or a DHCP reply from policy
 *                address) or an ICMP echo reply from the gateway; for IPv6 a neighbour or router
 *                advertisement or an ICMPv6 echo reply (H_NA, H_RA, H_ECHO6_REPLY)
 *   V_REPLICATE  copies: `repPorts` (local port ids whose inbound layers allowed it),
 *                `repDenied` (local ports whose inbound ACL denied it: counted), `repHosts`
 *                (remote hosts, one encapsulated copy each, VSID `repVsid`)
 * Layers record what they did into `rec` when set (a trace); a traced decision changes no state.
 */
import type { FlowFields } from './flowkey.js';
import type { PortInfo } from './snapshot.js';
import type { TraceStep } from './trace-types.js';

export const V_DROP = 0;
export const V_FORWARD = 1;
export const V_HAIRPIN = 2;
export const V_REPLICATE = 3;

export const H_ARP_REPLY = 1;
export const H_ECHO_REPLY = 2;
/** A DHCP client message of a Dynamic port: the dataplane answers it (dataplane/dhcp-reply.ts). */
export const H_DHCP = 6;
/** IPv6 (layers/nd.ts): neighbour advertisement for the solicited target at hairpinMac (the
 * router's MAC: router flag set), router advertisement, ICMPv6 echo reply. */
export const H_NA = 3;
export const H_RA = 4;
export const H_ECHO6_REPLY = 5;

/** Returned by a layer: go on to the next layer, or the verdict is made. */
export const CONTINUE = 0;
export const DONE = 1;

export class Decision {
  // ---- the frame and where it came from
  f: FlowFields;
  /** The sending port (egress), or null (from the wire). */
  src: PortInfo | null = null;
  /** From the wire: the host that owns the outer source PA, and the VNI's subnet. */
  srcHost = -1;
  subnet = -1;
  entropy = 0;
  now = 0;
  rec: TraceStep[] | null = null;

  // ---- what the layers found so far
  /** Subnet of the destination (after routing), endpoint index, local port (null: remote). */
  dstSubnet = -1;
  dstEp = -1;
  dstPort: PortInfo | null = null;
  routed = false;
  /** Routed to the virtual network's HNV gateway (layers/hnv-gateway.ts): no endpoint, the
   * gateway vNIC's MAC on the gateway host. */
  toGateway = false;
  /** Broadcast/multicast destination: replicate. */
  group = false;
  /** Connection tracking: the frame's connection slot (-1: none), reply of a tracked connection,
   * related to one (an ICMP error quoting it), or to be tracked when allowed. */
  ct = -1;
  ctReply = false;
  ctRelated = false;
  track = false;
  /** The frame's 5-tuple is a connection its input port took no part in (conntrack.ts "Parties"):
   * its own rules decide it as a new frame, and it neither continues, ends nor restarts that
   * connection (not cached: the decision rests on the connection's parties, not the flow key). */
  ctForeign = false;
  /** The switch layer is flooding the frame (layers/switch.ts): a refused copy ends an existing
   * connection only when it is the connection's receiver's. */
  flooding = false;

  // ---- the verdict
  verdict = V_DROP;
  drop = 0;
  /** Port charged with a drop (-1: the uplink). */
  dropPort = -1;
  action = -1;
  resCt = -1;
  resCtId = 0;
  resFlags = 0;
  cacheable = true;
  hairpin = 0;
  hairpinMac = 0;
  repPorts: Int32Array;
  repN = 0;
  repDenied: Int32Array;
  repDeniedN = 0;
  repHosts: Int32Array;
  repHostN = 0;
  repVsid = 0;

  constructor(f: FlowFields) {
    this.f = f;
    this.repPorts = new Int32Array(16);
    this.repDenied = new Int32Array(16);
    this.repHosts = new Int32Array(16);
  }

  /** Room for the copies of the largest subnet of a snapshot: `ports` local ports, `hosts` hosts
   * (sized when a snapshot is taken, never per frame). */
  fit(ports: number, hosts: number): void {
    if (this.repPorts.length < ports) {
      this.repPorts = new Int32Array(ports);
      this.repDenied = new Int32Array(ports);
    }
    if (this.repHosts.length < hosts) this.repHosts = new Int32Array(hosts);
  }

  reset(now: number, rec: TraceStep[] | null): void {
    this.now = now;
    this.rec = rec;
    this.src = null;
    this.srcHost = -1;
    this.subnet = -1;
    this.dstSubnet = -1;
    this.dstEp = -1;
    this.dstPort = null;
    this.routed = false;
    this.toGateway = false;
    this.group = false;
    this.ct = -1;
    this.ctReply = false;
    this.ctRelated = false;
    this.track = false;
    this.ctForeign = false;
    this.flooding = false;
    this.verdict = V_DROP;
    this.drop = 0;
    this.dropPort = -1;
    this.action = -1;
    this.resCt = -1;
    this.resCtId = 0;
    this.resFlags = 0;
    this.cacheable = true;
    this.hairpin = 0;
    this.hairpinMac = 0;
    this.repN = 0;
    this.repDeniedN = 0;
    this.repHostN = 0;
    this.repVsid = 0;
  }

  /** Records one step of a trace. */
  step(layer: string, rule: string | null, action: string): void {
    this.rec?.push({ layer, rule, action });
  }
}
