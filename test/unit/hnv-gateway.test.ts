// The HNV gateway (issue 14: virtualNetworks[].gateway) with three Forwarders on a memory underlay:
// a tenant on host2 reaches an outside address through the gateway port on host1 (encapsulated with
// its own VSID, the gateway vNIC's MAC), the gateway host's stack answers back into the network (to
// a remote CA and to a local one), a network without a gateway stays no-route, and what the gateway
// port may send (guard), what a non-gateway host may send in its name (nothing), trace; plus the
// policy's errors by path and the NAT plans.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { FIGURE8_YAML } from '../../src/policy/figure8.js';
import { runValidate } from '../../src/cli/validate-cmd.js';
import { MemoryPort, MemoryUnderlay, MemoryUplink } from '../../src/io/memory.js';
import type { Policy } from '../../src/policy/types.js';
import { Forwarder } from '../../src/dataplane/forwarder.js';
import { countersToJson } from '../../src/dataplane/counters.js';
import { compileSnapshot } from '../../src/vfp/snapshot.js';
import { parsePolicy } from '../../src/policy/validate.js';
import { buildIpv4Udp, buildVxlan, mac as macNum } from '../../src/wire/build/frames.js';
import { gatewayMac, gatewayPortName } from '../../src/vfp/gateway-names.js';
import { gatewayNatPlans } from '../../src/agent/hnv-gateway.js';
import { natScript } from '../../src/agent/nat.js';
import { hostView } from '../../src/controller/host-view.js';
import { MAC, PA1, PA3, ROUTER, figure8, ipNum } from '../helpers/vfp-fixtures.js';

const OUTSIDE = '203.0.113.9';
const GW = gatewayPortName('contoso');
const GW_MAC = gatewayMac('contoso').toString(16).padStart(12, '0').replace(/(..)(?!$)/g, '$1:');

function gatewayPolicy(nat = true): Policy {
  const p = figure8();
  return { ...p, virtualNetworks: p.virtualNetworks.map((v) => (v.name === 'contoso' ? { ...v, gateway: { host: 'host1', nat } } : v)) };
}

function world(policy: Policy) {
  const underlay = new MemoryUnderlay();
  const hosts = new Map<string, { fwd: Forwarder; ports: Map<string, MemoryPort>; vx: MemoryUplink; nv: MemoryUplink }>();
  for (const h of policy.hosts) {
    const snap = compileSnapshot(policy, h.name, 1);
    const addrs = h.providerAddresses.map(ipNum);
    const vx = new MemoryUplink('vxlan', { localAddrs: addrs });
    const nv = new MemoryUplink('nvgre', { localAddrs: addrs });
    underlay.attach(vx);
    underlay.attach(nv);
    const fwd = new Forwarder({ ports: [], vxlan: vx, nvgre: nv }, snap, { checkAclLinear: true });
    const ports = new Map<string, MemoryPort>();
    for (const p of snap.ports) {
      const mp = new MemoryPort(p.name);
      ports.set(p.name, mp);
      fwd.setPort(p.index, mp);
    }
    hosts.set(h.name, { fwd, ports, vx, nv });
  }
  const settle = (): void => {
    for (let round = 0; round < 5; round++) {
      for (const h of hosts.values()) {
        for (const p of h.fwd.snapshot.ports) if (h.ports.get(p.name)!.pending > 0) h.fwd.pollPort(p.index);
        if (h.vx.pending > 0) h.fwd.pollUplink('vxlan');
        if (h.nv.pending > 0) h.fwd.pollUplink('nvgre');
      }
    }
  };
  return {
    hosts,
    send(host: string, port: string, frame: Uint8Array) {
      hosts.get(host)!.ports.get(port)!.push(frame);
      settle();
    },
    pull: (host: string, port: string) => hosts.get(host)!.ports.get(port)!.pullAll(),
    drops: (host: string) => countersToJson(hosts.get(host)!.fwd.counters, hosts.get(host)!.fwd.snapshot).drops,
    settle,
  };
}

const eth = (b: Uint8Array, off: number) => Array.from(b.subarray(off, off + 6), (x) => x.toString(16).padStart(2, '0')).join(':');
const ipAt = (b: Uint8Array, off: number) => Array.from(b.subarray(off, off + 4)).join('.');

