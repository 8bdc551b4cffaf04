// Path MTU: a tenant packet that does not fit the underlay once encapsulated is answered with ICMP
// fragmentation needed carrying the MTU that fits (DF), or dropped and counted (no DF); what fits,
// and what stays on the host, is forwarded as before.
import { describe, expect, it } from 'vitest';
import { countersToJson } from '../../src/dataplane/counters.js';
import { readMac, readU16, readU32 } from '../../src/wire/bytes.js';
import { buildIpv4Udp, pattern } from '../../src/wire/build/frames.js';
import { checksum } from '../../src/wire/checksum.js';
import { compileSnapshot } from '../../src/vfp/snapshot.js';
import { MAC, ROUTER, figure8, ipNum, rig } from '../helpers/vfp-fixtures.js';

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
  });
});
