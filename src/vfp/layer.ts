/**
 * Layers as data (DESIGN.md "The layer is the unit"; OPTE's Layer/Rule). A port's compiled policy
 * is a value you can print: per direction an ordered list of layers, each with a name, a kind
 * (which decision function in engine.ts runs it), its rules in words, and the data the function
 * reads (an ACL table for the ACL layers). One function (Engine.egress / Engine.ingress) walks a
 * port's layers for every frame; the flow table caches what they composed; `trace` is that same
 * walk with a recorder attached.
 *
 * Outbound (a frame a port sent), in order:
 *   qos-out        (ports with qos) the port's bandwidth cap, metered per frame by the dataplane
 *   mirror         (portMirroring Source) copies to the Destination ports, per frame
 *   port-security  what the port may send: its own MAC, its own CA (0.0.0.0 only for DHCP),
 *                  ARP sender fields, no VLAN tags, no IPv6 (no IPv6 CA yet), no other EtherType
 *   dhcp           DHCP from policy: a Dynamic port's client is answered; no DHCP goes further
 *                  ARP sender fields, no VLAN tags, IPv6 only with an IPv6 CA (its CA or
 *                  EUI-64 link-local as source), no other EtherType
 *   nd             (dual-stack ports) neighbour discovery from policy: NS -> NA, RS -> RA, echo to
 *                  the router's IPv6 addresses; tenant NA/RA/redirects/MLD dropped
 *   gateway        what the dataplane answers itself: ARP from policy, echo to the gateway address
 *   router         the distributed router: a frame to the router MAC is routed by destination IP
 *                  within the virtual network
 *   vnet           CA -> port or PA: the destination endpoint (or the subnet's replication list)
 *   acl-out        the port's outbound ACL (stateful)
 * Inbound (a frame about to be written to a port): acl-in (stateful), qos-in (ports with qos).
 * From the wire, before the destination port's inbound layers (snapshot.uplinkLayers):
 *   ingress-guard  the inner frame's kind, and its source: an endpoint of that VSID on the host
 *                  that owns the outer source PA (or the router MAC with a source CA of that host)
 *   dhcp-in        DHCP client or server messages from another host: drop
 *   vnet-in        VSID + destination MAC -> the local port (or every local port of the subnet)
 * A port of a Hyper-V style switch (issue 14) runs switch-guard, switch (layers/switch.ts) instead
 * (with an ACL: switch-guard, acl-out, switch; inbound acl-in).
 * The gateway port of a virtual network's HNV gateway (its host's stack: routing and NAT) runs
 * gateway-guard, router, vnet (layers/hnv-gateway.ts).
 * A new policy (NAT, QoS, mirror, DHCP/ND responders) is a new kind and a new entry
 * in these lists, not a new branch in the forwarding loop.
 */
import type { AclTable } from './acl.js';

export const enum LayerKind {
  PortSecurity = 0,
  Gateway,
  Router,
  Vnet,
  AclOut,
  AclIn,
  IngressGuard,
  IngressVnet,
  /** DHCP from policy (layers/dhcp.ts): answers a Dynamic port's client, forwards no DHCP. */
  Dhcp,
  /** From the wire: DHCP is never forwarded between hosts either. */
  DhcpIn,
  /** Per-frame work of the dataplane shown as a layer (`ctl layers`, trace) that decides
   * nothing: the port's bandwidth cap (dataplane/qos.ts), port mirroring (dataplane/mirror.ts). */
  Qos,
  /** Neighbour discovery and the router's IPv6 answers (layers/nd.ts); dual-stack ports only. */
  Nd,
  /** Hyper-V style switch ports (layers/switch.ts). */
  SwitchGuard,
  L2Switch,
  /** The HNV gateway port: what the gateway host's stack may send into a virtual network
   * (layers/hnv-gateway.ts). */
  GatewayGuard,
}

export interface Layer {
  /** The name trace and `ctl layers` print. */
  readonly name: string;
  readonly kind: LayerKind;
  /** The layer's rules in words, in the order they apply. */
  readonly rules: readonly string[];
  /** ACL layers: the merged subnet + port rules of this direction (null = no rules: allow all). */
  readonly acl: AclTable | null;
}

export function layer(name: string, kind: LayerKind, rules: readonly string[], acl: AclTable | null = null): Layer {
  return Object.freeze({ name, kind, rules: Object.freeze(rules.slice()), acl });
}

/** The rules of an ACL layer in words (no table: allow all). */
export function aclRules(t: AclTable | null, direction: 'inbound' | 'outbound'): string[] {
  if (t === null) return [`no ${direction} rules: allow all`];
  return [...t.rules.map((r) => r.text), `default: deny (connections tracked: replies of allowed connections pass)`];
}
