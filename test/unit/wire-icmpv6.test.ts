// ICMPv6 messages built by src/wire/icmpv6.ts, in place, in slots pre-filled with a poison byte
// (0xa5: an unwritten byte shows): golden bytes, and tshark reading them (checksums verified,
// neighbour discovery fields decoded). Also src/wire/addr6.ts (text forms, EUI-64).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildIcmpv6, buildIpv6Udp, fromHex, ip6, toHex } from '../../src/wire/build/frames.js';
import { echo6ToReply, neighborSolicitToAdvert, routerSolicitToAdvert, writeIcmpv6Frame, ICMPV6_BODY } from '../../src/wire/icmpv6.js';
import { eui64LinkLocal, formatIpv6, parseCidr6, parseIpv6, solicitedNode, multicastMac } from '../../src/wire/addr6.js';
import { icmpv6ChecksumValid } from '../../src/wire/icmp.js';
import { requires } from '../helpers/prerequisites.js';
import { writePcap } from '../helpers/pcap.js';

const HOST = 0x001dd8b71c01;
const ROUTER = 0x027379000001;
const HOST_MAC = '00:1d:d8:b7:1c:01';

/** `frame` copied into a 256-byte slot of poison at offset 64; returns the slot. */
function slot(frame: Uint8Array): Uint8Array {
  const s = new Uint8Array(256).fill(0xa5);
  s.set(frame, 64);
  return s;
}

const nsFrame = (): Uint8Array => {
  const body = new Uint8Array(28);
  body.set(ip6('fd00:1:1::1'), 4);
  body.set([1, 1, 0x00, 0x1d, 0xd8, 0xb7, 0x1c, 0x01], 20);
  return buildIcmpv6({ srcMac: HOST_MAC, dstMac: '33:33:ff:00:00:01', srcIp6: 'fd00:1:1::11', dstIp6: 'ff02::1:ff00:1', hopLimit: 255, type: 135, body });
};

const rsFrame = (): Uint8Array =>
  buildIcmpv6({ srcMac: HOST_MAC, dstMac: '33:33:00:00:00:02', srcIp6: 'fe80::21d:d8ff:feb7:1c01', dstIp6: 'ff02::2', hopLimit: 255, type: 133, body: new Uint8Array(4) });

function built(): [string, Uint8Array][] {
  const out: [string, Uint8Array][] = [];
  let s = slot(nsFrame());
  let n = neighborSolicitToAdvert(s, 64, ROUTER, true);
  out.push(['na', s.slice(64, 64 + n)]);
  expect(s[64 + n]).toBe(0xa5);
  s = slot(rsFrame());
  const ra = { routerMac: ROUTER, routerLl: eui64LinkLocal(ROUTER), prefix: ip6('fd00:1:1::'), prefixLen: 64, autonomous: false, mtu: 1450, lifetime: 1800 };
  n = routerSolicitToAdvert(s, 64, ra);
  out.push(['ra', s.slice(64, 64 + n)]);
  expect(s[64 + n]).toBe(0xa5);
  s = slot(buildIcmpv6({ srcMac: HOST_MAC, dstMac: '02:73:79:00:00:01', srcIp6: 'fd00:1:1::11', dstIp6: 'fd00:1:1::1', type: 128, body: fromHex('0007000168656c6c6f') }));
  echo6ToReply(s, 64, ROUTER);
  out.push(['echo reply', s.slice(64, 64 + 62 + 5)]);
  // a "packet too big" as the PMTU work would build it: the invoking packet after the headers
  const inv = buildIpv6Udp({ srcIp6: 'fd00:1:1::11', dstIp6: 'fd00:1:2::21' }).subarray(14);
  s = new Uint8Array(256).fill(0xa5);
  s.set(inv, 64 + ICMPV6_BODY);
  n = writeIcmpv6Frame(s, 64, HOST, ROUTER, ip6('fd00:1:1::1'), 0, ip6('fd00:1:1::11'), 0, 64, 2, 0, 1280, inv.length);
  out.push(['packet too big', s.slice(64, 64 + n)]);
  return out;
}

