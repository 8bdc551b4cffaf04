// Header modules one by one: golden bytes of every writer into buffers poisoned with 0xa5
// (STYLE.md 11a), accessors on builder frames, and each validator's reasons, table-driven.
import { describe, expect, it } from 'vitest';
import { formatIpv4, formatMac, parseIpv4, parseMac } from '../../src/wire/addr.js';
import * as arp from '../../src/wire/arp.js';
import { onesSum } from '../../src/wire/checksum.js';
import * as eth from '../../src/wire/ethernet.js';
import * as icmp from '../../src/wire/icmp.js';
import * as ipv4 from '../../src/wire/ipv4.js';
import * as ipv6 from '../../src/wire/ipv6.js';
import * as tcp from '../../src/wire/tcp.js';
import * as udp from '../../src/wire/udp.js';
import {
  buildArpRequest,
  buildEth,
  buildIcmpEcho,
  buildIcmpv6,
  buildIpv4,
  buildIpv4Packet,
  buildIpv4Udp,
  buildIpv6,
  buildIpv6Udp,
  buildTcp,
  fromHex,
  ip6,
  pattern,
  toHex,
} from '../../src/wire/build/frames.js';

const poisoned = (n: number): Uint8Array => new Uint8Array(n).fill(0xa5);
const M11 = parseMac('02:00:00:00:01:11');
const M12 = parseMac('02:00:00:00:01:12');

describe('ethernet', () => {
  it('writeEthernet and the setters write exactly their bytes', () => {
    const b = poisoned(18);
    eth.writeEthernet(b, 2, M12, M11, eth.ETHERTYPE_ARP);
    expect(toHex(b)).toBe('a5a5' + '020000000112' + '020000000111' + '0806' + 'a5a5');
    eth.setDst(b, 2, eth.MAC_BROADCAST);
    eth.setSrc(b, 2, 0x9aa56e4cce01);
    eth.setEtherType(b, 2, eth.ETHERTYPE_IPV6);
    expect(toHex(b)).toBe('a5a5' + 'ffffffffffff' + '9aa56e4cce01' + '86dd' + 'a5a5');
    expect([eth.dst(b, 2), eth.src(b, 2), eth.etherType(b, 2)]).toEqual([eth.MAC_BROADCAST, 0x9aa56e4cce01, 0x86dd]);
  });
  it('broadcast and multicast destinations', () => {
    const cases: [string, boolean, boolean][] = [
      ['ff:ff:ff:ff:ff:ff', true, true],
      ['33:33:00:00:00:16', false, true],
      ['01:00:5e:00:00:01', false, true],
      ['02:00:00:00:01:11', false, false],
      ['ff:ff:ff:ff:ff:fe', false, true],
    ];
    for (const [m, bc, mc] of cases) {
      const f = buildEth({ dst: m });
      expect([eth.isBroadcast(f, 0), eth.isMulticast(f, 0), eth.macIsMulticast(parseMac(m))], m).toEqual([bc, mc, mc]);
    }
  });
  it('l3Offset / l3EtherType over 0, 1 and 2 VLAN tags; a third tag is left in place', () => {
    const p = pattern(4);
    const untagged = buildEth({ type: eth.ETHERTYPE_IPV4, payload: p });
    expect(eth.l3Offset(untagged, 0, untagged.length)).toBe(14);
    const one = buildEth({ vlan: 100, type: eth.ETHERTYPE_ARP, payload: p });
    expect(toHex(one.subarray(12, 18))).toBe('810000640806');
    expect(eth.l3Offset(one, 0, one.length)).toBe(18);
    expect(eth.l3EtherType(one, 18)).toBe(eth.ETHERTYPE_ARP);
    expect(eth.vlanTagCount(0, 18)).toBe(1);
    expect(eth.vlanId(one, 0)).toBe(100);
    const two = buildEth({ vlan: [0xa000 | 100, 200], type: eth.ETHERTYPE_IPV6, payload: p });
    expect(toHex(two.subarray(12, 22))).toBe('88a8a064810000c886dd');
    expect(eth.l3Offset(two, 0, two.length)).toBe(22);
    expect(eth.l3EtherType(two, 22)).toBe(eth.ETHERTYPE_IPV6);
    expect([eth.vlanId(two, 0), eth.vlanPcp(two, 0), eth.vlanId(two, 0, 1), eth.vlanTci(two, 0, 1)]).toEqual([100, 5, 200, 200]);
    const three = fromHex('ffffffffffff 020000000111 8100 0001 8100 0002 8100 0003 0800');
    expect(eth.l3Offset(three, 0, three.length)).toBe(22);
    expect(eth.l3EtherType(three, 22)).toBe(eth.ETHERTYPE_VLAN);
    // at an offset inside a bigger buffer
    const slab = poisoned(64);
    slab.set(one, 30);
    expect(eth.l3Offset(slab, 30, one.length)).toBe(48);
  });
  it('l3Offset returns -1 when the header or a tag is cut', () => {
    const two = buildEth({ vlan: [1, 2], type: eth.ETHERTYPE_IPV4 });
    expect(two.length).toBe(22);
    for (let n = 0; n < 22; n++) expect(eth.l3Offset(two, 0, n), `len ${n}`).toBe(n < 14 ? -1 : n < 22 ? -1 : 22);
    expect(eth.l3Offset(two, 0, 22)).toBe(22);
    expect(eth.l3Offset(buildEth(), 0, 14)).toBe(14);
  });
});

