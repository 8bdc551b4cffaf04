/**
 * Is a NAT static mapping's external port taken on this host (issue 14: "a static mapping whose
 * external port is taken")? Two mappings on one port are a policy error (switch-semantic.ts); a
 * socket of the host listening on it is a fact of one host, checked by its agent before a policy
 * changes anything, as a missing netAdapterName is (vswitch.ts): the DNAT rule would take that
 * service's connections from outside. Read from /proc/net/{tcp,tcp6,udp,udp6} of the agent's
 * namespace (TCP in LISTEN, UDP bound and unconnected). Only mappings the running policy does not
 * have already are checked: a mapping in force stays even when something listens there later.
 */
import fs from 'node:fs';
import type { Nat, Policy } from '../policy/types.js';
import { parseIpv4 } from '../policy/addr.js';

/** A listening socket: protocol, local IPv4 address (0: any; -1: an IPv6 address other than
 * `::` or a v4-mapped one) and port. */
export interface Listener {
  protocol: 'TCP' | 'UDP';
  address: number;
  port: number;
}

const TCP_LISTEN = '0A';
const UDP_UNCONNECTED = '07';

/** The IPv4 address of a /proc/net local address field (hex as the kernel prints it). */
function addressOf(hex: string): number {
  if (hex.length === 8) {
    // the __be32 printed as a host-order (little-endian) number: bytes reversed
    return ((parseInt(hex.slice(6, 8), 16) << 24) | (parseInt(hex.slice(4, 6), 16) << 16) | (parseInt(hex.slice(2, 4), 16) << 8) | parseInt(hex.slice(0, 2), 16)) >>> 0;
  }
  if (/^0{32}$/.test(hex)) return 0;
  // ::ffff:a.b.c.d (four little-endian words: the last is the IPv4 address)
  if (hex.slice(0, 16) === '0000000000000000' && hex.slice(16, 24).toUpperCase() === 'FFFF0000') return addressOf(hex.slice(24));
  return -1;
}

/** The listeners in the text of one /proc/net table (`protocol` tells which). */
export function parseProcNet(text: string, protocol: 'TCP' | 'UDP'): Listener[] {
  const out: Listener[] = [];
  for (const line of text.split('\n').slice(1)) {
    const cols = line.trim().split(/\s+/);
    if (cols.length < 4) continue;
    const [addr, port] = cols[1]!.split(':');
    if (addr === undefined || port === undefined) continue;
    if (cols[3] !== (protocol === 'TCP' ? TCP_LISTEN : UDP_UNCONNECTED)) continue;
    out.push({ protocol, address: addressOf(addr), port: parseInt(port, 16) });
  }
  return out;
}

/** This namespace's listening sockets. */
export function hostListeners(): Listener[] {
  const out: Listener[] = [];
  for (const [file, protocol] of [['tcp', 'TCP'], ['tcp6', 'TCP'], ['udp', 'UDP'], ['udp6', 'UDP']] as const) {
    let text: string;
    try {
      text = fs.readFileSync(`/proc/net/${file}`, 'utf8');
    } catch {
      continue; // no IPv6 in this kernel
    }
    out.push(...parseProcNet(text, protocol));
  }
  return out;
}

const mappingKey = (nat: string, m: Nat['staticMappings'][number]): string => `${nat} ${m.protocol} ${m.externalIPAddress} ${m.externalPort}`;

/**
 * Problems (`path: message`) of the static mappings of `nats` (the NATs this host applies, by
 * their index in policy.nats) that `running` does not have and whose external port a listener
 * here holds.
 */
export function takenPortProblems(policy: Policy, nats: readonly Nat[], running: Policy | undefined, listeners: readonly Listener[], host: string): string[] {
  const inForce = new Set<string>();
  for (const nat of running?.nats ?? []) for (const m of nat.staticMappings) inForce.add(mappingKey(nat.name, m));
  const problems: string[] = [];
  for (const nat of nats) {
    const i = (policy.nats ?? []).indexOf(nat);
    nat.staticMappings.forEach((m, j) => {
      if (inForce.has(mappingKey(nat.name, m))) return;
      const ext = parseIpv4(m.externalIPAddress) ?? 0;
      // the DNAT is IPv4: a socket on one IPv6 address only is no clash
      const l = listeners.find((x) => x.protocol === m.protocol && x.port === m.externalPort && x.address !== -1 && (x.address === 0 || ext === 0 || x.address === ext));
      if (l === undefined) return;
      const where = l.address === 0 ? '*' : `${l.address >>> 24}.${(l.address >>> 16) & 255}.${(l.address >>> 8) & 255}.${l.address & 255}`;
      problems.push(`nats[${i}].staticMappings[${j}].externalPort: ${m.protocol} ${m.externalPort} is taken on host ${host} by a listening socket (${where}:${m.externalPort})`);
    });
  }
  return problems;
}
