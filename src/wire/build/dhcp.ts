/**
 * DHCPv4 client messages as a stock client sends them (tests, the fuzzer, `ctl trace`): BOOTP
 * request + cookie + options, inside Ethernet/IPv4/UDP 68 -> 67 (broadcast from 0.0.0.0 unless
 * the client has an address).
 */
import { DHCP_CLIENT_PORT, DHCP_MAGIC, DHCP_SERVER_PORT, OPT_END, OPT_MESSAGE_TYPE, OPT_REQUESTED_IP, OPT_SERVER_ID } from '../dhcp.js';
import { writeMac, writeU16, writeU32 } from '../bytes.js';
import { buildIpv4Udp, ip4, mac, type Ipv4Like, type MacLike } from './frames.js';

export interface DhcpRequestOptions {
  type: number;
  clientMac: MacLike;
  xid?: number;
  flags?: number;
  ciaddr?: Ipv4Like;
  requestedIp?: Ipv4Like;
  serverId?: Ipv4Like;
  /** IPv4 source / destination and Ethernet destination (default: 0.0.0.0 -> broadcast). */
  srcIp?: Ipv4Like;
  dstIp?: Ipv4Like;
  dstMac?: MacLike;
  /** Ethernet source (default clientMac). */
  srcMac?: MacLike;
}

/** The UDP payload: BOOTP request, cookie, options 53 (50, 54 when given), end; 300 bytes. */
export function buildDhcpRequestPayload(o: DhcpRequestOptions): Uint8Array {
  const b = new Uint8Array(300);
  b[0] = 1;
  b[1] = 1;
  b[2] = 6;
  writeU32(b, 4, o.xid ?? 0x12345678);
  writeU16(b, 10, o.flags ?? 0);
  writeU32(b, 12, o.ciaddr === undefined ? 0 : ip4(o.ciaddr));
  writeMac(b, 28, mac(o.clientMac));
  writeU32(b, 236, DHCP_MAGIC);
  let p = 240;
  b[p++] = OPT_MESSAGE_TYPE;
  b[p++] = 1;
  b[p++] = o.type;
  if (o.requestedIp !== undefined) {
    b[p] = OPT_REQUESTED_IP;
    b[p + 1] = 4;
    writeU32(b, p + 2, ip4(o.requestedIp));
    p += 6;
  }
  if (o.serverId !== undefined) {
    b[p] = OPT_SERVER_ID;
    b[p + 1] = 4;
    writeU32(b, p + 2, ip4(o.serverId));
    p += 6;
  }
  b[p] = OPT_END;
  return b;
}

/** The whole frame of a client message. */
export function buildDhcpRequest(o: DhcpRequestOptions): Uint8Array {
  return buildIpv4Udp({
    srcMac: o.srcMac ?? o.clientMac,
    dstMac: o.dstMac ?? 'ff:ff:ff:ff:ff:ff',
    srcIp: o.srcIp ?? '0.0.0.0',
    dstIp: o.dstIp ?? '255.255.255.255',
    srcPort: DHCP_CLIENT_PORT,
    dstPort: DHCP_SERVER_PORT,
    payload: buildDhcpRequestPayload(o),
  });
}
