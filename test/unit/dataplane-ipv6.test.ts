// IPv6 CAs (issue 15): frames in -> frames out for dual-stack ports. Neighbour discovery and
// router advertisements answered from policy (golden bytes), isolation (spoofed sources, NA/RA
// from tenants, ND in a tunnel), unicast within a subnet, across hosts in VXLAN and NVGRE, routed
// across subnets (hop limit), the flow table and connection tracking, IPv6 ACL prefixes, and the
// port without an IPv6 CA that keeps dropping IPv6.
import { describe, expect, it } from 'vitest';
import type { AclRule, Policy } from '../../src/policy/types.js';
import { countersToJson, C } from '../../src/dataplane/counters.js';
import { buildIcmpv6, buildIpv6, buildIpv6Tcp, buildIpv6Udp, buildNvgre, buildVxlan, fromHex, ip6, toHex } from '../../src/wire/build/frames.js';
import { icmpv6ChecksumValid } from '../../src/wire/icmp.js';
import { eui64LinkLocal, formatIpv6, solicitedNode, multicastMac } from '../../src/wire/addr6.js';
import { parseMac } from '../../src/wire/addr.js';
import { MAC, PA2, PA3, ROUTER, V6, figure8Dual, rig, type Rig } from '../helpers/vfp-fixtures.js';
import { parsePolicy } from '../../src/policy/validate.js';

const LL = (mac: string): string => formatIpv6(eui64LinkLocal(parseMac(mac)));
const ROUTER_LL = 'fe80::73:79ff:fe00:1';
const GW1 = 'fd00:1:1::1';
const dual = figure8Dual;

function drops(r: Rig): Record<string, number> {
  return Object.fromEntries(Object.entries(countersToJson(r.fwd.counters, r.snap).drops).filter(([, v]) => v > 0));
}

const wire = (full: Uint8Array): Uint8Array => full.slice(34);

/** An NS from contoso-sql for `target`. */
function ns(target: string, o: { src?: string; dst?: string; dstMac?: string; hop?: number; srcMac?: string } = {}): Uint8Array {
  const t = ip6(target);
  const body = new Uint8Array(4 + 16 + 8);
  body.set(t, 4);
  body.set([1, 1], 20);
  body.set(fromHex(MAC.contosoSql.replaceAll(':', '')), 22);
  const group = solicitedNode(t);
  return buildIcmpv6({
    srcMac: o.srcMac ?? MAC.contosoSql,
    dstMac: o.dstMac ?? multicastMac(group),
    srcIp6: o.src ?? V6.sql,
    dstIp6: o.dst ?? group,
    hopLimit: o.hop ?? 255,
    type: 135,
    body,
  });
}

/** The NA the dataplane should send back to contoso-sql for `target` at `mac`. */
function expectedNa(target: string, mac: string, router: boolean, to = V6.sql): Uint8Array {
  const body = new Uint8Array(4 + 16 + 8);
  body[0] = (router ? 0x80 : 0) | 0x60;
  body.set(ip6(target), 4);
  body.set([2, 1], 20);
  body.set(fromHex(mac.replaceAll(':', '')), 22);
  return buildIcmpv6({ srcMac: mac, dstMac: MAC.contosoSql, srcIp6: target, dstIp6: to, hopLimit: 255, type: 136, body });
}

const udp6 = (o: Parameters<typeof buildIpv6Udp>[0] = {}): Uint8Array =>
  buildIpv6Udp({ srcMac: MAC.contosoSql, dstMac: MAC.contosoApp, srcIp6: V6.sql, dstIp6: V6.app, srcPort: 5000, dstPort: 7000, ...o });

