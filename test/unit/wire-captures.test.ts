// Golden captures from independent implementations (test/fixtures, see /work/shared/testdata):
// every frame parsed with src/wire, every field checked, frames rebuilt with our writers and
// builders and compared byte for byte, and the edge validators' verdicts on scapy's malformed set.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import * as arp from '../../src/wire/arp.js';
import { formatIpv4, formatMac, parseIpv4, parseMac } from '../../src/wire/addr.js';
import { pseudoSumIpv4 } from '../../src/wire/checksum.js';
import * as eth from '../../src/wire/ethernet.js';
import * as gre from '../../src/wire/gre.js';
import * as icmp from '../../src/wire/icmp.js';
import * as ipv4 from '../../src/wire/ipv4.js';
import * as ipv6 from '../../src/wire/ipv6.js';
import * as tcp from '../../src/wire/tcp.js';
import * as udp from '../../src/wire/udp.js';
import * as vxlan from '../../src/wire/vxlan.js';
import { buildArpRequest, buildIcmpEcho, buildIpv4Packet, buildNvgre, buildTcp, buildVxlan, concat, fromHex, toHex } from '../../src/wire/build/frames.js';
import { fixturePath, readPcap } from '../helpers/pcap.js';
import { classifyOuter, OUTER_OFFSETS } from '../helpers/wire-edge.js';
import { requires } from '../helpers/prerequisites.js';

const vxlanFrames = readPcap(fixturePath('vxlan-kernel.pcap')).frames.map((f) => f.data);
const nvgreFrames = readPcap(fixturePath('nvgre-ovs.pcap')).frames.map((f) => f.data);
const malformed = readPcap(fixturePath('malformed-scapy.pcap')).frames.map((f) => f.data);

// Offsets of an untagged outer Ethernet/IPv4(20) frame.
const IP = 14;
const L4 = 34;
const VX = 42; // VXLAN header
const VX_INNER = 50; // inner frame after VXLAN
const GRE = 34;
const GRE_INNER = 42;

