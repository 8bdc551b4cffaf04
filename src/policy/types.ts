/**
 * The tenant model: the shape of a validated policy document (policy file, REST body and CLI all
 * produce these). `schema.ts` checks raw input against exactly these types.
 */

export type Encapsulation = 'vxlan' | 'nvgre';

/** How a port uses its tenant namespace (see NetworkInterface.netnsMode). */
export type NetnsMode = 'create' | 'adopt';

/** A hypervisor host: its provider addresses (PAs) on the underlay. */
export interface Host {
  name: string;
  /** IPv4 dotted quads; flows are spread across them. */
  providerAddresses: string[];
}

/** A virtual subnet: one VSID, one IP prefix, one L2 broadcast domain. */
export interface Subnet {
  name: string;
  /** 4096 .. 16777214; carried as the VXLAN VNI or the NVGRE key's upper 24 bits. */
  vsid: number;
  /** CIDR, e.g. 10.1.1.0/24. */
  addressPrefix: string;
  /** IPv6 prefix of a dual-stack subnet, e.g. fd00:1:1::/64 (inside an IPv6 prefix of the network). */
  ipv6AddressPrefix?: string;
  encapsulation: Encapsulation;
  /** NVGRE FlowID (low 8 bits of the key): a fixed 0..255, or 'hash' of the inner flow. Default 0. */
  nvgreFlowId?: number | 'hash';
  /** Name of an access control list applied to every port of the subnet. */
  accessControlList?: string;
  /** DNS servers (IPv4) that DHCP from policy hands to the subnet's Dynamic ports. */
  dnsServers?: string[];
}

/** A tenant's routing domain (RDID). Subnets of one virtual network route to each other. */
export interface VirtualNetwork {
  name: string;
  /** IPv4 and (for dual stack) IPv6 prefixes. */
  addressPrefixes: string[];
  subnets: Subnet[];
  /** The HNV gateway: IPv4 destinations outside every subnet go to this host and leave there
   * (NAT'd with the host's address when `nat`). Absent: they are unroutable (no-route). */
  gateway?: VirtualNetworkGateway;
}

/** Where a virtual network leaves for the outside (the seed's forwarding / NAT gateway). */
export interface VirtualNetworkGateway {
  /** The host (hosts[].name) whose stack the traffic leaves through. */
  host: string;
  /** true: masquerade the subnets' prefixes with the host's address (nftables, agent/nat.ts);
   * false: routed only (the outside must route the prefixes to the host). */
  nat: boolean;
}

/** A VM's NIC as a vhost-user port instead of a TAP (io/vhost.ts). */
export interface VhostUserPort {
  /** Absolute path of the unix socket qemu's `-chardev socket` uses. */
  socket: string;
  /** server (default): switchyard listens, qemu connects with `reconnect=`; client: qemu listens
   * (`server=on`) and switchyard connects (and reconnects). */
  mode: 'server' | 'client';
  /** Queue pairs offered to the guest (1..8, default 1; qemu's `queues=`). */
  queues: number;
}


/**
 * One tenant NIC: a TAP port on `host`, bound either to an HNV virtual subnet (`virtualNetwork`,
 * `subnet`, `ipAddress`) or to a Hyper-V style virtual switch (`switch`; the VM sets its own IP); a VM may attach over vhost-user instead of a TAP.
 */
export interface NetworkInterface {
  name: string;
  host: string;
  virtualNetwork?: string;
  subnet?: string;
  /** A virtual switch (switches[].name) instead of a virtual network. */
  switch?: string;
  /** Unicast MAC, "aa:bb:cc:dd:ee:ff" (lower case after validation). */
  macAddress: string;
  /** IPv4 customer address (CA) inside the subnet's prefix (HNV interfaces only). */
  ipAddress?: string;
  /** IPv6 CA inside the subnet's ipv6AddressPrefix (RFC 5952 form after validation); optional. */
  ipv6Address?: string;
  /** Tenant network namespace to move the TAP into and configure. */
  netns?: string;
  /**
   * Who owns `netns`: 'create' (the default) - the agent creates it and deletes it when the port
   * goes; a namespace of that name that the agent did not create is an error for this port.
   * 'adopt' - it exists already (made by someone else); the agent adds only this port's device,
   * its address and, where the namespace has none, a default route, and removes exactly those.
   */
  netnsMode?: NetnsMode;
  /** TAP device name (<= 15 characters); derived from `name` when absent. A vhost-user port has no
   * device: its ifname only names it in logs. */
  ifname?: string;
  accessControlList?: string;
  /** 'Static' (the default): the agent sets the CA in the namespace; 'Dynamic': it does not, and
   * the dataplane answers the port's DHCPv4 client with the CA from policy (DHCP from policy). */
  ipAllocationMethod?: IpAllocationMethod;
  /** Bandwidth cap of the port, each direction (a token bucket in the dataplane). */
  qos?: PortQos;
  /** Hyper-V's port mirroring: copies of every frame a Source port sends or receives go to each
   * Destination port of the same host and subnet. Default None. */
  portMirroring?: PortMirroring;
  /** A VM attaches here over vhost-user instead of a TAP (no netns: the VM is the tenant). */
  vhostUser?: VhostUserPort;
}

export type PortMirroring = 'None' | 'Source' | 'Destination';

export interface PortQos {
  /** Mbit/s, 1 .. 400000. */
  maximumBandwidthMbps: number;
}

export type IpAllocationMethod = 'Static' | 'Dynamic';

export type AclProtocol = 'All' | 'TCP' | 'UDP' | 'ICMP' | number;

/** A Network Controller style ACL rule. */
export interface AclRule {
  name: string;
  protocol: AclProtocol;
  /** '*' or CIDR (a bare address means /32). */
  sourceAddressPrefix: string;
  destinationAddressPrefix: string;
  /** '*' or 'N' or 'N-M'. */
  sourcePortRange: string;
  destinationPortRange: string;
  action: 'Allow' | 'Deny';
  type: 'Inbound' | 'Outbound';
  /** Lower number wins; unique within one ACL per type. */
  priority: number;
  logging?: boolean;
}

export interface AccessControlList {
  name: string;
  aclRules: AclRule[];
}

/** Hyper-V's three switch types (New-VMSwitch -SwitchType / -NetAdapterName). */
export type SwitchType = 'Private' | 'Internal' | 'External';

/** A Hyper-V style L2 learning switch on every host that has a port on it. */
export interface VirtualSwitch {
  name: string;
  switchType: SwitchType;
  /** Internal: the host vNIC's address and prefix, e.g. 172.30.0.1/24 (New-NetIPAddress). */
  hostAddress?: string;
  /** External: the host NIC bound to the switch (New-VMSwitch -NetAdapterName). */
  netAdapterName?: string;
}

/** Add-NetNatStaticMapping: an external port of the host forwarded to an internal address/port. */
export interface NatStaticMapping {
  protocol: 'TCP' | 'UDP';
  /** 0.0.0.0: every address of the host. */
  externalIPAddress: string;
  externalPort: number;
  internalIPAddress: string;
  internalPort: number;
}

/** New-NetNat: ports in the prefix (an Internal switch's) reach outside with the host's address. */
export interface Nat {
  name: string;
  internalIPInterfaceAddressPrefix: string;
  staticMappings: NatStaticMapping[];
}

/** A whole, validated policy document. */
export interface Policy {
  hosts: Host[];
  virtualNetworks: VirtualNetwork[];
  networkInterfaces: NetworkInterface[];
  accessControlLists: AccessControlList[];
  /** Absent in a document: none. */
  switches?: VirtualSwitch[];
  nats?: Nat[];
}
