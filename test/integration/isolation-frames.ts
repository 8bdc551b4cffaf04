/**
 * scapy expressions for the isolation tests' crafted frames (evaluated by scapy/isolation-sender.py
 * with scapy's names in scope). Every payload carries the test's marker, so a frame counter in a
 * neighbour counts exactly these frames.
 */
import { OPEN_PORT, type Tenant } from './isolation-lab.js';

export const BROADCAST = 'ff:ff:ff:ff:ff:ff';

/** Ethernet header from `src` (a MAC) to `dst`; `type` only when scapy cannot infer it. */
export function eth(src: string, dst: string, type?: number): string {
  return `Ether(src='${src}', dst='${dst}'${type === undefined ? '' : `, type=${type}`})`;
}

/** IPv4/UDP with the marker as payload. */
export function udp4(src: string, dst: string, marker: string, sport = 40000, dport = OPEN_PORT): string {
  return `IP(src='${src}', dst='${dst}')/UDP(sport=${sport}, dport=${dport})/Raw(load=b'${marker}')`;
}

/** A unicast IPv4/UDP frame from tenant `from` (its own MAC and address) to tenant `to`. */
export function honestUdp(from: Tenant, to: Tenant, marker: string): string {
  return `${eth(from.mac, to.mac)}/${udp4(from.ip, to.ip, marker)}`;
}

/** VLAN tag stacks put between the Ethernet header and the payload. */
export const TAGS = {
  'VLAN 0 (priority tag)': { ether: undefined, tags: 'Dot1Q(vlan=0)' },
  'VLAN 5': { ether: undefined, tags: 'Dot1Q(vlan=5)' },
  'QinQ 802.1ad (0x88a8 100, 0x8100 5)': { ether: undefined, tags: 'Dot1AD(vlan=100)/Dot1Q(vlan=5)' },
  'QinQ legacy (0x9100 100, 0x8100 5)': { ether: 0x9100, tags: 'Dot1Q(vlan=100)/Dot1Q(vlan=5)' },
} as const;

/**
 * ARP from the attacker's MAC: `op` 1 or 2, sender protocol address `spa`, target `tpa`, target
 * hardware `tha`; the marker rides as trailing bytes (Ethernet padding, which ARP ignores).
 */
export function arp(o: { src: string; dst: string; tag?: string; op: 1 | 2; sha: string; spa: string; tha: string; tpa: string; marker: string }): string {
  const tag = o.tag === undefined ? '' : `/${o.tag}`;
  return `${eth(o.src, o.dst)}${tag}/ARP(op=${o.op}, hwsrc='${o.sha}', psrc='${o.spa}', hwdst='${o.tha}', pdst='${o.tpa}')/Raw(load=b'${o.marker}')`;
}

/** A DHCP discover from 0.0.0.0 as a client without an address sends it. */
export function dhcpDiscover(mac: string, marker: string): string {
  return (
    `${eth(mac, BROADCAST)}/IP(src='0.0.0.0', dst='255.255.255.255')/UDP(sport=68, dport=67)` +
    `/BOOTP(chaddr=mac2str('${mac}'), xid=0x5a5a, file=b'${marker}')/DHCP(options=[('message-type', 'discover'), 'end'])`
  );
}

/** A VXLAN datagram from PA `src` to PA `dst` (outer source port away from 4789: it is not the
 * agent's socket that sends it) carrying `inner`. */
export function vxlan(src: string, dst: string, vni: number, inner: string): string {
  return `IP(src='${src}', dst='${dst}')/UDP(sport=47000, dport=4789)/VXLAN(flags=0x08, vni=${vni})/${inner}`;
}