function tshark(file: string, fields: string[], options: string[] = []): string[][] | undefined {
  try {
    const out = execFileSync('tshark', ['-r', fixturePath(file), ...options, '-T', 'fields', ...fields.flatMap((f) => ['-e', f])], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    return out.replace(/\n$/, '').split('\n').map((l) => l.split('\t'));
  } catch {
    return undefined;
  }
}
const TSHARK = requires(tshark('nvgre-ovs.pcap', ['frame.number']) !== undefined, 'tshark is not installed (scripts/setup.sh installs it)');

describe('vxlan-kernel.pcap (Linux vxlan device, VNI 5001)', () => {
  it('holds 36 frames (the testdata README says 72)', () => {
    expect(vxlanFrames.length).toBe(36);
  });

  it('every outer header is valid IPv4/UDP to 4789 between the two PAs, VNI 5001', () => {
    for (const [i, b] of vxlanFrames.entries()) {
      const ctx = `frame ${i + 1}`;
      expect(classifyOuter(b, 0, b.length), ctx).toBe('vxlan');
      expect(eth.etherType(b, 0)).toBe(eth.ETHERTYPE_IPV4);
      expect(ipv4Check(b)).toBe(ipv4.IPV4_OK);
      expect(ipv4.protocol(b, IP)).toBe(ipv4.IPPROTO_UDP);
      expect(ipv4.ttl(b, IP)).toBe(64);
      expect(ipv4.flagsFragment(b, IP), ctx).toBe(0); // the kernel's vxlan does not set DF by default
      expect(ipv4.totalLength(b, IP)).toBe(b.length - IP);
      const pas = [ipv4.src(b, IP), ipv4.dst(b, IP)].map(formatIpv4).sort();
      expect(pas).toEqual(['192.168.61.1', '192.168.61.2']);
      expect(udp.dstPort(b, L4)).toBe(vxlan.VXLAN_PORT);
      expect(udp.length(b, L4)).toBe(b.length - L4);
      expect(vxlan.vxlanCheck(b, VX, b.length - VX)).toBe(vxlan.VXLAN_OK);
      expect(vxlan.flags(b, VX)).toBe(vxlan.VXLAN_FLAG_I);
      expect(vxlan.vni(b, VX)).toBe(5001);
      expect(toHex(b.subarray(VX, VX + 8))).toBe('0800000000138900');
    }
  });

  it('outer UDP checksums are not 0 (README) but the bare pseudo-header sum: CHECKSUM_PARTIAL seen on the veth', () => {
    for (const [i, b] of vxlanFrames.entries()) {
      const len = udp.length(b, L4);
      expect(udp.checksum(b, L4), `frame ${i + 1}`).not.toBe(0);
      expect(udp.udpChecksumIsPartialIpv4(b, IP, L4, len)).toBe(true);
      // so a full verifier rejects them all: a receiver on a raw socket must not verify it
      expect(udp.udpChecksumOkIpv4(b, IP, L4, len)).toBe(false);
    }
  });

  it('outer source ports: kernel local port range, same port both ways for ARP and ICMP but not for TCP', () => {
    const sport = (n: number): number => udp.srcPort(vxlanFrames[n - 1]!, L4);
    for (const b of vxlanFrames) {
      expect(udp.srcPort(b, L4)).toBeGreaterThanOrEqual(32768);
      expect(udp.srcPort(b, L4)).toBeLessThanOrEqual(60999);
    }
    expect([sport(13), sport(14)]).toEqual([36284, 36284]); // ARP request / reply
    expect([15, 16, 17, 18].map(sport)).toEqual([51300, 51300, 51300, 51300]); // ICMP echo
    // TCP: each direction keeps its own port (the socket's random txhash, not a flow-dissector hash)
    expect(new Set([27, 29, 30, 33, 35].map(sport))).toEqual(new Set([39786]));
    expect(new Set([28, 31, 32, 34, 36].map(sport))).toEqual(new Set([43631]));
  });

  it('inner frames: 20 IPv6 (MLDv2 reports, RS, NS), 2 ARP, 4 ICMP echo, 10 TCP', () => {
    const kinds: Record<string, number> = {};
    for (const b of vxlanFrames) {
      const l3 = eth.l3Offset(b, VX_INNER, b.length - VX_INNER);
      const t = eth.l3EtherType(b, l3);
      let k = t.toString(16);
      if (t === eth.ETHERTYPE_IPV6) {
        expect(ipv6.ipv6Check(b, l3, b.length - l3)).toBe(ipv6.IPV6_OK);
        // MLD and RS/NS: ICMPv6, after a hop-by-hop header for MLD
        let nh = ipv6.nextHeader(b, l3);
        let p = l3 + ipv6.IPV6_HEADER_LEN;
        if (nh === ipv6.IPV6_NH_HOP_BY_HOP) {
          nh = b[p]!;
          p += (b[p + 1]! + 1) * 8;
        }
        expect(nh).toBe(ipv4.IPPROTO_ICMPV6);
        const len = b.length - p;
        expect(icmp.icmpv6ChecksumValid(b, l3, p, len)).toBe(true);
        k = `icmpv6-${icmp.type(b, p)}`;
        expect(ipv6.addrIsMulticast(b, l3 + ipv6.IPV6_DST)).toBe(true);
        expect(eth.isMulticast(b, VX_INNER)).toBe(true);
      } else if (t === eth.ETHERTYPE_IPV4) {
        expect(ipv4.ipv4Check(b, l3, b.length - l3)).toBe(ipv4.IPV4_OK);
        k = `ipv4-${ipv4.protocol(b, l3)}`;
      }
      kinds[k] = (kinds[k] ?? 0) + 1;
    }
    expect(kinds).toEqual({
      [`icmpv6-${icmp.ICMPV6_MLDV2_REPORT}`]: 12,
      [`icmpv6-${icmp.ICMPV6_ROUTER_SOLICIT}`]: 6,
      [`icmpv6-${icmp.ICMPV6_NEIGHBOR_SOLICIT}`]: 2,
      '806': 2,
      'ipv4-1': 4,
      'ipv4-6': 10,
    });
  });

  it('ARP request/reply for 10.1.1.12, and our in-place reply equals the kernel-built one', () => {
    const req = vxlanFrames[12]!.subarray(VX_INNER);
    const rep = vxlanFrames[13]!.subarray(VX_INNER);
    const a = eth.ETH_HEADER_LEN;
    expect(arp.arpCheck(req, a, req.length - a)).toBe(arp.ARP_OK);
    expect(arp.op(req, a)).toBe(arp.ARP_OP_REQUEST);
    expect(formatMac(arp.senderMac(req, a))).toBe('02:00:00:00:01:11');
    expect(formatIpv4(arp.senderIp(req, a))).toBe('10.1.1.11');
    expect(arp.targetMac(req, a)).toBe(0);
    expect(formatIpv4(arp.targetIp(req, a))).toBe('10.1.1.12');
    expect(eth.isBroadcast(req, 0)).toBe(true);
    expect(arp.op(rep, a)).toBe(arp.ARP_OP_REPLY);
    expect(formatMac(arp.senderMac(rep, a))).toBe('02:00:00:00:01:12');
    expect(eth.dst(rep, 0)).toBe(parseMac('02:00:00:00:01:11'));

    const mine = req.slice();
    arp.arpRequestToReply(mine, 0, a, parseMac('02:00:00:00:01:12'));
    expect(toHex(mine)).toBe(toHex(rep));
    // and from the writer alone, into a poisoned buffer
    const out = new Uint8Array(32).fill(0xa5);
    arp.writeArpReply(out, 2, parseMac('02:00:00:00:01:12'), parseIpv4('10.1.1.12'), parseMac('02:00:00:00:01:11'), parseIpv4('10.1.1.11'));
    expect(toHex(out)).toBe(`a5a5${toHex(rep.subarray(14, 42))}a5a5`);
    // the builder makes the kernel's request
    expect(toHex(buildArpRequest({ senderMac: '02:00:00:00:01:11', senderIp: '10.1.1.11', targetIp: '10.1.1.12' }))).toBe(toHex(req));
  });

  it('ICMP echo round trips: fields, checksums, and rebuilt by buildIcmpEcho', () => {
    for (const n of [15, 16, 17, 18]) {
      const b = vxlanFrames[n - 1]!;
      const ip = VX_INNER + 14;
      const l4 = ip + ipv4.headerLength(b, ip);
      const request = n % 2 === 1;
      expect(icmp.type(b, l4)).toBe(request ? icmp.ICMP_ECHO_REQUEST : icmp.ICMP_ECHO_REPLY);
      expect(icmp.code(b, l4)).toBe(0);
      expect(icmp.echoId(b, l4)).toBe(0x02e6);
      expect(icmp.echoSeq(b, l4)).toBe(n <= 16 ? 1 : 2);
      const len = ipv4.totalLength(b, ip) - 20;
      expect(icmp.icmpv4ChecksumValid(b, l4, len)).toBe(true);
      expect(icmp.icmpv4Checksum(b, l4, len)).toBe(icmp.checksum(b, l4));
      expect(ipv4.ipv4HeaderChecksum(b, ip, 20)).toBe(ipv4.checksum(b, ip));
      const inner = b.subarray(VX_INNER);
      const rebuilt = buildIcmpEcho({
        reply: !request,
        srcMac: eth.src(b, VX_INNER),
        dstMac: eth.dst(b, VX_INNER),
        srcIp: ipv4.src(b, ip),
        dstIp: ipv4.dst(b, ip),
        id: ipv4.id(b, ip),
        flagsFragment: ipv4.flagsFragment(b, ip),
        echoId: 0x02e6,
        echoSeq: icmp.echoSeq(b, l4),
        payload: b.subarray(l4 + 8),
      });
      expect(toHex(rebuilt)).toBe(toHex(inner));
    }
    // requests carry DF, the replies (built by the kernel's ICMP) do not
    expect(ipv4.dontFragment(vxlanFrames[14]!, VX_INNER + 14)).toBe(true);
    expect(ipv4.dontFragment(vxlanFrames[15]!, VX_INNER + 14)).toBe(false);
  });

  it('the TCP connection to 8080: ports, flags, seq/ack, checksums, rebuilt by buildTcp', () => {
    const F = tcp;
    const expected: [number, number][] = [
      [27, F.TCP_FLAG_SYN],
      [28, F.TCP_FLAG_SYN | F.TCP_FLAG_ACK],
      [29, F.TCP_FLAG_ACK],
      [30, F.TCP_FLAG_PSH | F.TCP_FLAG_ACK],
      [31, F.TCP_FLAG_ACK],
      [32, F.TCP_FLAG_PSH | F.TCP_FLAG_ACK],
      [33, F.TCP_FLAG_ACK],
      [34, F.TCP_FLAG_FIN | F.TCP_FLAG_ACK],
      [35, F.TCP_FLAG_FIN | F.TCP_FLAG_ACK],
      [36, F.TCP_FLAG_ACK],
    ];
    let clientIsn = 0;
    let serverIsn = 0;
    for (const [n, flags] of expected) {
      const b = vxlanFrames[n - 1]!;
      const ip = VX_INNER + 14;
      const l4 = ip + ipv4.headerLength(b, ip);
      const len = ipv4.totalLength(b, ip) - ipv4.headerLength(b, ip);
      expect(tcp.tcpCheck(b, l4, len)).toBe(tcp.TCP_OK);
      expect(tcp.flags(b, l4), `frame ${n}`).toBe(flags);
      const fromClient = tcp.dstPort(b, l4) === 8080;
      expect(fromClient ? tcp.srcPort(b, l4) : tcp.dstPort(b, l4)).toBe(54478);
      expect(formatIpv4(ipv4.src(b, ip))).toBe(fromClient ? '10.1.1.11' : '10.1.1.12');
      if (n === 27) clientIsn = tcp.seq(b, l4);
      if (n === 28) {
        serverIsn = tcp.seq(b, l4);
        expect(tcp.ack(b, l4)).toBe((clientIsn + 1) >>> 0);
      }
      expect(tcp.dataOffset(b, l4)).toBe(n <= 28 ? 40 : 32); // SYNs carry MSS/SACK/TS/WS, the rest TS
      expect(tcp.tcpChecksumOkIpv4(b, ip, l4, len), `frame ${n}`).toBe(true);
      expect(tcp.tcpChecksumIpv4(b, ip, l4, len)).toBe(tcp.checksum(b, l4));
      const doff = tcp.dataOffset(b, l4);
      const rebuilt = buildTcp({
        srcMac: eth.src(b, VX_INNER),
        dstMac: eth.dst(b, VX_INNER),
        srcIp: ipv4.src(b, ip),
        dstIp: ipv4.dst(b, ip),
        id: ipv4.id(b, ip),
        flagsFragment: ipv4.flagsFragment(b, ip),
        srcPort: tcp.srcPort(b, l4),
        dstPort: tcp.dstPort(b, l4),
        seq: tcp.seq(b, l4),
        ack: tcp.ack(b, l4),
        flags,
        window: tcp.window(b, l4),
        options: b.subarray(l4 + 20, l4 + doff),
        payload: b.subarray(l4 + doff),
      });
      expect(toHex(rebuilt)).toBe(toHex(b.subarray(VX_INNER)));
    }
    // the request is "GET / HTTP/1.0" (18 bytes) from the client, relative seq 1..19
    const get = vxlanFrames[29]!;
    const l4 = VX_INNER + 34;
    expect(new TextDecoder().decode(get.subarray(l4 + 32))).toBe('GET / HTTP/1.0\r\n\r\n');
    expect(tcp.seq(get, l4)).toBe((clientIsn + 1) >>> 0);
    expect(tcp.ack(vxlanFrames[30]!, l4)).toBe((clientIsn + 19) >>> 0);
    expect(tcp.seq(vxlanFrames[30]!, l4)).toBe((serverIsn + 1) >>> 0);
  });

  it('whole frames rebuilt by buildVxlan (outer ids/ports/partial checksum taken from the capture)', () => {
    for (const [i, b] of vxlanFrames.entries()) {
      const rebuilt = buildVxlan({
        outerDstMac: eth.dst(b, 0),
        outerSrcMac: eth.src(b, 0),
        outerSrcIp: ipv4.src(b, IP),
        outerDstIp: ipv4.dst(b, IP),
        outerId: ipv4.id(b, IP),
        srcPort: udp.srcPort(b, L4),
        udpChecksum: pseudoSumIpv4(b, IP, 17, udp.length(b, L4)),
        vni: 5001,
        inner: b.subarray(VX_INNER),
      });
      expect(toHex(rebuilt), `frame ${i + 1}`).toBe(toHex(b));
    }
  });

  it('the outer template written by our writers equals the kernel bytes (into a poisoned buffer)', () => {
    const b = vxlanFrames[14]!;
    const out = new Uint8Array(VX_INNER + 4).fill(0xa5);
    eth.writeEthernet(out, 0, eth.dst(b, 0), eth.src(b, 0), eth.ETHERTYPE_IPV4);
    ipv4.writeIpv4(out, IP, 0, ipv4.totalLength(b, IP), ipv4.id(b, IP), 0, 64, ipv4.IPPROTO_UDP, ipv4.src(b, IP), ipv4.dst(b, IP));
    udp.writeUdp(out, L4, udp.srcPort(b, L4), vxlan.VXLAN_PORT, udp.length(b, L4), udp.checksum(b, L4));
    vxlan.writeVxlan(out, VX, 5001);
    expect(toHex(out)).toBe(`${toHex(b.subarray(0, VX_INNER))}a5a5a5a5`);
  });

  it('tshark agrees on every frame: ports, VNI, addresses', TSHARK, () => {
    const rows = tshark('vxlan-kernel.pcap', ['udp.srcport', 'udp.dstport', 'vxlan.vni', 'ip.src', 'eth.src'])!;
    expect(rows.length).toBe(vxlanFrames.length);
    for (const [i, row] of rows.entries()) {
      const b = vxlanFrames[i]!;
      expect(row[0]).toBe(String(udp.srcPort(b, L4)));
      expect(row[1]).toBe(String(udp.dstPort(b, L4)));
      expect(row[2]).toBe(String(vxlan.vni(b, VX)));
      expect(row[3]!.split(',')[0]).toBe(formatIpv4(ipv4.src(b, IP)));
      expect(row[4]!.split(',')).toEqual([formatMac(eth.src(b, 0)), formatMac(eth.src(b, VX_INNER))]);
    }
  });
});

describe('nvgre-ovs.pcap (Open vSwitch GRE port, key 0x00abcd07)', () => {
  it('holds 6 frames: GRE K only, version 0, proto 0x6558, VSID 0xabcd, FlowID 7', () => {
    expect(nvgreFrames.length).toBe(6);
    for (const b of nvgreFrames) {
      expect(classifyOuter(b, 0, b.length)).toBe('nvgre');
      expect(ipv4Check(b)).toBe(ipv4.IPV4_OK);
      expect(ipv4.protocol(b, IP)).toBe(gre.IPPROTO_GRE);
      expect(ipv4.flagsFragment(b, IP)).toBe(ipv4.IPV4_FLAG_DF); // OVS sets DF on the outer header
      expect(ipv4.id(b, IP)).toBe(0);
      expect([ipv4.src(b, IP), ipv4.dst(b, IP)].map(formatIpv4).sort()).toEqual(['172.16.0.1', '172.16.0.2']);
      expect(gre.nvgreCheck(b, GRE, b.length - GRE)).toBe(gre.NVGRE_OK);
      expect(gre.flagsVersion(b, GRE)).toBe(0x2000);
      expect(gre.version(b, GRE)).toBe(0);
      expect([gre.hasChecksum(b, GRE), gre.hasKey(b, GRE), gre.hasSeq(b, GRE)]).toEqual([false, true, false]);
      expect(gre.headerLength(b, GRE)).toBe(8);
      expect(gre.protocol(b, GRE)).toBe(gre.GRE_PROTO_TEB);
      expect(gre.key(b, GRE)).toBe(0x00abcd07);
      expect(gre.nvgreKey(b, GRE)).toBe(0x00abcd07);
      expect(gre.vsid(b, GRE)).toBe(0xabcd);
      expect(gre.flowId(b, GRE)).toBe(7);
      expect(gre.keyVsid(gre.key(b, GRE))).toBe(43981);
      expect(gre.keyFlowId(gre.key(b, GRE))).toBe(7);
    }
  });

  it('the FlowID is the same constant 7 in both directions (OVS writes the configured key, no flow entropy)', () => {
    expect(new Set(nvgreFrames.map((b) => gre.flowId(b, GRE)))).toEqual(new Set([7]));
  });

  it('inner ICMP echoes between 10.4.4.11 and 10.4.4.12', () => {
    for (const [i, b] of nvgreFrames.entries()) {
      const ip = GRE_INNER + 14;
      expect(eth.etherType(b, GRE_INNER)).toBe(eth.ETHERTYPE_IPV4);
      expect(ipv4.ipv4Check(b, ip, b.length - ip)).toBe(ipv4.IPV4_OK);
      const l4 = ip + 20;
      expect(icmp.type(b, l4)).toBe(i % 2 === 0 ? icmp.ICMP_ECHO_REQUEST : icmp.ICMP_ECHO_REPLY);
      expect(icmp.echoId(b, l4)).toBe(0x2296);
      expect(icmp.echoSeq(b, l4)).toBe(1 + (i >> 1));
      expect(icmp.icmpv4ChecksumValid(b, l4, b.length - l4)).toBe(true);
      expect(formatIpv4(ipv4.src(b, ip))).toBe(i % 2 === 0 ? '10.4.4.11' : '10.4.4.12');
    }
  });

  it('writeNvgre writes the OVS header bytes (poisoned buffer), buildNvgre the whole frames', () => {
    const out = new Uint8Array(12).fill(0xa5);
    gre.writeNvgre(out, 2, 0xabcd, 7);
    expect(toHex(out)).toBe(`a5a5${toHex(nvgreFrames[0]!.subarray(GRE, GRE_INNER))}a5a5`);
    expect(toHex(out)).toBe('a5a5200065580' + '0abcd07a5a5');
    for (const b of nvgreFrames) {
      const rebuilt = buildNvgre({
        outerDstMac: eth.dst(b, 0),
        outerSrcMac: eth.src(b, 0),
        outerSrcIp: ipv4.src(b, IP),
        outerDstIp: ipv4.dst(b, IP),
        outerFlagsFragment: ipv4.IPV4_FLAG_DF,
        vsid: 0xabcd,
        flowId: 7,
        inner: b.subarray(GRE_INNER),
      });
      expect(toHex(rebuilt)).toBe(toHex(b));
    }
  });

  it('tshark agrees on the GRE key and protocol', TSHARK, () => {
    const rows = tshark('nvgre-ovs.pcap', ['gre.key', 'gre.proto', 'icmp.seq'])!;
    for (const [i, row] of rows.entries()) {
      const b = nvgreFrames[i]!;
      expect(Number(row[0])).toBe(gre.key(b, GRE));
      expect(Number(row[1])).toBe(gre.protocol(b, GRE));
      expect(Number(row[2])).toBe(icmp.echoSeq(b, GRE_INNER + 34));
    }
  });
});

describe('malformed-scapy.pcap: what the edge accepts and why it drops', () => {
  // [frame, verdict of classifyOuter, outer UDP checksum ok (VXLAN frames)]
  const table: [number, string, string, boolean | undefined][] = [
    [1, 'VXLAN valid (VNI 5001)', 'vxlan', true],
    [2, 'I flag clear', 'vxlan:no-i-flag', true],
    [3, 'reserved bits set: ignored on receipt (RFC 7348)', 'vxlan', true],
    [4, 'header truncated to 4 bytes', 'vxlan:truncated', true],
    [5, 'inner frame truncated (5 bytes)', 'vxlan:inner-truncated', true],
    [6, 'bad outer UDP checksum (header itself acceptable)', 'vxlan', false],
    [7, 'NVGRE valid', 'nvgre', undefined],
    [8, 'GRE without K', 'nvgre:no-key', undefined],
    [9, 'GRE with C and S', 'nvgre:bad-flags', undefined],
    [10, 'GRE version 1', 'nvgre:bad-version', undefined],
    [11, 'GRE keyed, protocol 0x0800', 'nvgre:bad-protocol', undefined],
    [12, 'GRE truncated inside the key', 'nvgre:truncated', undefined],
  ];

  it('holds 12 frames with valid outer IPv4 headers', () => {
    expect(malformed.length).toBe(12);
    for (const b of malformed) expect(ipv4Check(b)).toBe(ipv4.IPV4_OK);
  });

  it.each(table)('frame %i (%s) -> %s', (n, _what, verdict, udpOk) => {
    const b = malformed[n - 1]!;
    expect(classifyOuter(b, 0, b.length)).toBe(verdict);
    if (udpOk !== undefined) {
      expect(udp.udpCheck(b, L4, b.length - L4)).toBe(udp.UDP_OK);
      expect(udp.udpChecksumOkIpv4(b, IP, L4, udp.length(b, L4))).toBe(udpOk);
    }
  });

  it('frame 6 has reserved bits too: flags 0x0c and byte 3 = 0x03 (the VXLAN-GPE P bit and "next protocol: Ethernet"), still VNI 5001', () => {
    const b = malformed[5]!;
    expect(vxlan.flags(b, VX)).toBe(0x0c);
    expect(toHex(b.subarray(VX, VX + 8))).toBe('0c00000300138900');
    expect(vxlan.vni(b, VX)).toBe(5001);
    expect(udp.checksum(b, L4)).toBe(0x1234);
    // frame 3's reserved bits are all ones around VNI 5001
    expect(toHex(malformed[2]!.subarray(VX, VX + 8))).toBe('08ffffff001389ee');
    expect(vxlan.vni(malformed[2]!, VX)).toBe(5001);
  });

  it("scapy's inner ARP has a zero sender MAC (Ethernet source 02:aa:00:00:00:01); arpRequestToReply still answers the station", () => {
    const b = malformed[0]!.slice(VX_INNER);
    expect(arp.arpCheck(b, 14, b.length - 14)).toBe(arp.ARP_OK);
    expect(arp.senderMac(b, 14)).toBe(0);
    expect(eth.src(b, 0)).toBe(parseMac('02:aa:00:00:00:01'));
    arp.arpRequestToReply(b, 0, 14, parseMac('02:bb:00:00:00:02'));
    expect(formatMac(eth.dst(b, 0))).toBe('02:aa:00:00:00:01');
    expect(formatMac(eth.src(b, 0))).toBe('02:bb:00:00:00:02');
    expect(arp.op(b, 14)).toBe(arp.ARP_OP_REPLY);
    expect(formatIpv4(arp.senderIp(b, 14))).toBe('10.9.9.2');
    expect(formatIpv4(arp.targetIp(b, 14))).toBe('10.9.9.1');
  });

  it('every frame rebuilt from builders (scapy defaults: IP id 1, no DF, sport 49152)', () => {
    const inner = buildArpRequest({ senderMac: 0, srcMac: '02:aa:00:00:00:01', senderIp: '10.9.9.1', targetIp: '10.9.9.2' });
    const outer = { outerDstMac: '02:00:00:00:00:02', outerSrcMac: '02:00:00:00:00:01', outerSrcIp: '172.16.9.1', outerDstIp: '172.16.9.2', outerId: 1 };
    const vx = { ...outer, vni: 5001, inner, udpChecksum: true };
    const key = fromHex('00abcd07');
    const greRaw = (hdr: Uint8Array): Uint8Array => {
      const f = buildNvgre({ ...outer, inner: new Uint8Array(0) }).subarray(0, GRE);
      const pkt = buildIpv4Packet({ srcIp: '172.16.9.1', dstIp: '172.16.9.2', id: 1, flagsFragment: 0, proto: 47, payload: hdr });
      return concat(f.subarray(0, 14), pkt);
    };
    const expected: Uint8Array[] = [
      buildVxlan(vx),
      buildVxlan({ ...vx, flags: 0 }),
      buildVxlan({ ...vx, reserved: [0xff, 0xff, 0xff, 0xee] }),
      buildVxlan({ ...vx, truncateTo: 4 }),
      buildVxlan({ ...vx, inner: fromHex('02aa000000') }), // 5 bytes of a MAC, not a prefix of the ARP frame
      buildVxlan({ ...vx, flags: 0x0c, reserved: [0, 0, 3, 0], udpChecksum: 0x1234 }),
      buildNvgre({ ...outer, inner }),
      greRaw(concat(fromHex('00006558'), inner)),
      greRaw(concat(fromHex('b0006558de260000'), key, fromHex('00000001'), inner)),
      buildNvgre({ ...outer, inner, flagsVersion: 0x2001 }),
      buildNvgre({ ...outer, protocol: 0x0800, inner: buildIpv4Packet({ srcIp: '10.9.9.1', dstIp: '10.9.9.2', id: 1, flagsFragment: 0, proto: 0 }) }),
      buildNvgre({ ...outer, inner, truncateTo: 6 }),
    ];
    for (const [i, b] of malformed.entries()) expect(toHex(expected[i]!), `frame ${i + 1}`).toBe(toHex(b));
    // frame 9's GRE checksum (C bit) is right: it covers the GRE header and payload
    const f9 = malformed[8]!;
    expect(gre.greChecksum(f9, GRE)).toBe(0xde26);
    expect(gre.key(f9, GRE)).toBe(0x00abcd07);
    expect(gre.sequence(f9, GRE)).toBe(1);
    expect(gre.headerLength(f9, GRE)).toBe(16);
  });

  it('tshark: the outer UDP checksum of frame 6 is bad, of frames 1-5 good', TSHARK, () => {
    const rows = tshark('malformed-scapy.pcap', ['udp.checksum.status'], ['-o', 'udp.check_checksum:TRUE'])!;
    const verified = rows.map((r) => r[0]);
    // and every outer UDP checksum of the kernel capture is "bad" to tshark too (partial)
    const kernel = tshark('vxlan-kernel.pcap', ['udp.checksum.status'], ['-o', 'udp.check_checksum:TRUE'])!;
    expect(new Set(kernel.map((r) => r[0]))).toEqual(new Set(['0']));
    expect(verified.slice(0, 6)).toEqual(['1', '1', '1', '1', '1', '0']);
  });
});

function ipv4Check(b: Uint8Array): number {
  return ipv4.ipv4Check(b, IP, b.length - IP);
}

it('OUTER_OFFSETS documents the untagged layout used above', () => {
  expect(OUTER_OFFSETS).toEqual({ ip: IP, l4: L4, vxlan: VX, vxlanInner: VX_INNER, gre: GRE, greInner: GRE_INNER });
});
