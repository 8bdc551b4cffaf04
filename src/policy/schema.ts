/**
 * The one schema of a policy document (policy file, REST API and CLI all parse with it). It checks
 * the form of every field and normalises values (lower-case MACs, canonical protocol/action
 * names, bare ACL addresses as /32, port numbers as text, defaults). Checks that relate several
 * fields or objects (names, references, overlaps) live in `semantic.ts`; `parsePolicy` runs both.
 */
import { z } from 'zod';
import { ipv6AddressText, ipv6PrefixText } from './ipv6.js';
import { formatCidr, isUnicastMac, lastAddress, normaliseMac, parseCidr, parseInterfaceAddress, parseIpv4 } from './addr.js';
import { ifnameProblem, nameProblem, netnsProblem } from './names.js';
import type {
  AccessControlList,
  AclProtocol,
  AclRule,
  Encapsulation,
  Host,
  IpAllocationMethod,
  Nat,
  NatStaticMapping,
  NetnsMode,
  NetworkInterface,
  Policy,
  PortMirroring,
  PortQos,
  Subnet,
  SwitchType,
  VhostUserPort,
  VirtualNetwork,
  VirtualNetworkGateway,
  VirtualSwitch,
} from './types.js';

export const VSID_MIN = 4096;
export const VSID_MAX = 16777214;
export const PRIORITY_MIN = 100;
export const PRIORITY_MAX = 65500;
/** Smallest subnet: /30 leaves one address beside network, gateway and broadcast. */
export const SUBNET_MAX_PREFIX_LENGTH = 30;

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'an object';
  return typeof value === 'string' ? `string ${JSON.stringify(value)}` : `${typeof value} ${String(value)}`;
}

/** A value as it appears in a message: strings as written, other values by type. */
function show(value: unknown): string {
  if (typeof value === 'string') return value === '' || /\s/.test(value) ? JSON.stringify(value) : value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return typeName(value);
}

/** The message of a wrong-type issue: "required" when missing, else what was expected and got. */
function typeError(expected: string) {
  return (issue: { input?: unknown }): string =>
    issue.input === undefined ? 'required' : `expected ${expected}, got ${typeName(issue.input)}`;
}

/** Report a custom problem from inside a transform. */
function fail(ctx: z.core.$RefinementCtx, input: unknown, message: string): never {
  ctx.issues.push({ code: 'custom', message, input });
  return z.NEVER;
}

/** A string field checked and converted by `convert`, which returns a problem text via `bad`. */
function text<T>(expected: string, convert: (value: string, bad: (message: string) => never) => T) {
  return z.string({ error: typeError(expected) }).transform((value, ctx) =>
    convert(value, (message) => fail(ctx, value, message)),
  );
}

/** A field of any type: `convert` sees the raw value (undefined when absent). */
function anyValue<T>(convert: (value: unknown, bad: (message: string) => never) => T) {
  return z.unknown().transform((value, ctx) => convert(value, (message) => fail(ctx, value, message)));
}

function integerIn(what: string, min: number, max: number) {
  return anyValue((value, bad) => {
    if (value === undefined) return bad('required');
    if (typeof value !== 'number' || !Number.isInteger(value)) return bad(`expected an integer, got ${typeName(value)}`);
    if (value < min || value > max) return bad(`${what} ${value} out of range ${min}..${max}`);
    return value;
  });
}

function list<T extends z.ZodType>(element: T, what: string) {
  return z.array(element, { error: typeError(`a list of ${what}`) });
}

function object<T extends z.core.$ZodLooseShape>(shape: T, what: string) {
  return z.strictObject(shape, {
    error: (issue) =>
      issue.code === 'unrecognized_keys' ? `unknown field ${issue.keys.join(', ')}` : typeError(what)(issue),
  });
}

const name = text('a name', (value, bad) => {
  const problem = nameProblem(value);
  return problem === undefined ? value : bad(problem);
});

const ipv4 = text('an IPv4 address', (value, bad) => (parseIpv4(value) === undefined ? bad(`not an IPv4 address: ${show(value)}`) : value));

const providerAddress = text('an IPv4 address', (value, bad) => {
  const address = parseIpv4(value);
  if (address === undefined) return bad(`not an IPv4 address: ${show(value)}`);
  const first = address >>> 24;
  if (first === 0 || first === 127 || first >= 224) return bad(`not a unicast provider address: ${show(value)}`);
  return value;
});

/** A result of the IPv6 parsers (ipv6.ts): the normalised text, or a problem. */
function fromResult(r: { ok: string } | { problem: string }, bad: (message: string) => never): string {
  return 'ok' in r ? r.ok : bad(r.problem);
}