describe('neighbour discovery from policy', () => {
  it('NS for the gateway: NA from the router MAC with the router flag (golden bytes, valid checksum)', () => {
    const r = rig(dual());
    r.send('contoso-sql', ns(GW1));
    const out = r.pull('contoso-sql');
    expect(out.length).toBe(1);
    expect(toHex(out[0]!)).toBe(toHex(expectedNa(GW1, ROUTER, true)));
    expect(icmpv6ChecksumValid(out[0]!, 14, 54, out[0]!.length - 54)).toBe(true);
    expect(r.fwd.counters.global[C.NdAdverts]).toBe(1);
  });

  it("NS for the router's link-local address, and unicast NUD for the gateway", () => {
    const r = rig(dual());
    r.send('contoso-sql', ns(ROUTER_LL, { src: LL(MAC.contosoSql) }));
    r.send('contoso-sql', ns(GW1, { dst: GW1, dstMac: ROUTER }));
    const out = r.pull('contoso-sql');
    expect(out.map(toHex)).toEqual([toHex(expectedNa(ROUTER_LL, ROUTER, true, LL(MAC.contosoSql))), toHex(expectedNa(GW1, ROUTER, true))]);
  });

  it("NS for a neighbour's CA and link-local address: NA with its MAC, local or remote", () => {
    const r = rig(dual());
    r.send('contoso-sql', ns(V6.app));
    r.send('contoso-sql', ns(LL(MAC.contosoApp)));
    r.send('contoso-sql', ns(V6.web));
    const out = r.pull('contoso-sql');
    expect(out.map(toHex)).toEqual([
      toHex(expectedNa(V6.app, MAC.contosoApp, false)),
      toHex(expectedNa(LL(MAC.contosoApp), MAC.contosoApp, false)),
      toHex(expectedNa(V6.web, MAC.contosoWeb, false)),
    ]);
    // never forwarded
    expect(r.pull('contoso-app')).toEqual([]);
    expect(r.vx.pullAll()).toEqual([]);
  });

  it('unknown targets, another subnet, another tenant: silence; DAD from ::: silence', () => {
    const r = rig(dual());
    r.send('contoso-sql', ns('fd00:1:1::99'));
    r.send('contoso-sql', ns(V6.db2)); // other subnet: reached through the router, not on-link
    r.send('contoso-sql', ns(V6.sql, { src: '::' }));
    r.send('contoso-sql', ns(V6.app, { hop: 64 }));
    expect(r.pull('contoso-sql')).toEqual([]);
    expect(r.pull('contoso-app')).toEqual([]);
    expect(drops(r)).toEqual({ 'nd-unknown': 2, 'nd-ignored': 2 });
  });

  it('RS: RA from the router link-local address with the on-link prefix (golden bytes)', () => {
    const r = rig(dual());
    const rs = buildIcmpv6({ srcMac: MAC.contosoSql, dstMac: '33:33:00:00:00:02', srcIp6: LL(MAC.contosoSql), dstIp6: 'ff02::2', hopLimit: 255, type: 133, body: new Uint8Array(4) });
    r.send('contoso-sql', rs);
    const out = r.pull('contoso-sql');
    expect(out.length).toBe(1);
    const body = fromHex(
      '40000708' + // cur hop limit 64, flags 0, router lifetime 1800
        '00000000' + '00000000' + // reachable, retrans
        '0101' + '027379000001' + // source link-layer address
        '0304' + '4080' + '00278d00' + '00093a80' + '00000000' + 'fd000001000100000000000000000000', // prefix info: /64, on-link
    );
    const exp = buildIcmpv6({ srcMac: ROUTER, dstMac: MAC.contosoSql, srcIp6: ROUTER_LL, dstIp6: LL(MAC.contosoSql), hopLimit: 255, type: 134, body });
    expect(toHex(out[0]!)).toBe(toHex(exp));
    expect(icmpv6ChecksumValid(out[0]!, 14, 54, out[0]!.length - 54)).toBe(true);
  });

  it('echo request to the gateway and the router link-local address: echo reply', () => {
    const r = rig(dual());
    const req = buildIcmpv6({ srcMac: MAC.contosoSql, dstMac: ROUTER, srcIp6: V6.sql, dstIp6: GW1, type: 128, body: fromHex('1234000161626364') });
    r.send('contoso-sql', req);
    const out = r.pull('contoso-sql');
    const want = buildIcmpv6({ srcMac: ROUTER, dstMac: MAC.contosoSql, srcIp6: GW1, dstIp6: V6.sql, type: 129, body: fromHex('1234000161626364') });
    expect(out.map(toHex)).toEqual([toHex(want)]);
    r.send('contoso-sql', buildIpv6Udp({ srcMac: MAC.contosoSql, dstMac: ROUTER, srcIp6: V6.sql, dstIp6: GW1 }));
    expect(r.pull('contoso-sql')).toEqual([]);
    expect(drops(r)).toEqual({ 'router-local': 1 });
  });
});

/** An IPv6 fragment from contoso-sql (to contoso-app unless `o` says otherwise): fragment header
 * (next header `nh`, `offset` in 8-byte units, more fragments, identification `id`) + `body`. */