describe('arp', () => {
  it('writeArpReply writes the 28 bytes of an Ethernet/IPv4 reply', () => {
    const b = poisoned(32);
    arp.writeArpReply(b, 2, M12, parseIpv4('10.1.1.12'), M11, parseIpv4('10.1.1.11'));
    expect(toHex(b)).toBe('a5a5' + '0001 0800 06 04 0002 020000000112 0a01010c 020000000111 0a01010b'.replace(/ /g, '') + 'a5a5');
  });
  it('the setters write their fields', () => {
    const b = poisoned(32);
    arp.writeArp(b, 2, arp.ARP_OP_REQUEST, 0, 0, 0, 0);
    arp.setOp(b, 2, arp.ARP_OP_REPLY);
    arp.setSenderMac(b, 2, M11);
    arp.setSenderIp(b, 2, parseIpv4('10.1.1.11'));
    arp.setTargetMac(b, 2, M12);
    arp.setTargetIp(b, 2, parseIpv4('10.1.1.12'));
    expect(toHex(b)).toBe('a5a5' + '000108000604' + '0002' + '020000000111' + '0a01010b' + '020000000112' + '0a01010c' + 'a5a5');
    expect(arp.isGratuitous(b, 2)).toBe(false);
    arp.setTargetIp(b, 2, parseIpv4('10.1.1.11'));
    expect(arp.isGratuitous(b, 2)).toBe(true);
  });
  it('arpCheck reasons', () => {
    const good = buildArpRequest().subarray(14);
    const mutate = (i: number, v: number): Uint8Array => {
      const c = good.slice();
      c[i] = v;
      return c;
    };
    const cases: [string, Uint8Array, number, number][] = [
      ['valid', good, 28, arp.ARP_OK],
      ['with Ethernet padding', buildArpRequest({ pad: true }).subarray(14), 46, arp.ARP_OK],
      ['27 bytes', good, 27, arp.ARP_TRUNCATED],
      ['htype 6', mutate(1, 6), 28, arp.ARP_BAD_HTYPE],
      ['ptype IPv6', mutate(2, 0x86), 28, arp.ARP_BAD_PTYPE],
      ['hlen 8', mutate(4, 8), 28, arp.ARP_BAD_HLEN],
      ['plen 16', mutate(5, 16), 28, arp.ARP_BAD_PLEN],
      ['op 3 (RARP)', mutate(7, 3), 28, arp.ARP_BAD_OP],
    ];
    for (const [what, b, len, reason] of cases) expect(arp.ARP_REASONS[arp.arpCheck(b, 0, len)], what).toBe(arp.ARP_REASONS[reason]);
  });
  it('arpRequestToReply works in place on a tagged, padded frame in a slab', () => {
    const req = buildArpRequest({ senderMac: M11, senderIp: '10.1.1.11', targetIp: '10.1.1.12', vlan: 7, pad: true });
    const slab = poisoned(req.length + 8);
    slab.set(req, 4);
    arp.arpRequestToReply(slab, 4, 4 + 18, M12);
    const expected = buildEth({
      dst: M11,
      src: M12,
      vlan: 7,
      type: eth.ETHERTYPE_ARP,
      pad: true,
      payload: fromHex('000108000604 0002 020000000112 0a01010c 020000000111 0a01010b'),
    });
    expect(toHex(slab)).toBe('a5a5a5a5' + toHex(expected) + 'a5a5a5a5');
  });
});

