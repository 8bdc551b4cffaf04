/**
 * DHCPv4 (RFC 2131, options RFC 2132) over BOOTP: reading a client's message into a reusable
 * record, and writing a server's reply as a whole Ethernet + IPv4 + UDP frame in place. Pure
 * functions over (Uint8Array, offset); the caller says where, and that the room is there.
 *
 * BOOTP fixed part (236 bytes): op, htype, hlen, hops, xid (4), secs (2), flags (2), ciaddr,
 * yiaddr, siaddr, giaddr (4 each), chaddr (16), sname (64), file (128); then the magic cookie
 * 99.130.83.99 and the options (code, length, value; 0 pad, 255 end).
 */
import { readMac, readU16, readU32, writeMac, writeU16, writeU32 } from './bytes.js';
import { writeIpv4 } from './ipv4.js';
import { udpChecksumIpv4, writeUdp } from './udp.js';

export const DHCP_SERVER_PORT = 67;
export const DHCP_CLIENT_PORT = 68;
export const BOOTP_FIXED_LEN = 236;
export const DHCP_MAGIC = 0x63825363;
/** The smallest BOOTP message (RFC 1542): replies are padded to it, as clients may expect. */
export const BOOTP_MIN_LEN = 300;

export const DHCPDISCOVER = 1;
export const DHCPOFFER = 2;
export const DHCPREQUEST = 3;
export const DHCPDECLINE = 4;
export const DHCPACK = 5;
export const DHCPNAK = 6;
export const DHCPRELEASE = 7;
export const DHCPINFORM = 8;
export const DHCP_TYPE_NAMES = ['', 'DISCOVER', 'OFFER', 'REQUEST', 'DECLINE', 'ACK', 'NAK', 'RELEASE', 'INFORM'];

export const OPT_PAD = 0;
export const OPT_SUBNET_MASK = 1;
export const OPT_ROUTER = 3;
export const OPT_DNS = 6;
export const OPT_MTU = 26;
export const OPT_REQUESTED_IP = 50;
export const OPT_LEASE_TIME = 51;
export const OPT_MESSAGE_TYPE = 53;
export const OPT_SERVER_ID = 54;
export const OPT_RENEWAL_TIME = 58;
export const OPT_REBINDING_TIME = 59;
export const OPT_END = 255;

/** BOOTP flags: the client cannot receive unicast before it has its address. */
export const FLAG_BROADCAST = 0x8000;

/** A client's message, as far as a server needs it (one record, reused). */
export class DhcpMessage {
  xid = 0;
  flags = 0;
  ciaddr = 0;
  giaddr = 0;
  chaddr = 0;
  /** Option 53 (0: none). */
  type = 0;
  /** Option 50 (0: none). */
  requestedIp = 0;
  /** Option 54 (0: none). */
  serverId = 0;
}

/**
 * Reads the BOOTP message at `off` (`len` bytes: the UDP payload) into `m`. False when it is not
 * a well-formed DHCP request from an Ethernet client: too short, op not BOOTREQUEST, hardware not
 * Ethernet/6, no magic cookie, an option running past the end, no or a bad message type.
 */
export function parseDhcpRequest(b: Uint8Array, off: number, len: number, m: DhcpMessage): boolean {
  if (len < BOOTP_FIXED_LEN + 4) return false;
  if (b[off] !== 1 || b[off + 1] !== 1 || b[off + 2] !== 6) return false;
  if (readU32(b, off + BOOTP_FIXED_LEN) !== DHCP_MAGIC) return false;
  m.xid = readU32(b, off + 4);
  m.flags = readU16(b, off + 10);
  m.ciaddr = readU32(b, off + 12);
  m.giaddr = readU32(b, off + 24);
  m.chaddr = readMac(b, off + 28);
  m.type = 0;
  m.requestedIp = 0;
  m.serverId = 0;
  const end = off + len;
  let p = off + BOOTP_FIXED_LEN + 4;
  while (p < end) {
    const code = b[p];
    if (code === OPT_END) break;
    if (code === OPT_PAD) {
      p++;
      continue;
    }
    if (p + 2 > end) return false;
    const n = b[p + 1];
    const v = p + 2;
    if (v + n > end) return false;
    if (code === OPT_MESSAGE_TYPE) {
      if (n !== 1) return false;
      m.type = b[v];
    } else if (code === OPT_REQUESTED_IP) {
      if (n !== 4) return false;
      m.requestedIp = readU32(b, v);
    } else if (code === OPT_SERVER_ID) {
      if (n !== 4) return false;
      m.serverId = readU32(b, v);
    }
    p = v + n;
  }
  return m.type >= DHCPDISCOVER && m.type <= DHCPINFORM;
}

