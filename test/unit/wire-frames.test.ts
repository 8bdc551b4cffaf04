// The test helpers themselves: every builder's frame is checked by src/wire and, when tshark is
// installed, by tshark (checksums verified, fields decoded); pcap write/read round trip.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as ipv4 from '../../src/wire/ipv4.js';
import {
  buildArpReply,
  buildArpRequest,
  buildEth,
  buildIcmpEcho,
  buildIcmpv6,
  buildIpv4Udp,
  buildIpv6Tcp,
  buildIpv6Udp,
  buildNvgre,
  buildTcp,
  buildVxlan,
  fromHex,
  ip6,
  pattern,
  toHex,
} from '../../src/wire/build/frames.js';
import { buildPcap, parsePcap, writePcap } from '../helpers/pcap.js';
import { classifyOuter } from '../helpers/wire-edge.js';
import { requires } from '../helpers/prerequisites.js';

const frames: [string, Uint8Array][] = [
  ['arp request', buildArpRequest({ senderMac: '02:00:00:00:01:11', senderIp: '10.1.1.11', targetIp: '10.1.1.12' })],
  ['arp reply', buildArpReply({ senderMac: '02:00:00:00:01:12', senderIp: '10.1.1.12', targetMac: '02:00:00:00:01:11', targetIp: '10.1.1.11' })],
  ['icmp echo', buildIcmpEcho({ echoId: 0x02e6, echoSeq: 3 })],
  ['icmp echo reply', buildIcmpEcho({ reply: true, payload: pattern(5) })],
  ['udp', buildIpv4Udp({ srcPort: 40001, dstPort: 9, payload: pattern(11) })],
  ['tcp syn', buildTcp({ flags: 0x02, options: fromHex('020405b4') })],
  ['tcp data', buildTcp({ flags: 0x18, seq: 1000, ack: 77, payload: pattern(33) })],
  ['vlan tcp', buildTcp({ vlan: 42, flags: 0x11 })],
  ['udp6', buildIpv6Udp({ payload: pattern(3) })],
  ['tcp6', buildIpv6Tcp({ flags: 0x12 })],
  ['icmpv6 ns', buildIcmpv6({ type: 135, dstIp6: 'ff02::1:ff00:2', body: new Uint8Array([0, 0, 0, 0, ...ip6('fe80::2')]) })],
  ['vxlan', buildVxlan({ vni: 5001, inner: buildTcp({ payload: pattern(20) }), udpChecksum: true })],
  ['vxlan no csum', buildVxlan({ vni: 0xabcdef })],
  ['nvgre', buildNvgre({ vsid: 0xabcd, flowId: 7 })],
];

function tshark(path: string, fields: string[]): string[][] | undefined {
  const opts = ['ip', 'udp', 'tcp'].flatMap((p) => ['-o', `${p}.check_checksum:TRUE`]);
  try {
    const out = execFileSync('tshark', ['-r', path, ...opts, '-T', 'fields', '-E', 'occurrence=a', ...fields.flatMap((f) => ['-e', f])], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    return out.replace(/\n$/, '').split('\n').map((l) => l.split('\t'));
  } catch {
    return undefined;
  }
}

describe('frame builders', () => {
  it('tunnel frames pass the edge check; IPv4 headers are valid', () => {
    for (const [name, f] of frames) {
      if (name.startsWith('vxlan')) expect(classifyOuter(f, 0, f.length), name).toBe('vxlan');
      if (name === 'nvgre') expect(classifyOuter(f, 0, f.length)).toBe('nvgre');
      if (f[12] === 0x08 && f[13] === 0x00) expect(ipv4.ipv4Check(f, 14, f.length - 14), name).toBe(0);
    }
  });
  it('buildEth pads to 60 bytes on request and tags with 802.1Q / 802.1ad', () => {
    expect(buildEth({ pad: true }).length).toBe(60);
    expect(toHex(buildEth({ vlan: 5, type: 0x0806 }))).toBe('020000000002020000000001' + '81000005' + '0806');
  });
  it('ip6 text', () => {
    expect(toHex(ip6('fe80::1'))).toBe('fe800000000000000000000000000001');
    expect(toHex(ip6('ff02::1:ff00:12'))).toBe('ff0200000000000000000001ff000012');
    expect(toHex(ip6('::'))).toBe('0'.repeat(32));
    expect(() => ip6('1::2::3')).toThrow();
    expect(() => ip6('1:2:3')).toThrow();
  });
  it('pcap: write then read gives the same frames', () => {
    const bytes = buildPcap(frames.map((f) => f[1]));
    const back = parsePcap(bytes);
    expect(back.linkType).toBe(1);
    expect(back.frames.map((f) => toHex(f.data))).toEqual(frames.map((f) => toHex(f[1])));
    expect(() => parsePcap(bytes.subarray(0, bytes.length - 1))).toThrow(/truncated/);
    expect(() => parsePcap(new Uint8Array(24))).toThrow(/bad magic/);
  });

  const dir = mkdtempSync(join(tmpdir(), 'wire-frames-'));
  const path = join(dir, 'built.pcap');
  writePcap(path, frames.map((f) => f[1]));
  const rows = tshark(path, ['ip.checksum.status', 'udp.checksum.status', 'tcp.checksum.status', 'icmp.checksum.status', 'icmpv6.checksum.status', 'vxlan.vni', 'gre.key', 'arp.opcode', '_ws.malformed', '_ws.expert.severity']);
  rmSync(dir, { recursive: true, force: true });

  it('tshark verifies every checksum and decodes the tunnel fields', requires(rows !== undefined, 'tshark is not installed (scripts/setup.sh installs it)'), () => {
    expect(rows!.length).toBe(frames.length);
    for (const [i, [name, f]] of frames.entries()) {
      const [ipS, udpS, tcpS, icmpS, icmp6S, vni, key, op, malformed] = rows![i]!;
      const ctx = `${name}: ${rows![i]!.join('|')}`;
      for (const s of [ipS, udpS, tcpS, icmpS, icmp6S]) {
        // 1 good, 2 unverified, 3 not present (UDP checksum 0); never 0 = bad
        for (const v of s!.split(',').filter((x) => x !== '')) expect(['1', '2', '3'], ctx).toContain(v);
      }
      expect(malformed, ctx).toBe('');
      if (name === 'vxlan') expect([vni, udpS!.split(',')[0]]).toEqual(['5001', '1']);
      if (name === 'vxlan no csum') expect(vni).toBe(String(0xabcdef));
      if (name === 'nvgre') expect(key).toBe('0x00abcd07');
      if (name === 'arp request') expect(op).toBe('1');
      if (name === 'arp reply') expect(op).toBe('2');
      if (name.includes('tcp') && !name.startsWith('vxlan')) expect(tcpS).toBe('1');
      if (name.startsWith('icmp echo')) expect(icmpS).toBe('1');
      if (name === 'icmpv6 ns') expect(icmp6S).toBe('1');
      expect(f.length).toBeGreaterThan(0);
    }
  });
});
