// Path MTU: a tenant packet that does not fit the underlay once encapsulated is answered with ICMP
// fragmentation needed carrying the MTU that fits (DF), or dropped and counted (no DF); what fits,
// and what stays on the host, is forwarded as before. IPv6: ICMPv6 packet too big, golden bytes
// and tshark reading them.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { countersToJson } from '../../src/dataplane/counters.js';
import { readMac, readU16, readU32 } from '../../src/wire/bytes.js';
import { buildIcmpv6, buildIpv4Udp, buildIpv6Udp, ip6, pattern, toHex } from '../../src/wire/build/frames.js';
import { checksum } from '../../src/wire/checksum.js';
import { icmpv6ChecksumValid } from '../../src/wire/icmp.js';
import { eui64LinkLocal, formatIpv6 } from '../../src/wire/addr6.js';
import { parseMac } from '../../src/wire/addr.js';
import { compileSnapshot } from '../../src/vfp/snapshot.js';
import { MAC, ROUTER, V6, figure8, figure8Dual, ipNum, rig } from '../helpers/vfp-fixtures.js';
import { writePcap } from '../helpers/pcap.js';
import { requires } from '../helpers/prerequisites.js';

const haveTshark = spawnSync('tshark', ['-v'], { stdio: 'ignore' }).status === 0;

const DF = 0x4000;
/** A UDP frame from contoso-sql with an IPv4 packet of `ipLen` bytes. */
const big = (ipLen: number, flags: number, dstMac: string = MAC.contosoWeb, dstIp = '10.1.1.12') =>
  buildIpv4Udp({ srcMac: MAC.contosoSql, dstMac, srcIp: '10.1.1.11', dstIp, srcPort: 5000, dstPort: 6000, flagsFragment: flags, payload: pattern(ipLen - 28) });

describe('path MTU', () => {
  it('answers DF past the MTU with fragmentation needed (1450 for VXLAN on a 1500 underlay) from the gateway', () => {
    const r = rig();
    const f = big(1451, DF);
    r.send('contoso-sql', f);
    expect(r.vx.queued).toBe(0);
    const [g] = r.pull('contoso-sql');
    expect(readMac(g, 0)).toBe(parseInt(MAC.contosoSql.replaceAll(':', ''), 16));
    expect(readMac(g, 6)).toBe(parseInt(ROUTER.replaceAll(':', ''), 16));
    expect(readU32(g, 14 + 12)).toBe(ipNum('10.1.1.1'));
    expect(readU32(g, 14 + 16)).toBe(ipNum('10.1.1.11'));
    expect(checksum(g, 14, 20)).toBe(0);
    expect([g[34], g[35]]).toEqual([3, 4]);
    expect(readU16(g, 34 + 6)).toBe(1450);
    expect(checksum(g, 34, g.length - 34)).toBe(0);
    // the quote: the original IPv4 header and 8 bytes of its UDP header
    expect(g.slice(42, 42 + 28)).toEqual(f.slice(14, 14 + 28));
    const c = countersToJson(r.fwd.counters, r.snap);
    expect(c.drops['too-big']).toBe(1);
    expect(c.counters['icmp-frag-needed']).toBe(1);
  });

  it('forwards a packet of exactly the MTU, drops one past it without DF (counted), and never checks local delivery', () => {
    const r = rig();
    r.send('contoso-sql', big(1450, DF));
    expect(r.vx.pullAll()).toHaveLength(1);
    r.send('contoso-sql', big(1451, 0));
    expect(r.vx.queued).toBe(0);
    expect(r.pull('contoso-sql')).toHaveLength(0);
    r.send('contoso-sql', big(1700, DF, MAC.contosoApp, '10.1.1.13'));
    expect(r.pull('contoso-app')).toHaveLength(1);
    const c = countersToJson(r.fwd.counters, r.snap);
    expect(c.drops['too-big']).toBe(1);
    expect(c.counters['icmp-frag-needed']).toBe(0);
  });

  it('follows the encapsulation of the destination and the underlay MTU', () => {
    // NVGRE costs 42 bytes, not 50; a 9000-byte underlay leaves 8950 for VXLAN
    const s = compileSnapshot(figure8(), 'host1', 1, { underlayMtu: 9000 });
    expect([s.roomVxlan, s.roomNvgre]).toEqual([8950, 8958]);
    expect(s.ports.find((p) => p.name === 'contoso-grl')!.mtu).toBe(8958);
    const r = rig();
    r.send('contoso-sql', big(1458, DF, ROUTER, '10.1.3.31'));
    expect(r.nv.pullAll()).toHaveLength(1);
    r.send('contoso-sql', big(1459, DF, ROUTER, '10.1.3.31'));
    const [g] = r.pull('contoso-sql');
    expect(readU16(g, 34 + 6)).toBe(1458);
    // routed: the frame already carried the router's MAC as its source; the answer goes to the sender's
    expect(toHex(g.subarray(0, 12))).toBe(MAC.contosoSql.replaceAll(':', '') + ROUTER.replaceAll(':', ''));
  });
});