describe('HNV gateway: the distributed router sends outside destinations to the gateway host', () => {
  it('a tenant on host2 reaches outside through host1, and the answer comes back to it', () => {
    const w = world(gatewayPolicy());
    const out = buildIpv4Udp({ srcMac: MAC.contosoWeb, dstMac: ROUTER, srcIp: '10.1.1.12', dstIp: OUTSIDE, srcPort: 40000, dstPort: 53, ttl: 64 });
    w.send('host2', 'contoso-web', out);
    const got = w.pull('host1', GW);
    expect(got).toHaveLength(1);
    const f = got[0];
    expect(eth(f, 0)).toBe(GW_MAC); // the gateway vNIC's MAC, so the host's stack takes it
    expect(eth(f, 6)).toBe(ROUTER);
    expect(ipAt(f, 26)).toBe('10.1.1.12'); // not NAT'd yet: the host's nftables does that
    expect(ipAt(f, 30)).toBe(OUTSIDE);
    expect(f[22]).toBe(63); // TTL - 1, once
    // the host's stack answers (after conntrack undid the NAT): to the router MAC, from outside
    const back = buildIpv4Udp({ srcMac: GW_MAC, dstMac: ROUTER, srcIp: OUTSIDE, dstIp: '10.1.1.12', srcPort: 53, dstPort: 40000, ttl: 64 });
    w.send('host1', GW, back);
    const reply = w.pull('host2', 'contoso-web');
    expect(reply).toHaveLength(1);
    expect(eth(reply[0], 0)).toBe(MAC.contosoWeb);
    expect(eth(reply[0], 6)).toBe(ROUTER);
    expect(ipAt(reply[0], 26)).toBe(OUTSIDE);
    expect(reply[0][22]).toBe(63);
  });

  it('a tenant on the gateway host goes to the gateway port directly; answers reach it locally', () => {
    const w = world(gatewayPolicy());
    w.send('host1', 'contoso-sql', buildIpv4Udp({ srcMac: MAC.contosoSql, dstMac: ROUTER, srcIp: '10.1.1.11', dstIp: OUTSIDE, srcPort: 1, dstPort: 2 }));
    expect(w.pull('host1', GW)).toHaveLength(1);
    w.send('host1', GW, buildIpv4Udp({ srcMac: GW_MAC, dstMac: ROUTER, srcIp: OUTSIDE, dstIp: '10.1.1.11', srcPort: 2, dstPort: 1 }));
    const r = w.pull('host1', 'contoso-sql');
    expect(r).toHaveLength(1);
    expect(eth(r[0], 0)).toBe(MAC.contosoSql);
    expect(w.pull('host1', 'fabrikam-sql')).toHaveLength(0); // same CA, other tenant: never
  });

  it('a virtual network without a gateway stays unroutable (counted no-route)', () => {
    const w = world(gatewayPolicy());
    w.send('host2', 'fabrikam-web', buildIpv4Udp({ srcMac: MAC.fabrikamWeb, dstMac: ROUTER, srcIp: '10.1.1.12', dstIp: OUTSIDE, srcPort: 1, dstPort: 2 }));
    expect(w.pull('host1', GW)).toHaveLength(0);
    expect(w.drops('host2')['no-route']).toBe(1);
    // and with a gateway, an address inside a subnet that no port holds is still no-route
    w.send('host2', 'contoso-web', buildIpv4Udp({ srcMac: MAC.contosoWeb, dstMac: ROUTER, srcIp: '10.1.1.12', dstIp: '10.1.1.99', srcPort: 1, dstPort: 2 }));
    expect(w.drops('host2')['no-route']).toBe(2);
    expect(w.pull('host1', GW)).toHaveLength(0);
  });

  it('the gateway port may not speak for a CA, send ARP, or route back out', () => {
    const w = world(gatewayPolicy());
    w.send('host1', GW, buildIpv4Udp({ srcMac: GW_MAC, dstMac: ROUTER, srcIp: '10.1.1.13', dstIp: '10.1.1.11', srcPort: 1, dstPort: 2 }));
    w.send('host1', GW, buildIpv4Udp({ srcMac: MAC.contosoApp, dstMac: ROUTER, srcIp: OUTSIDE, dstIp: '10.1.1.11', srcPort: 1, dstPort: 2 }));
    w.send('host1', GW, buildIpv4Udp({ srcMac: GW_MAC, dstMac: ROUTER, srcIp: OUTSIDE, dstIp: '198.51.100.7', srcPort: 1, dstPort: 2 }));
    expect(w.pull('host1', 'contoso-sql')).toHaveLength(0);
    expect(w.pull('host1', GW)).toHaveLength(0);
    const d = w.drops('host1');
    expect(d.spoofed).toBe(2);
    expect(d['no-route']).toBe(1);
  });

  it('only the gateway host may send a frame from outside into the network', () => {
    const w = world(gatewayPolicy());
    const inner = buildIpv4Udp({ srcMac: ROUTER, dstMac: MAC.contosoWeb, srcIp: OUTSIDE, dstIp: '10.1.1.12', srcPort: 53, dstPort: 40000 });
    const h2 = w.hosts.get('host2')!;
    const pkt = buildVxlan({ vni: 5001, inner }).subarray(34); // from the UDP header on
    h2.vx.push(pkt, ipNum(PA3));
    h2.fwd.pollUplink('vxlan');
    expect(w.pull('host2', 'contoso-web')).toHaveLength(0);
    expect(w.drops('host2')['src-not-owned']).toBe(1);
    h2.vx.push(pkt, ipNum(PA1));
    h2.fwd.pollUplink('vxlan');
    expect(w.pull('host2', 'contoso-web')).toHaveLength(1);
  });

  it('trace shows the gateway decision', () => {
    const w = world(gatewayPolicy());
    const t = w.hosts.get('host2')!.fwd.trace('contoso-web', buildIpv4Udp({ srcMac: MAC.contosoWeb, dstMac: ROUTER, srcIp: '10.1.1.12', dstIp: OUTSIDE, srcPort: 1, dstPort: 2 }), 'out');
    const router = t.steps.find((s) => s.layer === 'router')!;
    expect(router.action).toMatch(/route to the gateway on host host1 \(NAT\)/);
    expect(t.verdict).toBe('forward');
    expect(t.outputs.join()).toMatch(/vni 5001 .* -> 192\.168\.1\.10/);
    const t1 = w.hosts.get('host1')!.fwd.trace(GW, buildIpv4Udp({ srcMac: GW_MAC, dstMac: ROUTER, srcIp: OUTSIDE, dstIp: '10.1.1.12', srcPort: 2, dstPort: 1 }), 'out');
    expect(t1.steps.map((s) => s.layer)).toEqual(expect.arrayContaining(['gateway-guard', 'router', 'vnet']));
    expect(t1.outputs.join()).toMatch(/vni 5001 .* -> 192\.168\.2\.20/);
  });

  it('compiles the gateway port on the gateway host only; the NAT plan masquerades each subnet prefix', () => {
    const p = gatewayPolicy();
    const s1 = compileSnapshot(p, 'host1', 1);
    const s2 = compileSnapshot(p, 'host2', 1);
    expect(s1.ports.some((x) => x.name === GW)).toBe(true);
    expect(s2.ports.some((x) => x.name === GW)).toBe(false);
    expect(s2.gateways[0]!.hostName).toBe('host1');
    expect(s2.gateways[1]).toBeNull();
    expect(macNum(GW_MAC)).toBe(s1.gateways[0]!.mac);
    const plans = gatewayNatPlans(s1);
    expect(plans.map((x) => x.nat.internalIPInterfaceAddressPrefix)).toEqual(['10.1.1.0/24', '10.1.2.0/24', '10.1.3.0/24']);
    const script = natScript('t', plans);
    expect(script).toMatch(/ip saddr 10\.1\.2\.0\/24 ip daddr != 10\.1\.2\.0\/24 oifname != "sy-gw-contoso" masquerade/);
    // nat: false: routed only, no masquerade (the plan still keeps IPv4 forwarding on)
    const routed = gatewayNatPlans(compileSnapshot(gatewayPolicy(false), 'host1', 1));
    expect(routed).toHaveLength(3);
    expect(natScript('t', routed)).not.toMatch(/masquerade/);
  });

  it("the controller's view of the gateway host holds the network even without a port there", () => {
    const p = gatewayPolicy();
    const noPorts = { ...p, networkInterfaces: p.networkInterfaces.filter((n) => n.host !== 'host1') };
    expect(hostView(noPorts, 'host1').virtualNetworks.map((v) => v.name)).toEqual(['contoso']);
    expect(hostView(noPorts, 'host3').virtualNetworks.map((v) => v.name)).toEqual(['contoso']);
  });
});