describe('ipv4', () => {
  it('writeIpv4 reproduces a kernel outer header (vxlan-kernel.pcap frame 13)', () => {
    const b = poisoned(24);
    ipv4.writeIpv4(b, 2, 0, 0x4e, 0x8069, 0, 64, ipv4.IPPROTO_UDP, parseIpv4('192.168.61.1'), parseIpv4('192.168.61.2'));
    expect(toHex(b)).toBe('a5a5' + '4500004e806900004011fee1c0a83d01c0a83d02' + 'a5a5');
    expect(ipv4.checksumValid(b, 2, 20)).toBe(true);
    expect(ipv4.ipv4Check(b, 2, 20)).toBe(ipv4.IPV4_BAD_TOTAL_LENGTH); // 78 bytes declared, 20 given
  });
  it('setters write only their field; fillChecksum makes the header valid', () => {
    const b = poisoned(24);
    ipv4.setVersionIhl(b, 2, 20);
    ipv4.setTos(b, 2, 0xb9);
    ipv4.setTotalLength(b, 2, 1500);
    ipv4.setId(b, 2, 0x1234);
    ipv4.setFlagsFragment(b, 2, ipv4.IPV4_FLAG_MF | 3);
    ipv4.setTtl(b, 2, 1);
    ipv4.setProtocol(b, 2, ipv4.IPPROTO_TCP);
    ipv4.setChecksum(b, 2, 0);
    ipv4.setSrc(b, 2, parseIpv4('10.1.1.11'));
    ipv4.setDst(b, 2, parseIpv4('10.1.1.12'));
    expect(toHex(b)).toBe('a5a5' + '45b905dc123420030106' + '0000' + '0a01010b0a01010c' + 'a5a5');
    ipv4.fillChecksum(b, 2);
    expect(ipv4.checksumValid(b, 2, 20)).toBe(true);
    expect(ipv4.checksum(b, 2)).toBe(ipv4.ipv4HeaderChecksum(b, 2, 20));
    expect([ipv4.version(b, 2), ipv4.headerLength(b, 2), ipv4.tos(b, 2), ipv4.dscp(b, 2), ipv4.ecn(b, 2)]).toEqual([4, 20, 0xb9, 46, 1]);
    expect([ipv4.totalLength(b, 2), ipv4.id(b, 2), ipv4.ttl(b, 2), ipv4.protocol(b, 2)]).toEqual([1500, 0x1234, 1, 6]);
    expect([ipv4.dontFragment(b, 2), ipv4.moreFragments(b, 2), ipv4.fragmentOffset(b, 2), ipv4.isFragment(b, 2)]).toEqual([false, true, 24, true]);
    expect([formatIpv4(ipv4.src(b, 2)), formatIpv4(ipv4.dst(b, 2))]).toEqual(['10.1.1.11', '10.1.1.12']);
    ipv4.setFlagsFragment(b, 2, ipv4.IPV4_FLAG_DF);
    expect([ipv4.dontFragment(b, 2), ipv4.isFragment(b, 2)]).toEqual([true, false]);
  });
  it('decrementTtl to zero keeps the checksum right', () => {
    const b = buildIpv4Packet({ ttl: 1 });
    expect(ipv4.decrementTtl(b, 0)).toBe(0);
    expect(ipv4.ipv4Check(b, 0, b.length)).toBe(ipv4.IPV4_OK);
  });
  it('ipv4Check reasons', () => {
    const good = buildIpv4Packet({ payload: pattern(8) });
    const withOptions = fromHex('46000020000000004001 0000 0a000001 0a000002 01010100 deadbeef'.replace(/ /g, ''));
    ipv4.fillChecksum(withOptions, 0);
    const m = (f: (c: Uint8Array) => void, fix = true): Uint8Array => {
      const c = good.slice();
      f(c);
      if (fix) ipv4.fillChecksum(c, 0);
      return c;
    };
    const cases: [string, Uint8Array, number, number][] = [
      ['valid', good, 28, ipv4.IPV4_OK],
      ['valid with Ethernet padding after it', concat6(good, new Uint8Array(18)), 46, ipv4.IPV4_OK],
      ['valid with options', withOptions, 32, ipv4.IPV4_OK],
      ['19 bytes', good, 19, ipv4.IPV4_TRUNCATED],
      ['version 6', m((c) => (c[0] = 0x65)), 28, ipv4.IPV4_BAD_VERSION],
      ['IHL 4', m((c) => (c[0] = 0x44)), 28, ipv4.IPV4_BAD_IHL],
      ['IHL 15 (60 bytes) in 28', m((c) => (c[0] = 0x4f)), 28, ipv4.IPV4_TRUNCATED],
      ['total length 29 > 28 available', m((c) => ipv4.setTotalLength(c, 0, 29)), 28, ipv4.IPV4_BAD_TOTAL_LENGTH],
      ['total length 19 < header', m((c) => ipv4.setTotalLength(c, 0, 19)), 28, ipv4.IPV4_BAD_TOTAL_LENGTH],
      ['options cut', withOptions, 23, ipv4.IPV4_TRUNCATED],
      ['checksum off by one', m((c) => (c[11] = c[11]! ^ 1), false), 28, ipv4.IPV4_BAD_CHECKSUM],
      ['TTL changed without checksum', m((c) => ipv4.setTtl(c, 0, 3), false), 28, ipv4.IPV4_BAD_CHECKSUM],
    ];
    for (const [what, b, len, reason] of cases) expect(ipv4.IPV4_REASONS[ipv4.ipv4Check(b, 0, len)], what).toBe(ipv4.IPV4_REASONS[reason]);
  });
});