function frag6(id: number, offset: number, more: boolean, body: Uint8Array, nh = 17, o: Parameters<typeof buildIpv6>[0] = {}): Uint8Array {
  const fh = new Uint8Array(8 + body.length);
  fh[0] = nh;
  const v = (offset << 3) | (more ? 1 : 0);
  fh[2] = v >> 8;
  fh[3] = v & 0xff;
  new DataView(fh.buffer).setUint32(4, id);
  fh.set(body, 8);
  return buildIpv6({ srcMac: MAC.contosoSql, dstMac: MAC.contosoApp, srcIp6: V6.sql, dstIp6: V6.app, nextHeader: 44, payload: fh, ...o });
}

/** A UDP header (from port 5000 to `dport`, length `len`, no checksum) and 8 bytes of data. */
const udpHead = (dport: number, len = 24): Uint8Array => Uint8Array.from([0x13, 0x88, dport >> 8, dport & 0xff, len >> 8, len & 0xff, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]);

describe('IPv6 fragments follow their first fragment (as IPv4)', () => {
  it('delivered locally and across hosts; an ACL judges the first and the rest follow; orphans are dropped', () => {
    const p = dual((q) => {
      q.accessControlLists = [
        {
          name: 'app-in',
          aclRules: [
            { name: 'udp7000', protocol: 'UDP', sourceAddressPrefix: '*', destinationAddressPrefix: '*', sourcePortRange: '*', destinationPortRange: '7000', action: 'Allow', type: 'Inbound', priority: 100 },
            { name: 'deny', protocol: 'All', sourceAddressPrefix: '*', destinationAddressPrefix: '*', sourcePortRange: '*', destinationPortRange: '*', action: 'Deny', type: 'Inbound', priority: 4000 },
          ],
        },
      ];
      q.networkInterfaces.find((n) => n.name === 'contoso-app')!.accessControlList = 'app-in';
    });
    const r = rig(p);
    // a 24-byte UDP datagram to app port 7000 in two fragments (16 + 8 bytes): both delivered
    r.send('contoso-sql', frag6(0x10001, 0, true, udpHead(7000)));
    r.send('contoso-sql', frag6(0x10001, 2, false, new Uint8Array(8)));
    expect(r.pull('contoso-app')).toHaveLength(2);
    // to port 22: the first fragment is denied, the second follows it
    r.send('contoso-sql', frag6(0x10002, 0, true, udpHead(22)));
    r.send('contoso-sql', frag6(0x10002, 2, false, new Uint8Array(8)));
    // the same 16 low bits of identification as the first datagram, another datagram: an orphan
    r.send('contoso-sql', frag6(0x20001, 2, false, new Uint8Array(8)));
    expect(r.pull('contoso-app')).toHaveLength(0);
    expect(drops(r)).toEqual({ 'acl-deny': 2, 'fragment-orphan': 1 });
    // across hosts (to web, VXLAN): both fragments encapsulated
    const toWeb = { dstMac: MAC.contosoWeb, dstIp6: V6.web };
    r.send('contoso-sql', frag6(0x10003, 0, true, udpHead(9), 17, toWeb));
    r.send('contoso-sql', frag6(0x10003, 2, false, new Uint8Array(8), 17, toWeb));
    expect(r.vx.pullAll()).toHaveLength(2);
    // from the wire: web's fragments to sql follow their first fragment too
    const fromWeb = (off: number, more: boolean, body: Uint8Array) => wire(buildVxlan({ vni: 5001, inner: frag6(0x30001, off, more, body, 17, { srcMac: MAC.contosoWeb, dstMac: MAC.contosoSql, srcIp6: V6.web, dstIp6: V6.sql }) }));
    r.fromWire('vxlan', fromWeb(0, true, udpHead(5000)), PA2);
    r.fromWire('vxlan', fromWeb(2, false, new Uint8Array(8)), PA2);
    expect(r.pull('contoso-sql')).toHaveLength(2);
  });
});