describe('gateway policy errors, by path', () => {
  const errs = (p: unknown) => {
    const r = parsePolicy(p);
    return r.ok ? [] : r.errors.map((e) => `${e.path}: ${e.message}`);
  };
  it('accepts a gateway', () => {
    expect(errs(gatewayPolicy())).toEqual([]);
  });
  it('reports an unknown host, a missing or non-boolean nat, and overlapping networks on one gateway host', () => {
    const p = figure8();
    const gw = (host: string, nat: unknown = true) => ({ host, nat });
    expect(errs({ ...p, virtualNetworks: [{ ...p.virtualNetworks[0], gateway: gw('host9') }, p.virtualNetworks[1]] })).toEqual(['virtualNetworks[0].gateway.host: unknown host host9']);
    expect(errs({ ...p, virtualNetworks: [{ ...p.virtualNetworks[0], gateway: { host: 'host1' } }, p.virtualNetworks[1]] })).toEqual(['virtualNetworks[0].gateway.nat: required']);
    expect(errs({ ...p, virtualNetworks: [{ ...p.virtualNetworks[0], gateway: gw('host1', 'yes') }, p.virtualNetworks[1]] })).toEqual(['virtualNetworks[0].gateway.nat: expected true or false, got string "yes"']);
    const both = errs({ ...p, virtualNetworks: [{ ...p.virtualNetworks[0], gateway: gw('host1') }, { ...p.virtualNetworks[1], gateway: gw('host1') }] });
    expect(both).toHaveLength(1);
    expect(both[0]).toMatch(/^virtualNetworks\[1\]\.gateway\.host: subnet s1 \(10\.1\.1\.0\/24\) overlaps subnet s1 \(10\.1\.1\.0\/24\) of virtual network contoso, whose gateway is host host1 too/);
    // Contoso and Fabrikam with the same CAs: each its own gateway host
    expect(errs({ ...p, virtualNetworks: [{ ...p.virtualNetworks[0], gateway: gw('host1') }, { ...p.virtualNetworks[1], gateway: gw('host2') }] })).toEqual([]);
  });
  it("reports a gateway whose subnet overlaps an Internal switch's host vNIC prefix on that host", () => {
    const p = gatewayPolicy();
    const e = errs({
      ...p,
      switches: [{ name: 'int', switchType: 'Internal', hostAddress: '10.1.2.1/24' }],
      networkInterfaces: [...p.networkInterfaces, { name: 'vm1', host: 'host1', switch: 'int', macAddress: '02:00:00:00:04:0c' }],
    });
    expect(e).toEqual(['virtualNetworks[0].gateway.host: subnet s2 (10.1.2.0/24) overlaps the host vNIC prefix 10.1.2.0/24 of Internal switch int on host host1: the host would have two routes for it']);
  });
});