describe('ipv6', () => {
  it('fixed-header accessors and setters', () => {
    const f = buildIpv6({ srcIp6: 'fe80::ff:fe00:111', dstIp6: 'ff02::2', nextHeader: 58, payload: pattern(16), hopLimit: 255, trafficClass: 0xb8, flowLabel: 0x12345 });
    const o = 14;
    expect(ipv6.ipv6Check(f, o, f.length - o)).toBe(ipv6.IPV6_OK);
    expect([ipv6.version(f, o), ipv6.trafficClass(f, o), ipv6.flowLabel(f, o)]).toEqual([6, 0xb8, 0x12345]);
    expect([ipv6.payloadLength(f, o), ipv6.nextHeader(f, o), ipv6.hopLimit(f, o)]).toEqual([16, 58, 255]);
    expect(ipv6.addrIsLinkLocal(f, o + ipv6.IPV6_SRC)).toBe(true);
    expect(ipv6.addrIsMulticast(f, o + ipv6.IPV6_DST)).toBe(true);
    expect(ipv6.addrIsUnspecified(f, o + ipv6.IPV6_SRC)).toBe(false);
    expect(ipv6.addrEqual(f, o + ipv6.IPV6_DST, ip6('ff02::2'), 0)).toBe(true);
    expect(ipv6.addrEqual(f, o + ipv6.IPV6_SRC, ip6('fe80::ff:fe00:112'), 0)).toBe(false);
    const b = poisoned(44);
    ipv6.setVersionTcFlow(b, 2, 0xb8, 0x12345);
    ipv6.setPayloadLength(b, 2, 0x0102);
    ipv6.setNextHeader(b, 2, 17);
    ipv6.setHopLimit(b, 2, 64);
    ipv6.addrCopy(b, 2 + ipv6.IPV6_SRC, f, o + ipv6.IPV6_SRC);
    ipv6.addrCopy(b, 2 + ipv6.IPV6_DST, ip6('::'), 0);
    expect(toHex(b)).toBe('a5a5' + '6b812345' + '0102' + '11' + '40' + 'fe80000000000000000000fffe000111' + '0'.repeat(32) + 'a5a5');
    expect(ipv6.addrIsUnspecified(b, 2 + ipv6.IPV6_DST)).toBe(true);
  });
  it('ipv6Check reasons', () => {
    const f = buildIpv6({ payload: pattern(8) }).subarray(14);
    const v4 = f.slice();
    v4[0] = 0x45;
    expect(ipv6.ipv6Check(f, 0, 48)).toBe(ipv6.IPV6_OK);
    expect(ipv6.ipv6Check(f, 0, 39)).toBe(ipv6.IPV6_TRUNCATED);
    expect(ipv6.ipv6Check(v4, 0, 48)).toBe(ipv6.IPV6_BAD_VERSION);
    expect(ipv6.ipv6Check(f, 0, 47)).toBe(ipv6.IPV6_BAD_PAYLOAD_LENGTH);
  });
});