describe('a tenant never speaks for addresses it does not own', () => {
  const cases: [string, Uint8Array, string][] = [
    ['NA for a neighbour\'s address', buildIcmpv6({ srcMac: MAC.contosoSql, dstMac: '33:33:00:00:00:01', srcIp6: V6.sql, dstIp6: 'ff02::1', hopLimit: 255, type: 136, body: new Uint8Array(28) }), 'nd-ignored'],
    ['NA for its own address', buildIcmpv6({ srcMac: MAC.contosoSql, dstMac: MAC.contosoApp, srcIp6: V6.sql, dstIp6: V6.app, hopLimit: 255, type: 136, body: new Uint8Array(28) }), 'nd-ignored'],
    ['RA', buildIcmpv6({ srcMac: MAC.contosoSql, dstMac: '33:33:00:00:00:01', srcIp6: LL(MAC.contosoSql), dstIp6: 'ff02::1', hopLimit: 255, type: 134, body: new Uint8Array(12) }), 'nd-ignored'],
    ['redirect', buildIcmpv6({ srcMac: MAC.contosoSql, dstMac: MAC.contosoApp, srcIp6: LL(MAC.contosoSql), dstIp6: V6.app, hopLimit: 255, type: 137, body: new Uint8Array(36) }), 'nd-ignored'],
    ['MLDv2 report', buildIcmpv6({ srcMac: MAC.contosoSql, dstMac: '33:33:00:00:00:16', srcIp6: '::', dstIp6: 'ff02::16', hopLimit: 1, type: 143, body: new Uint8Array(4) }), 'nd-ignored'],
    ['a neighbour\'s CA as source', udp6({ srcIp6: V6.app }), 'spoofed'],
    ['a link-local address not derived from its MAC', udp6({ srcIp6: 'fe80::1' }), 'spoofed'],
    [':: as source of UDP', udp6({ srcIp6: '::' }), 'spoofed'],
    ['another MAC', udp6({ srcMac: MAC.contosoApp }), 'spoofed'],
    ['unicast to a neighbour for another address', udp6({ dstIp6: V6.web }), 'not-for-port'],
    ['a first fragment without its UDP header', buildIpv6({ srcMac: MAC.contosoSql, dstMac: MAC.contosoApp, srcIp6: V6.sql, dstIp6: V6.app, nextHeader: 44, payload: fromHex('1100000100000001') }), 'malformed'],
    ['a fragmented neighbour solicitation (RFC 6980)', frag6(1, 0, true, fromHex('8700000000000000' + 'fd000001000100000000000000000013'), 58), 'ipv6-fragment'],
    ['a later fragment from another source', frag6(1, 2, false, new Uint8Array(8), 17, { srcIp6: V6.app }), 'spoofed'],
    ['TCP with a short header', buildIpv6({ srcMac: MAC.contosoSql, dstMac: MAC.contosoApp, srcIp6: V6.sql, dstIp6: V6.app, nextHeader: 6, payload: new Uint8Array(20) }), 'malformed'],
  ];
  for (const [name, frame, reason] of cases) {
    it(`from a port: ${name} -> ${reason}`, () => {
      const r = rig(dual());
      r.send('contoso-sql', frame);
      expect(r.pull('contoso-app')).toEqual([]);
      expect(r.pull('contoso-sql')).toEqual([]);
      expect(r.vx.pullAll()).toEqual([]);
      expect(drops(r)).toEqual({ [reason]: 1 });
    });
  }

  it('a port without an IPv6 CA drops all IPv6 as before (ipv6-disabled)', () => {
    const r = rig(dual());
    r.send('fabrikam-sql', buildIpv6Udp({ srcMac: MAC.fabrikamSql, dstMac: '33:33:00:00:00:01', srcIp6: LL(MAC.fabrikamSql), dstIp6: 'ff02::1' }));
    r.send('fabrikam-sql', buildIpv6({ srcMac: MAC.fabrikamSql, dstMac: ROUTER, nextHeader: 6, payload: new Uint8Array(20) }));
    expect(drops(r)).toEqual({ 'ipv6-disabled': 2 });
  });

  const web = (o: Parameters<typeof buildIpv6Udp>[0] = {}): Uint8Array =>
    buildIpv6Udp({ srcMac: MAC.contosoWeb, dstMac: MAC.contosoSql, srcIp6: V6.web, dstIp6: V6.sql, srcPort: 7000, dstPort: 5000, ...o });
  const fromWire: [string, Uint8Array, string, number?][] = [
    ['a CA the host does not own', web({ srcIp6: V6.app }), 'src-not-owned'],
    ['the router MAC with a CA of the receiving host', web({ srcMac: ROUTER, srcIp6: V6.db2 }), 'src-not-owned'],
    ['an NA in the tunnel', buildIcmpv6({ srcMac: MAC.contosoWeb, dstMac: MAC.contosoSql, srcIp6: V6.web, dstIp6: V6.sql, hopLimit: 255, type: 136, body: new Uint8Array(28) }), 'nd-ignored'],
    ['an RA in the tunnel', buildIcmpv6({ srcMac: MAC.contosoWeb, dstMac: '33:33:00:00:00:01', srcIp6: LL(MAC.contosoWeb), dstIp6: 'ff02::1', hopLimit: 255, type: 134, body: new Uint8Array(12) }), 'nd-ignored'],
    ['IPv6 into the IPv4-only Fabrikam subnet', buildIpv6Udp({ srcMac: MAC.fabrikamWeb, dstMac: MAC.fabrikamSql }), 'ipv6-disabled', 6001],
  ];
  for (const [name, frame, reason, vni] of fromWire) {
    it(`from the wire: ${name} -> ${reason}`, () => {
      const r = rig(dual());
      r.fromWire('vxlan', wire(buildVxlan({ vni: vni ?? 5001, inner: frame })), PA2);
      expect(r.pull('contoso-sql')).toEqual([]);
      expect(drops(r)).toEqual({ [reason]: 1 });
    });
  }
});

