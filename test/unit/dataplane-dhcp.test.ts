// DHCP from policy: a Dynamic port's DISCOVER/REQUEST/INFORM answered from the port's policy (golden
// bytes read back by our parser and by tshark), NAK for another address, RELEASE/DECLINE and
// malformed messages counted, Static ports and server messages dropped, nothing forwarded to
// another port or the wire; the policy fields' errors by path.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { countersToJson } from '../../src/dataplane/counters.js';
import { parsePolicy } from '../../src/policy/validate.js';
import type { Policy } from '../../src/policy/types.js';
import { readMac, readU16, readU32 } from '../../src/wire/bytes.js';
import { buildDhcpRequest } from '../../src/wire/build/dhcp.js';
import { buildIpv4Udp } from '../../src/wire/build/frames.js';
import { checksum } from '../../src/wire/checksum.js';
import { DHCPACK, DHCPDECLINE, DHCPDISCOVER, DHCPINFORM, DHCPNAK, DHCPOFFER, DHCPRELEASE, DHCPREQUEST, FLAG_BROADCAST } from '../../src/wire/dhcp.js';
import { buildPcap } from '../helpers/pcap.js';
import { requires } from '../helpers/prerequisites.js';
import { MAC, PA2, ROUTER, figure8, ipNum, rig } from '../helpers/vfp-fixtures.js';

function dynamicPolicy(): Policy {
  const p = figure8();
  p.networkInterfaces.find((n) => n.name === 'contoso-sql')!.ipAllocationMethod = 'Dynamic';
  p.virtualNetworks[0].subnets[0].dnsServers = ['10.1.1.53', '8.8.8.8'];
  return p;
}

/** The options of a reply (code -> value bytes). */
function options(frame: Uint8Array): Map<number, Uint8Array> {
  const m = new Map<number, Uint8Array>();
  let p = 14 + 20 + 8 + 240;
  while (p < frame.length && frame[p] !== 255) {
    if (frame[p] === 0) {
      p++;
      continue;
    }
    m.set(frame[p], frame.slice(p + 2, p + 2 + frame[p + 1]));
    p += 2 + frame[p + 1];
  }
  return m;
}

let haveTshark = true;
try {
  execFileSync('tshark', ['-v'], { stdio: 'ignore' });
} catch {
  haveTshark = false;
}
const TSHARK = requires(haveTshark, 'tshark is not installed (scripts/setup.sh installs it)');