describe('icmp', () => {
  it('setters write their fields; checksums fill and verify', () => {
    const b = poisoned(12);
    icmp.setType(b, 2, icmp.ICMP_DEST_UNREACH);
    icmp.setCode(b, 2, icmp.ICMP_FRAG_NEEDED);
    icmp.setChecksum(b, 2, 0);
    icmp.setEchoId(b, 2, 0);
    icmp.setNextHopMtu(b, 2, 1450);
    expect(toHex(b)).toBe('a5a5' + '0304' + '0000' + '0000' + '05aa' + 'a5a5');
    expect([icmp.type(b, 2), icmp.code(b, 2), icmp.nextHopMtu(b, 2)]).toEqual([3, 4, 1450]);
    icmp.setChecksum(b, 2, icmp.icmpv4Checksum(b, 2, 8));
    expect(icmp.icmpv4ChecksumValid(b, 2, 8)).toBe(true);
    icmp.setEchoSeq(b, 2, 7);
    expect(icmp.icmpv4ChecksumValid(b, 2, 8)).toBe(false);
  });
  it('echo accessors on a built echo request; ICMPv6 checksum over the pseudo-header', () => {
    const f = buildIcmpEcho({ echoId: 0x02e6, echoSeq: 9, srcIp: '10.1.1.11', dstIp: '10.1.1.12' });
    expect([icmp.type(f, 34), icmp.echoId(f, 34), icmp.echoSeq(f, 34)]).toEqual([icmp.ICMP_ECHO_REQUEST, 0x02e6, 9]);
    expect(icmp.icmpv4ChecksumValid(f, 34, f.length - 34)).toBe(true);
    const ns = buildIcmpv6({ type: icmp.ICMPV6_NEIGHBOR_SOLICIT, body: concat6(new Uint8Array(4), ip6('fe80::1')) });
    expect(icmp.type(ns, 54)).toBe(135);
    expect(icmp.icmpv6ChecksumValid(ns, 14, 54, ns.length - 54)).toBe(true);
    expect(icmp.icmpv6Checksum(ns, 14, 54, ns.length - 54)).toBe(icmp.checksum(ns, 54));
    expect(ipv6.addrEqual(ns, 54 + icmp.ICMPV6_ND_TARGET, ip6('fe80::1'), 0)).toBe(true);
  });
});

function concat6(a: Uint8Array, b: Uint8Array): Uint8Array {
  const o = new Uint8Array(a.length + b.length);
  o.set(a);
  o.set(b, a.length);
  return o;
}

describe('udp', () => {
  it('writeUdp and the setters', () => {
    const b = poisoned(12);
    udp.writeUdp(b, 2, 49152, 4789, 0x3a);
    expect(toHex(b)).toBe('a5a5' + 'c00012b5003a0000' + 'a5a5');
    udp.setSrcPort(b, 2, 36284);
    udp.setDstPort(b, 2, 4790);
    udp.setLength(b, 2, 8);
    udp.setChecksum(b, 2, 0xfb9f);
    expect(toHex(b)).toBe('a5a5' + '8dbc12b60008fb9f' + 'a5a5');
    expect([udp.srcPort(b, 2), udp.dstPort(b, 2), udp.length(b, 2), udp.checksum(b, 2)]).toEqual([36284, 4790, 8, 0xfb9f]);
  });
  it('checksums over IPv4 and IPv6; 0 means none over IPv4 only; a computed 0 is sent as 0xffff', () => {
    const f = buildIpv4Udp({ payload: pattern(13) });
    const len = f.length - 34;
    expect(udp.udpChecksumOkIpv4(f, 14, 34, len)).toBe(true);
    expect(udp.udpChecksumIpv4(f, 14, 34, len)).toBe(udp.checksum(f, 34));
    f[40] = f[40]! ^ 0x80;
    expect(udp.udpChecksumOkIpv4(f, 14, 34, len)).toBe(false);
    udp.setChecksum(f, 34, 0);
    expect(udp.udpChecksumOkIpv4(f, 14, 34, len)).toBe(true);
    const g = buildIpv6Udp({ payload: pattern(5) });
    expect(udp.udpChecksumOkIpv6(g, 14, 54, g.length - 54)).toBe(true);
    udp.setChecksum(g, 54, 0);
    expect(udp.udpChecksumOkIpv6(g, 14, 54, g.length - 54)).toBe(false);
    // choose a 2-byte payload that makes the sum 0xffff: the checksum would be 0, so it is 0xffff
    const z = buildIpv4Udp({ payload: new Uint8Array(2), udpChecksum: 0 });
    const s = onesSum(z, 34, 10, onesSum(z, 26, 8, 17 + 10));
    z[42] = (~s >>> 8) & 0xff;
    z[43] = ~s & 0xff;
    expect(udp.udpChecksumIpv4(z, 14, 34, 10)).toBe(0xffff);
    udp.setChecksum(z, 34, 0xffff);
    expect(udp.udpChecksumOkIpv4(z, 14, 34, 10)).toBe(true);
  });
  it('udpCheck reasons', () => {
    const f = buildIpv4Udp({ payload: pattern(4) }).subarray(34);
    expect(udp.udpCheck(f, 0, 12)).toBe(udp.UDP_OK);
    expect(udp.udpCheck(f, 0, 7)).toBe(udp.UDP_TRUNCATED);
    expect(udp.udpCheck(f, 0, 11)).toBe(udp.UDP_BAD_LENGTH);
    const short = f.slice();
    udp.setLength(short, 0, 7);
    expect(udp.udpCheck(short, 0, 12)).toBe(udp.UDP_BAD_LENGTH);
  });
});