describe('IPv6 forwarding', () => {
  it('within a subnet on one host: delivered unchanged; the second frame is a flow-table hit', () => {
    const r = rig(dual());
    const f = udp6();
    r.send('contoso-sql', f);
    r.send('contoso-sql', f);
    expect(r.pull('contoso-app').map(toHex)).toEqual([toHex(f), toHex(f)]);
    expect(r.fwd.counters.global[C.UftHits]).toBe(1);
    expect(r.fwd.counters.global[C.UftInstalls]).toBe(1);
  });

  it('dump-flows shows an IPv6 flow by its addresses, protocol and ports (and ICMPv6 by type)', () => {
    const r = rig(dual());
    r.send('contoso-sql', udp6());
    r.send('contoso-sql', buildIcmpv6({ srcMac: MAC.contosoSql, dstMac: MAC.contosoApp, srcIp6: V6.sql, dstIp6: V6.app, type: 128, body: fromHex('12340001') }));
    const flows = r.fwd.dumpFlows({ port: 'contoso-sql' }).map((e) => e.match);
    expect(flows).toContainEqual(expect.objectContaining({ ethertype: '0x86dd', proto: 17, srcIp: V6.sql, dstIp: V6.app, srcPort: 5000, dstPort: 7000 }));
    expect(flows).toContainEqual(expect.objectContaining({ ethertype: '0x86dd', proto: 58, srcIp: V6.sql, dstIp: V6.app, icmpType: 128, icmpCode: 0, icmpId: 0x1234 }));
  });

  it('to the link-local address of a neighbour', () => {
    const r = rig(dual());
    const f = udp6({ srcIp6: LL(MAC.contosoSql), dstIp6: LL(MAC.contosoApp) });
    r.send('contoso-sql', f);
    expect(r.pull('contoso-app').map(toHex)).toEqual([toHex(f)]);
  });

  it('across hosts: VXLAN with the inner IPv6 frame intact (IPv4 underlay); and back from the wire', () => {
    const r = rig(dual());
    const f = udp6({ dstMac: MAC.contosoWeb, dstIp6: V6.web });
    r.send('contoso-sql', f);
    const out = r.vx.pullAll();
    expect(out.length).toBe(1);
    expect(toHex(out[0]!.frame.subarray(16))).toBe(toHex(f));
    expect(out[0]!.frame[12] << 16 | out[0]!.frame[13] << 8 | out[0]!.frame[14]).toBe(5001);
    const back = buildIpv6Udp({ srcMac: MAC.contosoWeb, dstMac: MAC.contosoSql, srcIp6: V6.web, dstIp6: V6.sql, srcPort: 7000, dstPort: 5000 });
    r.fromWire('vxlan', wire(buildVxlan({ vni: 5001, inner: back })), PA2);
    expect(r.pull('contoso-sql').map(toHex)).toEqual([toHex(back)]);
  });

  it('across hosts in NVGRE', () => {
    const r = rig(dual());
    const f = buildIpv6Udp({ srcMac: MAC.contosoGreLocal, dstMac: MAC.contosoGre, srcIp6: V6.grl, dstIp6: V6.gre });
    r.send('contoso-grl', f);
    const out = r.nv.pullAll();
    expect(out.length).toBe(1);
    expect(toHex(out[0]!.frame.subarray(8))).toBe(toHex(f));
    const back = buildIpv6Udp({ srcMac: MAC.contosoGre, dstMac: MAC.contosoGreLocal, srcIp6: V6.gre, dstIp6: V6.grl });
    r.fromWire('nvgre', wire(buildNvgre({ vsid: 5003, flowId: 7, inner: back })), PA3);
    expect(r.pull('contoso-grl').map(toHex)).toEqual([toHex(back)]);
  });

  it('routed across subnets: MACs rewritten, hop limit - 1, local and remote; never to another tenant', () => {
    const r = rig(dual());
    const f = buildIpv6Udp({ srcMac: MAC.contosoSql, dstMac: ROUTER, srcIp6: V6.sql, dstIp6: V6.db2, hopLimit: 64 });
    r.send('contoso-sql', f);
    r.send('contoso-sql', f);
    const got = r.pull('contoso-db2');
    expect(got.length).toBe(2);
    const want = f.slice();
    want.set(fromHex(MAC.contosoDb2.replaceAll(':', '')), 0);
    want.set(fromHex(ROUTER.replaceAll(':', '')), 6);
    want[21] = 63;
    expect(got.map(toHex)).toEqual([toHex(want), toHex(want)]);
    expect(r.fwd.counters.global[C.Routed]).toBe(2);
    r.send('contoso-sql', buildIpv6Udp({ srcMac: MAC.contosoSql, dstMac: ROUTER, srcIp6: V6.sql, dstIp6: V6.api }));
    const enc = r.vx.pullAll();
    expect(enc.length).toBe(1);
    expect(enc[0]!.frame[12] << 16 | enc[0]!.frame[13] << 8 | enc[0]!.frame[14]).toBe(5002);
    // a link-local destination is never routed, nor the gateway of another subnet as a CA
    r.send('contoso-sql', buildIpv6Udp({ srcMac: MAC.contosoSql, dstMac: ROUTER, srcIp6: V6.sql, dstIp6: LL(MAC.contosoDb2) }));
    expect(drops(r)).toEqual({ 'no-route': 1 });
  });

  it('routed with hop limit 1: ICMPv6 time exceeded from the gateway, quoting the packet', () => {
    const r = rig(dual());
    const f = buildIpv6Udp({ srcMac: MAC.contosoSql, dstMac: ROUTER, srcIp6: V6.sql, dstIp6: V6.db2, hopLimit: 1 });
    r.send('contoso-sql', f);
    expect(r.pull('contoso-db2')).toEqual([]);
    const out = r.pull('contoso-sql');
    expect(out.length).toBe(1);
    const body = new Uint8Array(4 + f.length - 14);
    body.set(f.subarray(14), 4);
    expect(toHex(out[0]!)).toBe(toHex(buildIcmpv6({ srcMac: ROUTER, dstMac: MAC.contosoSql, srcIp6: GW1, dstIp6: V6.sql, type: 3, code: 0, body })));
  });
});