/** What a reply carries besides the request's own fields. */
export interface DhcpReplyFields {
  /** DHCPOFFER, DHCPACK or DHCPNAK. */
  type: number;
  /** The address offered (0 for NAK and for an ACK to INFORM). */
  yiaddr: number;
  serverMac: number;
  /** The server identifier: the reply's IPv4 source too. */
  serverId: number;
  /** The client's MAC (the Ethernet destination). */
  clientMac: number;
  /** Lease seconds (0: no lease options: INFORM and NAK). */
  leaseSecs: number;
  mask: number;
  router: number;
  mtu: number;
  dns: readonly number[];
}

/** Bytes of the whole reply frame writeDhcpReply writes for `dnsCount` DNS servers. */
export function dhcpReplyFrameLen(dnsCount: number): number {
  return 14 + 20 + 8 + Math.max(BOOTP_MIN_LEN, BOOTP_FIXED_LEN + 4 + dhcpOptionsLen(dnsCount));
}

function dhcpOptionsLen(dnsCount: number): number {
  // type 3, server id 6, lease/T1/T2 18, mask 6, router 6, MTU 4, DNS 2 + 4n, end 1
  return 3 + 6 + 18 + 6 + 6 + 4 + (dnsCount > 0 ? 2 + 4 * dnsCount : 0) + 1;
}

function opt32(b: Uint8Array, p: number, code: number, v: number): number {
  b[p] = code;
  b[p + 1] = 4;
  writeU32(b, p + 2, v);
  return p + 6;
}

/**
 * Writes the reply to request `m` as a whole Ethernet frame at `off` and returns its length
 * (dhcpReplyFrameLen: the caller checks the room). Addressing (RFC 2131 4.1, no relays here): a
 * NAK to 255.255.255.255; a client that has an address (ciaddr) at it; one that asked for
 * broadcast at 255.255.255.255; otherwise at the address offered. The Ethernet destination is
 * always the client's MAC: a port has one receiver. A NAK carries only type and server id.
 */
export function writeDhcpReply(b: Uint8Array, off: number, m: DhcpMessage, r: DhcpReplyFields): number {
  const nak = r.type === DHCPNAK;
  const l3 = off + 14;
  const l4 = l3 + 20;
  const bp = l4 + 8;
  const bootpLen = Math.max(BOOTP_MIN_LEN, BOOTP_FIXED_LEN + 4 + dhcpOptionsLen(nak ? 0 : r.dns.length));
  b.fill(0, bp, bp + bootpLen);
  b[bp] = 2;
  b[bp + 1] = 1;
  b[bp + 2] = 6;
  writeU32(b, bp + 4, m.xid);
  writeU16(b, bp + 10, m.flags);
  if (!nak) writeU32(b, bp + 12, m.ciaddr);
  writeU32(b, bp + 16, r.yiaddr);
  writeMac(b, bp + 28, m.chaddr);
  writeU32(b, bp + BOOTP_FIXED_LEN, DHCP_MAGIC);
  let p = bp + BOOTP_FIXED_LEN + 4;
  b[p] = OPT_MESSAGE_TYPE;
  b[p + 1] = 1;
  b[p + 2] = r.type;
  p = opt32(b, p + 3, OPT_SERVER_ID, r.serverId);
  if (!nak) {
    if (r.leaseSecs > 0) {
      p = opt32(b, p, OPT_LEASE_TIME, r.leaseSecs);
      p = opt32(b, p, OPT_RENEWAL_TIME, Math.floor(r.leaseSecs / 2));
      p = opt32(b, p, OPT_REBINDING_TIME, Math.floor((r.leaseSecs * 7) / 8));
    }
    p = opt32(b, p, OPT_SUBNET_MASK, r.mask);
    p = opt32(b, p, OPT_ROUTER, r.router);
    b[p] = OPT_MTU;
    b[p + 1] = 2;
    writeU16(b, p + 2, r.mtu);
    p += 4;
    if (r.dns.length > 0) {
      b[p] = OPT_DNS;
      b[p + 1] = 4 * r.dns.length;
      p += 2;
      for (let i = 0; i < r.dns.length; i++, p += 4) writeU32(b, p, r.dns[i]);
    }
  }
  b[p] = OPT_END;
  const dst = nak ? 0xffffffff : m.ciaddr !== 0 ? m.ciaddr : (m.flags & FLAG_BROADCAST) !== 0 ? 0xffffffff : r.yiaddr;
  writeMac(b, off, r.clientMac);
  writeMac(b, off + 6, r.serverMac);
  writeU16(b, off + 12, 0x0800);
  const udpLen = 8 + bootpLen;
  writeIpv4(b, l3, 0x10, 20 + udpLen, 0, 0, 64, 17, r.serverId, dst);
  writeUdp(b, l4, DHCP_SERVER_PORT, DHCP_CLIENT_PORT, udpLen, 0);
  writeU16(b, l4 + 6, udpChecksumIpv4(b, l3, l4, udpLen));
  return 14 + 20 + udpLen;
}
