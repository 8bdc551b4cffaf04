/**
 * Turns a trace request's frame description into bytes. Fields the user left out are filled the
 * way the tenant's own stack would fill them: outbound frames come from the port's MAC and
 * address and go to the destination's MAC from policy (or the router's MAC when the destination
 * is in another subnet, or broadcast for ARP); inbound frames are addressed to the port.
 */
import * as eth from '../wire/ethernet.js';
import * as ipv4 from '../wire/ipv4.js';
import * as udp from '../wire/udp.js';
import * as tcp from '../wire/tcp.js';
import * as icmp from '../wire/icmp.js';
import { writeArp, ARP_OP_REQUEST } from '../wire/arp.js';
import { parseIpv4 } from '../policy/addr.js';
import { macToNumber, type PortInfo, type Snapshot } from '../vfp/snapshot.js';
import type { FrameSpec } from './control-protocol.js';

function ipOr(text: string | undefined, dflt: number | undefined, what: string): number {
  if (text !== undefined) {
    const v = parseIpv4(text);
    if (v === undefined) throw new Error(`trace: ${what} is not an IPv4 address`);
    return v;
  }
  if (dflt === undefined) throw new Error(`trace: give ${what}=`);
  return dflt;
}

/** MAC of the CA `ip` in the port's virtual network, as the sender would resolve it. */
function macFor(snap: Snapshot, port: PortInfo, ip: number): number {
  // a switch port resolves nothing from policy: without dl_dst= the frame is a broadcast
  if (port.switchIndex >= 0) return eth.MAC_BROADCAST;
  const sub = snap.subnets[port.subnetIndex]!;
  if (((ip & sub.mask) >>> 0) !== sub.network || ip === sub.gateway) return snap.routerMac;
  const ep = snap.endpointByIp[port.rdid]?.get(ip);
  return ep === undefined ? snap.routerMac : snap.endpoints[ep]!.mac;
}

/** The frame of `spec`, with an 802.1Q tag inserted after the MACs when it names a VLAN. */
export function buildTraceFrame(spec: FrameSpec, snap: Snapshot, port: PortInfo, direction: 'out' | 'in'): Uint8Array {
  const f = buildUntagged(spec, snap, port, direction);
  if (spec.vlan === undefined) return f;
  const t = new Uint8Array(f.length + 4);
  t.set(f.subarray(0, 12), 0);
  t[12] = 0x81;
  t[13] = 0x00;
  t[14] = (spec.vlan >>> 8) & 0x0f;
  t[15] = spec.vlan & 0xff;
  t.set(f.subarray(12), 16);
  return t;
}

function buildUntagged(spec: FrameSpec, snap: Snapshot, port: PortInfo, direction: 'out' | 'in'): Uint8Array {
  const b = new Uint8Array(14 + 20 + 60);
  const out = direction === 'out';
  if (spec.proto === 'ipv6' || spec.proto === 'eth') {
    // not IPv4: addressed like a neighbour's frame (the port's MAC, else broadcast)
    const dlSrc = spec.dl_src ? macToNumber(spec.dl_src) : out ? port.mac : snap.routerMac;
    const dlDst = spec.dl_dst ? macToNumber(spec.dl_dst) : out ? eth.MAC_BROADCAST : port.mac;
    if (spec.proto === 'eth') {
      eth.writeEthernet(b, 0, dlDst, dlSrc, spec.dl_type ?? 0x88b5);
      return b.subarray(0, 60);
    }
    eth.writeEthernet(b, 0, dlDst, dlSrc, 0x86dd);
    b[14] = 0x60;
    b[20] = 59; // no next header
    b[21] = 255;
    b[22] = 0xfe;
    b[23] = 0x80;
    b[38] = 0xff;
    b[39] = 0x02;
    b[53] = 1; // fe80:: -> ff02::1
    return b.subarray(0, 14 + 40);
  }
  const src = ipOr(spec.src, out ? port.ip : undefined, 'src');
  const dst = ipOr(spec.dst, out ? undefined : port.ip, 'dst');
  const dlSrc = spec.dl_src ? macToNumber(spec.dl_src) : out ? port.mac : macFor(snap, port, src);
  if (spec.proto === 'arp') {
    const dlDst = spec.dl_dst ? macToNumber(spec.dl_dst) : eth.MAC_BROADCAST;
    eth.writeEthernet(b, 0, dlDst, dlSrc, eth.ETHERTYPE_ARP);
    writeArp(b, 14, ARP_OP_REQUEST, dlSrc, src, 0, dst);
    return b.subarray(0, 14 + 28);
  }
  const dlDst = spec.dl_dst ? macToNumber(spec.dl_dst) : out ? macFor(snap, port, dst) : port.mac;
  eth.writeEthernet(b, 0, dlDst, dlSrc, eth.ETHERTYPE_IPV4);
  const l4 = 14 + 20;
  let proto: number;
  let l4len: number;
  switch (spec.proto) {
    case 'tcp':
      proto = ipv4.IPPROTO_TCP;
      l4len = 20;
      tcp.setSrcPort(b, l4, spec.sport ?? 40000);
      tcp.setDstPort(b, l4, spec.dport ?? 80);
      tcp.setDataOffset(b, l4, 20);
      tcp.setFlags(b, l4, spec.flags ?? tcp.TCP_FLAG_SYN);
      tcp.setWindow(b, l4, 65535);
      break;
    case 'udp':
      proto = ipv4.IPPROTO_UDP;
      l4len = 8;
      udp.writeUdp(b, l4, spec.sport ?? 40000, spec.dport ?? 53, 8);
      break;
    case 'icmp':
      proto = ipv4.IPPROTO_ICMP;
      l4len = 8;
      icmp.setType(b, l4, icmp.ICMP_ECHO_REQUEST);
      icmp.setEchoId(b, l4, 1);
      icmp.setEchoSeq(b, l4, 1);
      break;
    default:
      proto = spec.nw_proto ?? 253; // 253: reserved for experimentation (RFC 3692)
      l4len = 0;
  }
  ipv4.writeIpv4(b, 14, 0, 20 + l4len, 1, ipv4.IPV4_FLAG_DF, spec.ttl ?? 64, proto, src, dst);
  ipv4.fillChecksum(b, 14);
  if (proto === ipv4.IPPROTO_TCP) tcp.setChecksum(b, l4, tcp.tcpChecksumIpv4(b, 14, l4, l4len));
  if (proto === ipv4.IPPROTO_UDP) udp.setChecksum(b, l4, udp.udpChecksumIpv4(b, 14, l4, l4len));
  if (proto === ipv4.IPPROTO_ICMP) icmp.setChecksum(b, l4, icmp.icmpv4Checksum(b, l4, l4len));
  return b.subarray(0, 14 + 20 + l4len);
}