describe('IPv6 ACLs and connection tracking', () => {
  const rule = (o: Partial<AclRule>): AclRule => ({ name: 'r', protocol: 'All', sourceAddressPrefix: '*', destinationAddressPrefix: '*', sourcePortRange: '*', destinationPortRange: '*', action: 'Allow', type: 'Inbound', priority: 100, ...o });

  it('IPv6 prefixes decide IPv6 frames; IPv4 rules never match them; replies of allowed connections pass', () => {
    const p = dual((q) => {
      q.accessControlLists = [
        {
          name: 'v6',
          aclRules: [
            rule({ name: 'web-udp', protocol: 'UDP', sourceAddressPrefix: 'fd00:1:1::12', destinationPortRange: '5000', priority: 100 }),
            rule({ name: 'v4-all', sourceAddressPrefix: '10.0.0.0/8', priority: 110 }),
            rule({ name: 'deny-s1', action: 'Deny', sourceAddressPrefix: 'fd00:1:1::/64', priority: 120 }),
            rule({ name: 'icmp-s2', protocol: 'ICMP', sourceAddressPrefix: 'fd00:1:2::/64', priority: 130 }),
          ],
        },
      ];
      q.networkInterfaces.find((n) => n.name === 'contoso-sql')!.accessControlList = 'v6';
    });
    const r = rig(p);
    // from web (remote, allowed by its /128 and port) and from app (same /64, denied)
    const fromWeb = buildIpv6Udp({ srcMac: MAC.contosoWeb, dstMac: MAC.contosoSql, srcIp6: V6.web, dstIp6: V6.sql, dstPort: 5000 });
    r.fromWire('vxlan', wire(buildVxlan({ vni: 5001, inner: fromWeb })), PA2);
    r.send('contoso-app', buildIpv6Udp({ srcMac: MAC.contosoApp, dstMac: MAC.contosoSql, srcIp6: V6.app, dstIp6: V6.sql, dstPort: 5000 }));
    // ICMPv6 echo from db2 (the 'ICMP' rule), routed
    r.send('contoso-db2', buildIcmpv6({ srcMac: MAC.contosoDb2, dstMac: ROUTER, srcIp6: V6.db2, dstIp6: V6.sql, type: 128, body: fromHex('00070001') }));
    expect(r.pull('contoso-sql').length).toBe(2);
    expect(drops(r)).toEqual({ 'acl-deny': 1 });
    // sql opens TCP to app: app's SYN-ACK back to sql is a reply, not a new connection from s1
    r.send('contoso-sql', buildIpv6Tcp({ srcMac: MAC.contosoSql, dstMac: MAC.contosoApp, srcIp6: V6.sql, dstIp6: V6.app, srcPort: 40000, dstPort: 80, flags: 0x02 }));
    expect(r.pull('contoso-app').length).toBe(1);
    r.send('contoso-app', buildIpv6Tcp({ srcMac: MAC.contosoApp, dstMac: MAC.contosoSql, srcIp6: V6.app, dstIp6: V6.sql, srcPort: 80, dstPort: 40000, flags: 0x12 }));
    expect(r.pull('contoso-sql').length).toBe(1);
    // the same ports, not a reply (another source port): denied
    r.send('contoso-app', buildIpv6Tcp({ srcMac: MAC.contosoApp, dstMac: MAC.contosoSql, srcIp6: V6.app, dstIp6: V6.sql, srcPort: 81, dstPort: 40000, flags: 0x02 }));
    expect(r.pull('contoso-sql').length).toBe(0);
    expect(drops(r)).toEqual({ 'acl-deny': 2 });
  });

  it('ICMPv6 errors about a tracked connection are related (let in past a deny-all); about anything else they are not', () => {
    const p = dual((q) => {
      q.accessControlLists = [{ name: 'deny-in', aclRules: [rule({ name: 'none', action: 'Deny' })] }];
      q.networkInterfaces.find((n) => n.name === 'contoso-sql')!.accessControlList = 'deny-in';
    });
    const r = rig(p);
    const out = (sport: number, src: string = V6.sql) => buildIpv6Udp({ srcMac: MAC.contosoSql, dstMac: MAC.contosoWeb, srcIp6: src, dstIp6: V6.web, srcPort: sport, dstPort: 6000 });
    r.send('contoso-sql', out(5000));
    expect(r.vx.pullAll()).toHaveLength(1);
    // web's answers about it: port unreachable, packet too big (MTU 1400), time exceeded
    const error = (type: number, code: number, rest: number, quoted: Uint8Array) => {
      const body = new Uint8Array(4 + 48);
      new DataView(body.buffer).setUint32(0, rest);
      body.set(quoted.subarray(14, 14 + 48), 4);
      return wire(buildVxlan({ vni: 5001, inner: buildIcmpv6({ srcMac: MAC.contosoWeb, dstMac: MAC.contosoSql, srcIp6: V6.web, dstIp6: V6.sql, type, code, body }) }));
    };
    r.fromWire('vxlan', error(1, 4, 0, out(5000)), PA2);
    r.fromWire('vxlan', error(2, 0, 1400, out(5000)), PA2);
    r.fromWire('vxlan', error(3, 0, 0, out(5000)), PA2);
    expect(r.pull('contoso-sql')).toHaveLength(3);
    // about no connection: another source port, or a source that is not sql's (nor any known) address
    r.fromWire('vxlan', error(1, 4, 0, out(5999)), PA2);
    r.fromWire('vxlan', error(1, 4, 0, out(5000, 'fd00:1:1::99')), PA2);
    expect(r.pull('contoso-sql')).toHaveLength(0);
    expect(drops(r)).toEqual({ 'acl-deny': 2 });
    // and ICMPv6 echo: an error quoting sql's echo request (identifier 7) is related to it
    r.send('contoso-sql', buildIcmpv6({ srcMac: MAC.contosoSql, dstMac: MAC.contosoWeb, srcIp6: V6.sql, dstIp6: V6.web, type: 128, body: fromHex('0007000168656c6c6f') }));
    expect(r.vx.pullAll()).toHaveLength(1);
    const echo = buildIcmpv6({ srcMac: MAC.contosoSql, dstMac: MAC.contosoWeb, srcIp6: V6.sql, dstIp6: V6.web, type: 128, body: fromHex('0007000168656c6c6f') });
    r.fromWire('vxlan', error(3, 0, 0, echo), PA2);
    expect(r.pull('contoso-sql')).toHaveLength(1);
  });

  it('an IPv4 and an IPv6 flow with the same ports never share a connection or a flow entry', () => {
    const r = rig(dual());
    const v6 = udp6();
    r.send('contoso-sql', v6);
    expect(r.snap.v6.table.ids.some((x) => x > 0)).toBe(true);
    expect(r.pull('contoso-app').length).toBe(1);
    expect(r.fwd.counters.global[C.UftInstalls]).toBe(1);
  });
});