describe('ICMPv6 built in place', () => {
  const frames = built();
  it('golden bytes: NA from an NS', () => {
    expect(toHex(frames[0]![1])).toBe(
      '001dd8b71c01' + '027379000001' + '86dd' +
        '60000000' + '0020' + '3a' + 'ff' + 'fd000001000100000000000000000001' + 'fd000001000100000000000000000011' +
        '8800' + toHex(frames[0]![1].subarray(56, 58)) + 'e0000000' + 'fd000001000100000000000000000001' + '0201027379000001',
    );
  });
  it('golden bytes: RA from an RS (source link-layer address, MTU, on-link prefix)', () => {
    const f = frames[1]![1];
    expect(toHex(f.subarray(0, 54))).toBe(
      '001dd8b71c01' + '027379000001' + '86dd' + '60000000' + '0040' + '3a' + 'ff' + 'fe800000000000000073' + '79fffe000001' + 'fe80000000000000021dd8fffeb71c01',
    );
    expect(toHex(f.subarray(54, 56))).toBe('8600');
    expect(toHex(f.subarray(58))).toBe(
      '40000708' + '00000000' + '00000000' + '0101027379000001' + '05010000000005aa' + '03044080' + '00278d00' + '00093a80' + '00000000' + 'fd000001000100000000000000000000',
    );
  });
  it('golden bytes: echo reply (addresses and MACs swapped, hop limit 64, type 129)', () => {
    expect(toHex(frames[2]![1])).toBe(toHex(buildIcmpv6({ srcMac: '02:73:79:00:00:01', dstMac: HOST_MAC, srcIp6: 'fd00:1:1::1', dstIp6: 'fd00:1:1::11', type: 129, body: fromHex('0007000168656c6c6f') })));
  });
  it('every checksum is right', () => {
    for (const [name, f] of frames) expect(icmpv6ChecksumValid(f, 14, 54, f.length - 54), name).toBe(true);
  });

  const dir = mkdtempSync(join(tmpdir(), 'wire-icmpv6-'));
  const path = join(dir, 'nd.pcap');
  writePcap(path, frames.map((f) => f[1]));
  const fields = ['icmpv6.type', 'icmpv6.checksum.status', 'ipv6.hlim', 'icmpv6.nd.na.target_address', 'icmpv6.nd.na.flag.r', 'icmpv6.nd.na.flag.s', 'icmpv6.nd.na.flag.o', 'icmpv6.opt.linkaddr', 'icmpv6.nd.ra.router_lifetime', 'icmpv6.opt.prefix', 'icmpv6.opt.prefix.length', 'icmpv6.opt.prefix.flag.l', 'icmpv6.opt.prefix.flag.a', 'icmpv6.opt.mtu', 'icmpv6.mtu', '_ws.malformed'];
  let rows: string[][] | undefined;
  try {
    const out = execFileSync('tshark', ['-r', path, '-T', 'fields', '-E', 'occurrence=a', ...fields.flatMap((f) => ['-e', f])], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    rows = out.replace(/\n$/, '').split('\n').map((l) => l.split('\t'));
  } catch {
    rows = undefined;
  }
  rmSync(dir, { recursive: true, force: true });

  it('tshark reads them as neighbour discovery with good checksums', requires(rows !== undefined, 'tshark is not installed (scripts/setup.sh installs it)'), () => {
    const row = (i: number): Record<string, string> => Object.fromEntries(fields.map((f, k) => [f, rows![i]![k] ?? '']));
    const na = row(0);
    expect([na['icmpv6.type'], na['icmpv6.checksum.status'], na['ipv6.hlim'], na['icmpv6.nd.na.target_address']]).toEqual(['136', '1', '255', 'fd00:1:1::1']);
    expect([na['icmpv6.nd.na.flag.r'], na['icmpv6.nd.na.flag.s'], na['icmpv6.nd.na.flag.o']].map((x) => x === 'True' || x === '1')).toEqual([true, true, true]);
    expect(na['icmpv6.opt.linkaddr']).toBe('02:73:79:00:00:01');
    const ra = row(1);
    expect([ra['icmpv6.type'], ra['icmpv6.checksum.status'], ra['ipv6.hlim'], ra['icmpv6.nd.ra.router_lifetime'], ra['icmpv6.opt.prefix'], ra['icmpv6.opt.prefix.length'], ra['icmpv6.opt.mtu']]).toEqual(['134', '1', '255', '1800', 'fd00:1:1::', '64', '1450']);
    expect(ra['icmpv6.opt.prefix.flag.l'] === 'True' || ra['icmpv6.opt.prefix.flag.l'] === '1').toBe(true);
    expect(ra['icmpv6.opt.prefix.flag.a'] === 'False' || ra['icmpv6.opt.prefix.flag.a'] === '0').toBe(true);
    expect(ra['icmpv6.opt.linkaddr']).toBe('02:73:79:00:00:01');
    expect([row(2)['icmpv6.type'], row(2)['icmpv6.checksum.status']]).toEqual(['129', '1']);
    expect([row(3)['icmpv6.type'], row(3)['icmpv6.checksum.status'], row(3)['icmpv6.mtu']]).toEqual(['2', '1', '1280']);
    for (let i = 0; i < frames.length; i++) expect(row(i)['_ws.malformed'], frames[i]![0]).toBe('');
  });
});

describe('IPv6 address text', () => {
  it('parses and formats RFC 5952', () => {
    expect(formatIpv6(parseIpv6('FD00:0001:0001:0000:0000:0000:0000:0011')!)).toBe('fd00:1:1::11');
    expect(formatIpv6(parseIpv6('::')!)).toBe('::');
    expect(formatIpv6(parseIpv6('1:0:0:2:0:0:0:3')!)).toBe('1:0:0:2::3');
    expect(formatIpv6(parseIpv6('1:0:2:3:4:5:6:7')!)).toBe('1:0:2:3:4:5:6:7');
    for (const bad of ['', ':', '1::2::3', '1:2:3:4:5:6:7', '1:2:3:4:5:6:7:8:9', '12345::', 'g::', '1:2:3:4:5:6:7::8', '::ffff:1.2.3.4']) expect(parseIpv6(bad), bad).toBeUndefined();
    expect(parseCidr6('fd00:1::/48')).toEqual({ net: ip6('fd00:1::'), len: 48 });
    expect(parseCidr6('fd00:1::1/48')).toMatch(/host bits set/);
    expect(parseCidr6('fd00:1::', true)).toEqual({ net: ip6('fd00:1::'), len: 128 });
    expect(parseCidr6('fd00::/129')).toMatch(/not an IPv6 prefix/);
  });
  it('EUI-64 link-local, solicited-node group and its MAC', () => {
    expect(formatIpv6(eui64LinkLocal(0x027379000001))).toBe('fe80::73:79ff:fe00:1');
    expect(formatIpv6(eui64LinkLocal(0x001dd8b71c01))).toBe('fe80::21d:d8ff:feb7:1c01');
    expect(formatIpv6(solicitedNode(ip6('fd00:1:1::11')))).toBe('ff02::1:ff00:11');
    expect(multicastMac(ip6('ff02::1:ff00:11'))).toBe(0x3333ff000011);
  });
});