function tsharkFields(frames: Uint8Array[], fields: string[]): string[][] {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-dhcp-'));
  try {
    const file = path.join(dir, 'dhcp.pcap');
    fs.writeFileSync(file, buildPcap(frames));
    const out = execFileSync('tshark', ['-r', file, '-o', 'udp.check_checksum:TRUE', '-o', 'ip.check_checksum:TRUE', '-T', 'fields', '-E', 'separator=|', ...fields.flatMap((f) => ['-e', f])], { encoding: 'utf8' });
    return out.trim().split('\n').map((l) => l.split('|'));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const sqlMac = MAC.contosoSql;

describe('DHCP from policy', () => {
  it('offers the port its CA, prefix, router, MTU, lease, server id and DNS servers', () => {
    const r = rig(dynamicPolicy());
    r.send('contoso-sql', buildDhcpRequest({ type: DHCPDISCOVER, clientMac: sqlMac, xid: 0xdeadbeef, flags: FLAG_BROADCAST }));
    const out = r.pull('contoso-sql');
    expect(out).toHaveLength(1);
    const g = out[0];
    expect(readMac(g, 0)).toBe(ipNumMac(sqlMac));
    expect(readMac(g, 6)).toBe(ipNumMac(ROUTER));
    expect(readU32(g, 14 + 12)).toBe(ipNum('10.1.1.1'));
    expect(readU32(g, 14 + 16)).toBe(0xffffffff); // broadcast flag set
    expect(checksum(g, 14, 20)).toBe(0);
    expect(readU16(g, 34)).toBe(67);
    expect(readU16(g, 36)).toBe(68);
    const bp = 42;
    expect(g[bp]).toBe(2);
    expect(readU32(g, bp + 4)).toBe(0xdeadbeef);
    expect(readU32(g, bp + 16)).toBe(ipNum('10.1.1.11'));
    expect(readMac(g, bp + 28)).toBe(ipNumMac(sqlMac));
    const o = options(g);
    expect([...o.get(53)!]).toEqual([DHCPOFFER]);
    expect(readU32(o.get(54)!, 0)).toBe(ipNum('10.1.1.1'));
    expect(readU32(o.get(1)!, 0)).toBe(ipNum('255.255.255.0'));
    expect(readU32(o.get(3)!, 0)).toBe(ipNum('10.1.1.1'));
    expect(readU16(o.get(26)!, 0)).toBe(1450);
    expect(readU32(o.get(51)!, 0)).toBe(3600);
    expect(o.get(6)!.length).toBe(8);
    expect(readU32(o.get(6)!, 4)).toBe(ipNum('8.8.8.8'));
    expect(g.length).toBe(14 + 20 + 8 + 300);
    // never forwarded: no other port, no uplink
    expect(r.pull('contoso-app')).toHaveLength(0);
    expect(r.vx.queued + r.nv.queued).toBe(0);
    expect(countersToJson(r.fwd.counters, r.snap).counters['dhcp-offers']).toBe(1);
  });

  it('acknowledges a REQUEST for the CA and refuses one for another address', () => {
    const r = rig(dynamicPolicy());
    r.send('contoso-sql', buildDhcpRequest({ type: DHCPREQUEST, clientMac: sqlMac, requestedIp: '10.1.1.11', serverId: '10.1.1.1' }));
    const [ack] = r.pull('contoso-sql');
    expect([...options(ack).get(53)!]).toEqual([DHCPACK]);
    expect(readU32(ack, 14 + 16)).toBe(ipNum('10.1.1.11')); // no broadcast flag: to the address
    r.send('contoso-sql', buildDhcpRequest({ type: DHCPREQUEST, clientMac: sqlMac, requestedIp: '10.1.1.99' }));
    const [nak] = r.pull('contoso-sql');
    expect([...options(nak).get(53)!]).toEqual([DHCPNAK]);
    expect(readU32(nak, 42 + 16)).toBe(0);
    expect(readU32(nak, 14 + 16)).toBe(0xffffffff);
    expect(options(nak).has(3)).toBe(false);
    // a renewal: unicast from the CA to the server, address in ciaddr
    r.send('contoso-sql', buildDhcpRequest({ type: DHCPREQUEST, clientMac: sqlMac, ciaddr: '10.1.1.11', srcIp: '10.1.1.11', dstIp: '10.1.1.1', dstMac: ROUTER }));
    const [renew] = r.pull('contoso-sql');
    expect([...options(renew).get(53)!]).toEqual([DHCPACK]);
    expect(readU32(renew, 14 + 16)).toBe(ipNum('10.1.1.11'));
    // a REQUEST for another server is not ours to answer
    r.send('contoso-sql', buildDhcpRequest({ type: DHCPREQUEST, clientMac: sqlMac, requestedIp: '10.1.1.11', serverId: '10.1.1.254' }));
    expect(r.pull('contoso-sql')).toHaveLength(0);
    const c = countersToJson(r.fwd.counters, r.snap);
    expect(c.counters['dhcp-acks']).toBe(2);
    expect(c.counters['dhcp-naks']).toBe(1);
    expect(c.drops['dhcp']).toBe(1);
  });

  it('answers INFORM without an address or lease; RELEASE, DECLINE and bad messages are counted drops', () => {
    const r = rig(dynamicPolicy());
    r.send('contoso-sql', buildDhcpRequest({ type: DHCPINFORM, clientMac: sqlMac, ciaddr: '10.1.1.11', srcIp: '10.1.1.11' }));
    const [inf] = r.pull('contoso-sql');
    expect([...options(inf).get(53)!]).toEqual([DHCPACK]);
    expect(readU32(inf, 42 + 16)).toBe(0);
    expect(options(inf).has(51)).toBe(false);
    expect(readU32(options(inf).get(3)!, 0)).toBe(ipNum('10.1.1.1'));
    r.send('contoso-sql', buildDhcpRequest({ type: DHCPRELEASE, clientMac: sqlMac, ciaddr: '10.1.1.11', srcIp: '10.1.1.11', dstIp: '10.1.1.1', dstMac: ROUTER }));
    r.send('contoso-sql', buildDhcpRequest({ type: DHCPDECLINE, clientMac: sqlMac }));
    // another client's hardware address, a truncated message, no cookie
    r.send('contoso-sql', buildDhcpRequest({ type: DHCPDISCOVER, clientMac: '00:00:5e:00:53:01', srcMac: sqlMac }));
    r.send('contoso-sql', buildIpv4Udp({ srcMac: sqlMac, dstMac: 'ff:ff:ff:ff:ff:ff', srcIp: '0.0.0.0', dstIp: '255.255.255.255', srcPort: 68, dstPort: 67, payload: new Uint8Array(100) }));
    const noCookie = buildDhcpRequest({ type: DHCPDISCOVER, clientMac: sqlMac });
    noCookie[42 + 236] = 0;
    r.send('contoso-sql', buildIpv4Udp({ srcMac: sqlMac, dstMac: 'ff:ff:ff:ff:ff:ff', srcIp: '0.0.0.0', dstIp: '255.255.255.255', srcPort: 68, dstPort: 67, payload: noCookie.slice(42) }));
    expect(r.pull('contoso-sql')).toHaveLength(0);
    expect(r.pull('contoso-app')).toHaveLength(0);
    expect(r.vx.queued).toBe(0);
    expect(countersToJson(r.fwd.counters, r.snap).drops['dhcp']).toBe(5);
  });

  it('drops DHCP of Static ports, server messages from ports, and DHCP from the wire', () => {
    const r = rig(dynamicPolicy());
    r.send('contoso-app', buildDhcpRequest({ type: DHCPDISCOVER, clientMac: MAC.contosoApp }));
    r.send('contoso-app', buildIpv4Udp({ srcMac: MAC.contosoApp, dstMac: 'ff:ff:ff:ff:ff:ff', srcIp: '10.1.1.13', dstIp: '255.255.255.255', srcPort: 67, dstPort: 68, payload: new Uint8Array(300) }));
    expect(r.pull('contoso-app')).toHaveLength(0);
    expect(r.pull('contoso-sql')).toHaveLength(0);
    expect(r.vx.queued).toBe(0);
    // from host2: contoso-web's client broadcast (which host2's own dhcp layer never sends)
    const inner = buildDhcpRequest({ type: DHCPDISCOVER, clientMac: MAC.contosoWeb });
    const vx = new Uint8Array(16 + inner.length);
    vx.set([0x12, 0xb5, 0x12, 0xb5], 0);
    vx[4] = (vx.length >> 8) & 0xff;
    vx[5] = vx.length & 0xff;
    vx.set([0x08, 0, 0, 0, 0, 0x13, 0x89, 0], 8);
    vx.set(inner, 16);
    r.fromWire('vxlan', vx, PA2);
    expect(r.pull('contoso-sql')).toHaveLength(0);
    expect(r.pull('contoso-app')).toHaveLength(0);
    expect(countersToJson(r.fwd.counters, r.snap).drops['dhcp']).toBe(3);
  });

  it('trace names the dhcp layer and its answer', () => {
    const r = rig(dynamicPolicy());
    const t = r.fwd.trace('contoso-sql', buildDhcpRequest({ type: DHCPDISCOVER, clientMac: sqlMac }), 'out');
    expect(JSON.stringify(t)).toMatch(/dhcp.*answer from policy: 10\.1\.1\.11\/24, router 10\.1\.1\.1, MTU 1450/);
    expect(t.outputs.join()).toMatch(/DHCP reply/);
  });

  it('tshark reads the OFFER and the ACK as built: fields and checksums', TSHARK, () => {
    const r = rig(dynamicPolicy());
    r.send('contoso-sql', buildDhcpRequest({ type: DHCPDISCOVER, clientMac: sqlMac, xid: 0x01020304 }));
    r.send('contoso-sql', buildDhcpRequest({ type: DHCPREQUEST, clientMac: sqlMac, xid: 0x01020304, requestedIp: '10.1.1.11', serverId: '10.1.1.1' }));
    const frames = r.pull('contoso-sql');
    expect(frames).toHaveLength(2);
    const rows = tsharkFields(frames, [
      'dhcp.option.dhcp',
      'dhcp.id',
      'dhcp.ip.your',
      'dhcp.hw.mac_addr',
      'dhcp.option.subnet_mask',
      'dhcp.option.router',
      'dhcp.option.interface_mtu',
      'dhcp.option.ip_address_lease_time',
      'dhcp.option.dhcp_server_id',
      'dhcp.option.domain_name_server',
      'ip.checksum.status',
      'udp.checksum.status',
      '_ws.expert.severity',
    ]);
    const common = ['0x01020304', '10.1.1.11', sqlMac, '255.255.255.0', '10.1.1.1', '1450', '3600', '10.1.1.1', '10.1.1.53,8.8.8.8', '1', '1'];
    expect(rows[0].slice(0, 12)).toEqual(['2', ...common]);
    expect(rows[1].slice(0, 12)).toEqual(['5', ...common]);
    // no expert warnings or errors (malformed, bad checksum)
    for (const row of rows) expect(row[12] ?? '').not.toMatch(/^(6291456|8388608)/);
  });
});

describe('DHCP policy fields', () => {
  it('reports a bad ipAllocationMethod and bad DNS servers by path', () => {
    const p = dynamicPolicy() as unknown as { networkInterfaces: Record<string, unknown>[]; virtualNetworks: { subnets: Record<string, unknown>[] }[] };
    p.networkInterfaces[0].ipAllocationMethod = 'DHCP';
    p.virtualNetworks[0].subnets[0].dnsServers = ['10.1.1.53', 'dns.example'];
    const res = parsePolicy(p);
    expect(res.ok).toBe(false);
    const text = JSON.stringify(res);
    expect(text).toMatch(/networkInterfaces\[0\]\.ipAllocationMethod.*not an IP allocation method: DHCP \(Static or Dynamic\)/);
    expect(text).toMatch(/virtualNetworks\[0\]\.subnets\[0\]\.dnsServers\[1\].*not an IPv4 address: dns\.example/);
  });

  it('accepts Dynamic, case-insensitively, and Static is the default', () => {
    const p = dynamicPolicy() as unknown as { networkInterfaces: Record<string, unknown>[] };
    p.networkInterfaces[0].ipAllocationMethod = 'dynamic';
    const res = parsePolicy(p);
    expect(res.ok).toBe(true);
    if (res.ok) {
      expect(res.policy.networkInterfaces[0].ipAllocationMethod).toBe('Dynamic');
      expect(res.policy.networkInterfaces[1].ipAllocationMethod).toBeUndefined();
    }
  });
});

function ipNumMac(m: string): number {
  return parseInt(m.replaceAll(':', ''), 16);
}