describe('policy', () => {
  const base = (): Policy => dual();
  const errs = (p: Policy): string[] => {
    const r = parsePolicy(p);
    return r.ok ? [] : r.errors.map((e) => `${e.path}: ${e.message}`);
  };
  it('a dual-stack policy is valid and normalised', () => {
    const p = base();
    p.networkInterfaces[0]!.ipv6Address = 'FD00:1:1:0:0:0:0:11';
    const r = parsePolicy(p);
    expect(r.ok ? [] : r.errors).toEqual([]);
    if (r.ok) expect(r.policy.networkInterfaces[0]!.ipv6Address).toBe('fd00:1:1::11');
  });
  it('addresses outside the subnet, the gateway, the anycast address, duplicates, no prefix, mixed ACL families', () => {
    const p = base();
    p.networkInterfaces[0]!.ipv6Address = 'fd00:1:9::11';
    p.networkInterfaces[1]!.ipv6Address = 'fd00:1:1::1';
    p.networkInterfaces[2]!.ipv6Address = 'fd00:1:1::';
    p.networkInterfaces[3]!.ipv6Address = V6.api;
    p.networkInterfaces.find((n) => n.name === 'fabrikam-sql')!.ipv6Address = 'fd00:9::1';
    p.virtualNetworks[0]!.subnets[2]!.ipv6AddressPrefix = 'fd00:2::/64';
    p.accessControlLists = [{ name: 'a', aclRules: [{ name: 'm', protocol: 'All', sourceAddressPrefix: '10.0.0.0/8', destinationAddressPrefix: 'fd00::/8', sourcePortRange: '*', destinationPortRange: '*', action: 'Allow', type: 'Inbound', priority: 100 }] }];
    const e = errs(p).join('\n');
    expect(e).toMatch(/outside subnet s1/);
    expect(e).toMatch(/is the gateway of subnet s1/);
    expect(e).toMatch(/subnet-router anycast/);
    expect(e).toMatch(/duplicate address fd00:1:2::22/);
    expect(e).toMatch(/subnet s1 has no ipv6AddressPrefix/);
    expect(e).toMatch(/outside the IPv6 address prefixes of virtual network contoso/);
    expect(e).toMatch(/an IPv4 and an IPv6 prefix in one rule/);
  });
  it('malformed IPv6 text is refused by the schema', () => {
    const p = base();
    p.networkInterfaces[0]!.ipv6Address = 'fd00::1::2';
    p.virtualNetworks[0]!.subnets[0]!.ipv6AddressPrefix = 'fd00:1:1::1/64';
    const e = errs(p).join('\n');
    expect(e).toMatch(/not an IPv6 address/);
    expect(e).toMatch(/host bits set/);
  });
});

describe('trace is the same walk for IPv6', () => {
  it('an NS is answered by the nd layer; a routed frame names the router and the destination', () => {
    const r = rig(dual());
    const t = r.fwd.trace('contoso-sql', ns(GW1), 'out');
    expect(t.verdict).toBe('reply');
    expect(t.steps.map((s) => s.layer)).toContain('nd');
    const f = buildIpv6Udp({ srcMac: MAC.contosoSql, dstMac: ROUTER, srcIp6: V6.sql, dstIp6: V6.db2 });
    const tr = r.fwd.trace('contoso-sql', f, 'out');
    expect(tr.verdict).toBe('forward');
    expect(tr.frame['dstIp']).toBe(V6.db2);
    expect(tr.outputs.join(' ')).toMatch(/contoso-db2/);
    const spoof = r.fwd.trace('contoso-sql', udp6({ srcIp6: V6.app }), 'out');
    expect([spoof.verdict, spoof.dropReason]).toEqual(['drop', 'spoofed']);
    // trace changed nothing: the real frames still take their paths
    r.send('contoso-sql', f);
    expect(r.pull('contoso-db2').length).toBe(1);
  });
});