describe('the CLI door (switchyard validate)', () => {
  it('names the file, line and path of a gateway on an unknown host', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-gw-'));
    try {
      const file = path.join(dir, 'p.yaml');
      fs.writeFileSync(file, FIGURE8_YAML.replace('  - name: contoso\n', '  - name: contoso\n    gateway: {host: host9, nat: true}\n'));
      const lines: string[] = [];
      const spy = vi.spyOn(console, 'error').mockImplementation((t: string) => void lines.push(t));
      try {
        expect(await runValidate(file)).toBe(2);
      } finally {
        spy.mockRestore();
      }
      expect(lines.join('\n')).toMatch(/p\.yaml:\d+:\d+: virtualNetworks\[0\]\.gateway\.host: unknown host host9/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the gateway vNIC never takes over a route of the host', () => {
  it('reads the devices of the routes the host has for a prefix', async () => {
    const { hostRouteDevs } = await import('../../src/agent/hnv-gateway.js');
    expect(hostRouteDevs('')).toEqual([]);
    expect(hostRouteDevs('[]\n')).toEqual([]);
    expect(hostRouteDevs('[{"dst":"10.1.1.0/24","dev":"eth1","protocol":"kernel","scope":"link","flags":[]}]')).toEqual(['eth1']);
    expect(hostRouteDevs('[{"dst":"10.1.1.0/24","gateway":"169.254.0.1","dev":"sy-gw-contoso","flags":["onlink"]},{"dst":"10.1.1.0/24","dev":"eth2"}]')).toEqual(['sy-gw-contoso', 'eth2']);
  });
});