/** An IPv6 UDP frame from contoso-sql with an IPv6 packet of `ipLen` bytes. */
const big6 = (ipLen: number, o: { dstMac?: string; src?: string; dst?: string } = {}) =>
  buildIpv6Udp({ srcMac: MAC.contosoSql, dstMac: o.dstMac ?? MAC.contosoWeb, srcIp6: o.src ?? V6.sql, dstIp6: o.dst ?? V6.web, srcPort: 5000, dstPort: 6000, payload: pattern(ipLen - 48) });
const LL = (mac: string): string => formatIpv6(eui64LinkLocal(parseMac(mac)));

describe('path MTU, IPv6: packet too big', () => {
  const answers: Uint8Array[] = [];

  it('answers an IPv6 packet past the MTU with packet too big (1450) from the gateway: golden bytes', () => {
    const r = rig(figure8Dual());
    const f = big6(1451);
    r.send('contoso-sql', f);
    expect(r.vx.queued).toBe(0);
    const [g] = r.pull('contoso-sql');
    answers.push(g);
    // as much of the invoking packet as keeps the answer within 1280 bytes: 1280 - 48
    expect(g.length).toBe(14 + 40 + 8 + 1232);
    expect(toHex(g.subarray(0, 62))).toBe(
      MAC.contosoSql.replaceAll(':', '') + ROUTER.replaceAll(':', '') + '86dd' +
        '60000000' + (8 + 1232).toString(16).padStart(4, '0') + '3a' + '40' + toHex(ip6('fd00:1:1::1')) + toHex(ip6(V6.sql)) +
        '0200' + toHex(g.subarray(56, 58)) + '000005aa',
    );
    expect(icmpv6ChecksumValid(g, 14, 54, g.length - 54)).toBe(true);
    expect(toHex(g.subarray(62))).toBe(toHex(f.subarray(14, 14 + 1232)));
    const c = countersToJson(r.fwd.counters, r.snap);
    expect(c.drops['too-big']).toBe(1);
    expect(c.counters['icmpv6-packet-too-big']).toBe(1);
  });

  it('forwards exactly the MTU; routed (NVGRE: 1458) and link-local senders get their answer; no error about an error', () => {
    const r = rig(figure8Dual());
    r.send('contoso-sql', big6(1450));
    expect(r.vx.pullAll()).toHaveLength(1);
    // routed to contoso-gre (host3, NVGRE): the frame carries the router's MAC when it is checked
    r.send('contoso-sql', big6(1459, { dstMac: ROUTER, dst: V6.gre }));
    const [routed] = r.pull('contoso-sql');
    answers.push(routed);
    expect(readMac(routed, 0)).toBe(parseMac(MAC.contosoSql));
    expect(readU32(routed, 54 + 4)).toBe(1458);
    expect(formatIpv6(routed.subarray(22, 38))).toBe('fd00:1:1::1');
    // link-local to link-local within the subnet: the answer comes from the router's link-local address
    r.send('contoso-sql', big6(1500, { src: LL(MAC.contosoSql), dst: LL(MAC.contosoWeb) }));
    const [ll] = r.pull('contoso-sql');
    answers.push(ll);
    expect(formatIpv6(ll.subarray(22, 38))).toBe('fe80::73:79ff:fe00:1');
    expect(formatIpv6(ll.subarray(38, 54))).toBe(LL(MAC.contosoSql));
    expect(icmpv6ChecksumValid(ll, 14, 54, ll.length - 54)).toBe(true);
    // an ICMPv6 error (destination unreachable) that is too big: dropped, not answered
    const err = buildIcmpv6({ srcMac: MAC.contosoSql, dstMac: MAC.contosoWeb, srcIp6: V6.sql, dstIp6: V6.web, type: 1, code: 4, body: pattern(1500) });
    r.send('contoso-sql', err);
    expect(r.pull('contoso-sql')).toHaveLength(0);
    expect(r.vx.queued).toBe(0);
    const c = countersToJson(r.fwd.counters, r.snap);
    expect(c.drops['too-big']).toBe(3);
    expect(c.counters['icmpv6-packet-too-big']).toBe(2);
  });

  it('tshark reads the answers as ICMPv6 packet too big with good checksums and the MTU', requires(haveTshark, 'tshark is not installed (scripts/setup.sh installs it)'), () => {
    expect(answers).toHaveLength(3);
    const dir = mkdtempSync(join(tmpdir(), 'pmtu6-'));
    try {
      const file = join(dir, 'ptb.pcap');
      writePcap(file, answers);
      const fields = ['icmpv6.type', 'icmpv6.code', 'icmpv6.checksum.status', 'icmpv6.mtu', 'ipv6.src', 'ipv6.dst', '_ws.malformed'];
      const out = execFileSync('tshark', ['-r', file, '-T', 'fields', '-E', 'occurrence=f', ...fields.flatMap((x) => ['-e', x])], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      const rows = out.replace(/\n$/, '').split('\n').map((l) => l.split('\t'));
      expect(rows).toEqual([
        ['2', '0', '1', '1450', 'fd00:1:1::1', V6.sql, ''],
        ['2', '0', '1', '1458', 'fd00:1:1::1', V6.sql, ''],
        ['2', '0', '1', '1450', 'fe80::73:79ff:fe00:1', LL(MAC.contosoSql), ''],
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
