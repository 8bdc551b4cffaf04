/**
 * Why a frame was dropped: one number per reason, shared by the engine (which decides) and the
 * dataplane counters (which count, at DROP_BASE + reason). Names are the counter names.
 */
export const enum Drop {
  None = 0,
  /** Bad Ethernet/IPv4/ARP/L4 lengths or IPv4 header checksum. */
  Malformed,
  /** Outer VNI / NVGRE VSID not a subnet with ports on this host. */
  UnknownVni,
  /** Outer IPv4 source not a provider address of another host in policy. */
  UnknownSrcPa,
  /** Destination MAC (after routing) not a port of the VSID; or the sender's own MAC. */
  NoPort,
  AclDeny,
  TtlExceeded,
  /** ARP request for an address policy does not know. */
  ArpUnknown,
  /** ARP replies and gratuitous ARP from a port: the dataplane answers ARP itself. */
  ArpIgnored,
  /** Output queue (port or uplink) accepted fewer frames than offered. */
  TxFull,
  /** Source MAC (or IPv4 source) is not the port's own. */
  Spoofed,
  /** Routed frame whose destination IP is no port of the virtual network. */
  NoRoute,
  /** Frame to the router's own address that it does not answer (not an echo request). */
  RouterLocal,
  /** Encapsulation needed but that uplink is not open. */
  NoUplink,
  /** Frame arrived on the other encapsulation than its subnet uses. */
  EncapMismatch,
  /** No spare slot for a replicated copy. */
  NoBuffer,
  /** The port index has no device attached. */
  PortDown,
  /** A TSO/USO super-frame that could not be segmented (unsupported headers, no room), or a
   * UDP GRO buffer whose segments could not be split. */
  Offload,
  /** A frame with a VLAN tag (802.1Q, 802.1ad, QinQ; VLAN 0 included) from a port or the wire. */
  VlanTagged,
  /** IPv6 from a port without an IPv6 CA, or in a tunnel to a subnet without an IPv6 prefix. */
  Ipv6Disabled,
  /** An EtherType other than IPv4 and ARP (default deny). */
  Ethertype,
  /** From the wire: the inner source is no endpoint of the VSID on the host of the outer source PA. */
  SrcNotOwned,
  /** Unicast to a port's MAC whose destination IP is not that port's CA (nor broadcast/multicast). */
  NotForPort,
  /** A later IPv4 fragment whose first fragment was not seen (or was seen under an older policy). */
  FragmentOrphan,
  /** A new connection over the port's connection-tracking quota, or no room without evicting an
   * established connection. */
  CtLimit,
  /** A new flow over the port's new-flows-per-second quota. */
  FlowLimit,
  /** DHCP not answered and never forwarded: a Static port's client, a port's server messages,
   * DHCP from the wire, a Dynamic port's message that is malformed or needs no answer. */
  Dhcp,
  /** A tenant IP packet larger than the underlay takes once encapsulated (answered with ICMP
   * fragmentation needed when DF is set, ICMPv6 packet too big for IPv6; dataplane/pmtu.ts). */
  TooBig,
  /** Over the port's bandwidth cap (qos), either direction. */
  Qos,
  /** Neighbour solicitation for an address policy does not know (no answer, as ARP). */
  NdUnknown,
  /** Neighbour discovery a port may not send or that gets no answer: advertisements, router
   * advertisements, redirects, MLD, duplicate address detection, a hop limit other than 255. */
  NdIgnored,
  /** A fragmented neighbour discovery or MLD message (RFC 6980). Other IPv6 fragments follow
   * their first fragment, as IPv4's (frag.ts). */
  Ipv6Fragment,
}

export const DROP_COUNT = 32;

export const DROP_NAMES: readonly string[] = [
  'none',
  'malformed',
  'unknown-vni',
  'unknown-src-pa',
  'no-port',
  'acl-deny',
  'ttl-exceeded',
  'arp-unknown',
  'arp-ignored',
  'tx-full',
  'spoofed',
  'no-route',
  'router-local',
  'no-uplink',
  'encap-mismatch',
  'no-buffer',
  'port-down',
  'offload',
  'vlan-tagged',
  'ipv6-disabled',
  'ethertype',
  'src-not-owned',
  'not-for-port',
  'fragment-orphan',
  'ct-limit',
  'flow-limit',
  'dhcp',
  'too-big',
  'qos',
  'nd-unknown',
  'nd-ignored',
  'ipv6-fragment',
];