/** A virtual network's prefix: IPv4 CIDR as written, or an IPv6 prefix (normalised). */
const vnetPrefix = text('a CIDR prefix', (value, bad) => {
  if (value.includes(':')) return fromResult(ipv6PrefixText(value), bad);
  const parsed = parseCidr(value);
  return typeof parsed === 'string' ? bad(parsed) : value;
});

/** A dual-stack subnet's IPv6 prefix (normalised; /64 .. /120). */
const ipv6SubnetPrefix = text('an IPv6 prefix', (value, bad) => fromResult(ipv6PrefixText(value, { minLen: 8, maxLen: 120 }), bad));

const ipv6Address = text('an IPv6 address', (value, bad) => fromResult(ipv6AddressText(value), bad));

const subnetPrefix = text('a CIDR prefix', (value, bad) => {
  const parsed = parseCidr(value);
  if (typeof parsed === 'string') return bad(parsed);
  if (parsed.prefixLength > SUBNET_MAX_PREFIX_LENGTH) {
    return bad(`subnet ${value} too small (at most /${SUBNET_MAX_PREFIX_LENGTH})`);
  }
  return value;
});

const macAddress = text('a MAC address', (value, bad) => {
  const mac = normaliseMac(value);
  if (mac === undefined) return bad(`not a MAC address: ${show(value)}`);
  if (!isUnicastMac(mac)) return bad(`not a unicast MAC: ${mac}`);
  return mac;
});

const netnsName = text('a namespace name', (value, bad) => {
  const problem = netnsProblem(value);
  return problem === undefined ? value : bad(problem);
});

const ifname = text('an interface name', (value, bad) => {
  const problem = ifnameProblem(value);
  return problem === undefined ? value : bad(problem);
});

/** Case-insensitive choice among `options`, normalised to the option's spelling. */
function choice<T extends string>(what: string, options: readonly T[]) {
  return text(what, (value, bad): T => {
    const found = options.find((option) => option.toLowerCase() === value.toLowerCase());
    return found ?? bad(`not ${what}: ${show(value)} (${options.join(' or ')})`);
  });
}

const netnsMode = choice<NetnsMode>('a netns mode', ['create', 'adopt']);

const encapsulation = choice<Encapsulation>('an encapsulation', ['vxlan', 'nvgre']).default('vxlan');

const nvgreFlowId = anyValue((value, bad): number | 'hash' => {
  if (typeof value === 'string' && value.toLowerCase() === 'hash') return 'hash';
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 255) return value;
  return bad(`not an nvgre flow id: ${show(value)} (0..255 or hash)`);
}).default(0);

const PROTOCOLS = ['All', 'TCP', 'UDP', 'ICMP'] as const;

const protocol = anyValue((value, bad): AclProtocol => {
  if (value === undefined) return bad('required');
  if (typeof value === 'string') {
    const named = PROTOCOLS.find((option) => option.toLowerCase() === value.toLowerCase());
    if (named !== undefined) return named;
    if (/^(0|[1-9][0-9]{0,2})$/.test(value) && Number(value) <= 255) return Number(value);
  } else if (typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 255) {
    return value;
  }
  return bad(`not a protocol: ${show(value)} (All, TCP, UDP, ICMP or 0..255)`);
});

/** '*' or CIDR; a bare address becomes a /32. */
const aclPrefix = text('an address prefix', (value, bad) => {
  if (value === '*') return value;
  if (value.includes(':')) return fromResult(ipv6PrefixText(value, { bare: true }), bad);
  const parsed = parseCidr(value, true);
  return typeof parsed === 'string' ? bad(parsed) : formatCidr(parsed);
});

function portProblem(value: unknown): string | undefined {
  if (typeof value === 'number') {
    return Number.isInteger(value) && value >= 0 && value <= 65535 ? undefined : 'not a port';
  }
  if (typeof value !== 'string') return 'not a port range';
  if (value === '*') return undefined;
  const match = /^(0|[1-9][0-9]{0,4})(?:-(0|[1-9][0-9]{0,4}))?$/.exec(value);
  if (match === null) return 'not a port range';
  const low = Number(match[1]);
  const high = match[2] === undefined ? low : Number(match[2]);
  if (low > 65535 || high > 65535) return 'port out of range 0..65535';
  if (low > high) return 'empty port range';
  return undefined;
}

/** '*' | 'N' | 'N-M'; numbers are accepted and become text. */
const portRange = anyValue((value, bad): string => {
  if (value === undefined) return bad('required');
  const problem = portProblem(value);
  return problem === undefined ? String(value) : bad(`${problem}: ${show(value)} ('*', 'N' or 'N-M')`);
});