describe('tcp', () => {
  it('setters write their fields', () => {
    const b = poisoned(24);
    tcp.setSrcPort(b, 2, 54478);
    tcp.setDstPort(b, 2, 8080);
    tcp.setSeq(b, 2, 0x01020304);
    tcp.setAck(b, 2, 0xa0b0c0d0);
    tcp.setDataOffset(b, 2, 32);
    tcp.setFlags(b, 2, tcp.TCP_FLAG_PSH | tcp.TCP_FLAG_ACK);
    tcp.setWindow(b, 2, 502);
    tcp.setChecksum(b, 2, 0xbeef);
    tcp.setUrgentPointer(b, 2, 0);
    expect(toHex(b)).toBe('a5a5' + 'd4ce1f90' + '01020304' + 'a0b0c0d0' + '8018' + '01f6' + 'beef' + '0000' + 'a5a5');
    expect([tcp.srcPort(b, 2), tcp.dstPort(b, 2), tcp.seq(b, 2), tcp.ack(b, 2)]).toEqual([54478, 8080, 0x01020304, 0xa0b0c0d0]);
    expect([tcp.dataOffset(b, 2), tcp.flags(b, 2), tcp.window(b, 2), tcp.checksum(b, 2), tcp.urgentPointer(b, 2)]).toEqual([32, 0x18, 502, 0xbeef, 0]);
  });
  it('flag constants', () => {
    expect([tcp.TCP_FLAG_FIN, tcp.TCP_FLAG_SYN, tcp.TCP_FLAG_RST, tcp.TCP_FLAG_PSH, tcp.TCP_FLAG_ACK, tcp.TCP_FLAG_URG, tcp.TCP_FLAG_ECE, tcp.TCP_FLAG_CWR]).toEqual([
      1, 2, 4, 8, 16, 32, 64, 128,
    ]);
  });
  it('checksums and tcpCheck reasons', () => {
    const f = buildTcp({ flags: tcp.TCP_FLAG_SYN, options: fromHex('020405b4'), payload: pattern(3) });
    const len = f.length - 34;
    expect(tcp.tcpCheck(f, 34, len)).toBe(tcp.TCP_OK);
    expect(tcp.dataOffset(f, 34)).toBe(24);
    expect(tcp.tcpChecksumOkIpv4(f, 14, 34, len)).toBe(true);
    tcp.setSeq(f, 34, 1);
    expect(tcp.tcpChecksumOkIpv4(f, 14, 34, len)).toBe(false);
    expect(tcp.tcpCheck(f, 34, 19)).toBe(tcp.TCP_TRUNCATED);
    expect(tcp.tcpCheck(f, 34, 23)).toBe(tcp.TCP_BAD_DATA_OFFSET);
    tcp.setDataOffset(f, 34, 16);
    expect(tcp.tcpCheck(f, 34, len)).toBe(tcp.TCP_BAD_DATA_OFFSET);
  });
  it('the IPv6 checksum helper agrees with a frame built for IPv6', async () => {
    const { buildIpv6Tcp } = await import('../../src/wire/build/frames.js');
    const f = buildIpv6Tcp({ payload: pattern(7) });
    expect(tcp.tcpChecksumOkIpv6(f, 14, 54, f.length - 54)).toBe(true);
    expect(tcp.tcpChecksumIpv6(f, 14, 54, f.length - 54)).toBe(tcp.checksum(f, 54));
  });
});

it('builders fill Ethernet defaults and MAC text', () => {
  const f = buildIpv4({ srcMac: '02:00:00:00:01:11', dstMac: M12 });
  expect([formatMac(eth.src(f, 0)), formatMac(eth.dst(f, 0))]).toEqual(['02:00:00:00:01:11', '02:00:00:00:01:12']);
});