export const HostSchema = object(
  {
    name,
    providerAddresses: list(providerAddress, 'IPv4 addresses').min(1, { error: 'at least one provider address' }),
  },
  'a host',
);

export const SubnetSchema = object(
  {
    name,
    vsid: integerIn('vsid', VSID_MIN, VSID_MAX),
    addressPrefix: subnetPrefix,
    ipv6AddressPrefix: ipv6SubnetPrefix.optional(),
    encapsulation,
    nvgreFlowId,
    accessControlList: name.optional(),
    dnsServers: list(ipv4, 'IPv4 addresses').max(8, { error: 'at most 8 DNS servers' }).optional(),
  },
  'a subnet',
);

export const GatewaySchema = object(
  {
    host: name,
    nat: z.boolean({ error: typeError('true or false') }),
  },
  'a gateway ({host, nat})',
);

export const VirtualNetworkSchema = object(
  {
    name,
    addressPrefixes: list(vnetPrefix, 'CIDR prefixes').min(1, { error: 'at least one address prefix' }),
    subnets: list(SubnetSchema, 'subnets'),
    gateway: GatewaySchema.optional(),
  },
  'a virtual network',
);

export const QosSchema = object(
  {
    maximumBandwidthMbps: integerIn('maximumBandwidthMbps', 1, 400_000),
  },
  'a QoS setting',
);
QosSchema satisfies z.ZodType<PortQos, unknown>;
/** sockaddr_un.sun_path holds 108 bytes with the terminating NUL. */
const SOCKET_PATH_MAX = 107;

const socketPath = text('a socket path', (value, bad) => {
  if (!value.startsWith('/')) return bad(`not an absolute path: ${show(value)}`);
  if (value.includes('\0')) return bad('a socket path cannot contain NUL');
  if (Buffer.byteLength(value) > SOCKET_PATH_MAX) return bad(`socket path longer than ${SOCKET_PATH_MAX} bytes`);
  if (value.endsWith('/')) return bad(`not a file path: ${show(value)}`);
  return value;
});

export const VhostUserSchema = object(
  {
    socket: socketPath,
    mode: choice<VhostUserPort['mode']>('a vhost-user mode', ['server', 'client']).default('server'),
    queues: integerIn('queues', 1, 8).default(1),
  },
  'a vhost-user port ({socket, mode?, queues?})',
);

export const NetworkInterfaceSchema = object(
  {
    name,
    host: name,
    virtualNetwork: name.optional(),
    subnet: name.optional(),
    switch: name.optional(),
    macAddress,
    ipv6Address: ipv6Address.optional(),
    ipAddress: ipv4.optional(),
    netns: netnsName.optional(),
    netnsMode: netnsMode.optional(),
    ifname: ifname.optional(),
    accessControlList: name.optional(),
    ipAllocationMethod: choice<IpAllocationMethod>('an IP allocation method', ['Static', 'Dynamic']).optional(),
    qos: QosSchema.optional(),
    portMirroring: choice<PortMirroring>('a port mirroring mode', ['None', 'Source', 'Destination']).optional(),
    vhostUser: VhostUserSchema.optional(),
  },
  'a network interface',
).superRefine((nic, ctx) => {
  // a VM's port has no namespace to configure: the guest owns its address
  if (nic.vhostUser !== undefined && nic.netns !== undefined) {
    ctx.addIssue({ code: 'custom', path: ['netns'], message: 'a vhost-user port has no netns (the VM is the tenant)', input: nic.netns });
  }
  // a mode without a namespace would silently mean nothing
  if (nic.netnsMode !== undefined && nic.netns === undefined) {
    ctx.addIssue({ code: 'custom', path: ['netnsMode'], message: 'netnsMode without netns', input: nic.netnsMode });
  }
  // bound to exactly one network: a virtual subnet (with its CA) or a virtual switch
  if (nic.switch !== undefined) {
    for (const field of ['virtualNetwork', 'subnet', 'ipAddress'] as const) {
      if (nic[field] !== undefined) ctx.addIssue({ code: 'custom', path: [field], message: `interface bound twice: switch ${nic.switch} and ${field} (a switch port has no virtual network; the VM sets its own address)`, input: nic[field] });
    }
  } else {
    for (const field of ['virtualNetwork', 'subnet', 'ipAddress'] as const) {
      if (nic[field] === undefined) ctx.addIssue({ code: 'custom', path: [field], message: 'required', input: undefined });
    }
  }
});

/** An address with its prefix length, e.g. 172.30.0.1/24 (a host vNIC's). */
const interfaceAddress = text('an address with prefix length', (value, bad) => {
  const parsed = parseInterfaceAddress(value);
  if (typeof parsed === 'string') return bad(parsed);
  const { address, prefix } = parsed;
  if (prefix.prefixLength > SUBNET_MAX_PREFIX_LENGTH || address === prefix.network || address === lastAddress(prefix)) return bad(`not a host address of its prefix: ${show(value)}`);
  return value;
});

const switchType = choice<SwitchType>('a switch type', ['Private', 'Internal', 'External']);

export const VirtualSwitchSchema = object(
  {
    name,
    switchType,
    hostAddress: interfaceAddress.optional(),
    netAdapterName: ifname.optional(),
  },
  'a virtual switch',
).superRefine((sw, ctx) => {
  const need = (field: 'hostAddress' | 'netAdapterName', want: boolean, why: string): void => {
    if (want && sw[field] === undefined) ctx.addIssue({ code: 'custom', path: [field], message: `required for an ${sw.switchType} switch (${why})`, input: undefined });
    if (!want && sw[field] !== undefined) ctx.addIssue({ code: 'custom', path: [field], message: `only for ${field === 'hostAddress' ? 'an Internal' : 'an External'} switch, not ${sw.switchType}`, input: sw[field] });
  };
  need('hostAddress', sw.switchType === 'Internal', "the host vNIC's address, e.g. 172.30.0.1/24");
  need('netAdapterName', sw.switchType === 'External', 'the host NIC to bind, e.g. eth1');
});

const port = integerIn('port', 1, 65535);

export const NatStaticMappingSchema = object(
  {
    protocol: choice<NatStaticMapping['protocol']>('a protocol', ['TCP', 'UDP']),
    externalIPAddress: ipv4.default('0.0.0.0'),
    externalPort: port,
    internalIPAddress: ipv4,
    internalPort: port,
  },
  'a static mapping',
);

export const NatSchema = object(
  {
    name,
    internalIPInterfaceAddressPrefix: subnetPrefix,
    staticMappings: list(NatStaticMappingSchema, 'static mappings').default([]),
  },
  'a NAT',
);

export const AclRuleSchema = object(
  {
    name,
    protocol,
    sourceAddressPrefix: aclPrefix,
    destinationAddressPrefix: aclPrefix,
    sourcePortRange: portRange,
    destinationPortRange: portRange,
    action: choice<AclRule['action']>('an action', ['Allow', 'Deny']),
    type: choice<AclRule['type']>('a rule type', ['Inbound', 'Outbound']),
    priority: integerIn('priority', PRIORITY_MIN, PRIORITY_MAX),
    logging: z.boolean({ error: typeError('true or false') }).optional(),
  },
  'an ACL rule',
);

export const AccessControlListSchema = object(
  {
    name,
    aclRules: list(AclRuleSchema, 'ACL rules'),
  },
  'an access control list',
);

/** The form of a whole policy document (no cross-reference checks: use `parsePolicy`). */
export const PolicySchema = object(
  {
    hosts: list(HostSchema, 'hosts'),
    virtualNetworks: list(VirtualNetworkSchema, 'virtual networks'),
    networkInterfaces: list(NetworkInterfaceSchema, 'network interfaces'),
    accessControlLists: list(AccessControlListSchema, 'access control lists').default([]),
    switches: list(VirtualSwitchSchema, 'virtual switches').default([]),
    nats: list(NatSchema, 'NATs').default([]),
  },
  'a policy document (an object with hosts, virtualNetworks, networkInterfaces)',
);

// The schema produces exactly the types of types.ts (checked both ways in the unit tests too).
HostSchema satisfies z.ZodType<Host, unknown>;
SubnetSchema satisfies z.ZodType<Subnet, unknown>;
VirtualNetworkSchema satisfies z.ZodType<VirtualNetwork, unknown>;
GatewaySchema satisfies z.ZodType<VirtualNetworkGateway, unknown>;
NetworkInterfaceSchema satisfies z.ZodType<NetworkInterface, unknown>;
VhostUserSchema satisfies z.ZodType<VhostUserPort, unknown>;
AclRuleSchema satisfies z.ZodType<AclRule, unknown>;
AccessControlListSchema satisfies z.ZodType<AccessControlList, unknown>;
VirtualSwitchSchema satisfies z.ZodType<VirtualSwitch, unknown>;
NatSchema satisfies z.ZodType<Nat, unknown>;
PolicySchema satisfies z.ZodType<Policy, unknown>;
