// IPv6 CAs in namespaces (issue 15): examples/two-subnets.yaml made dual stack. The agents set
// each port's IPv6 CA and default route; the tenants' kernels resolve their neighbours and the
// gateway by neighbour discovery that the dataplane answers from policy. IPv6 ping across hosts
// and across subnets (hop limit - 1), to the gateway; an IPv6 ACL on one port; a tenant's forged
// neighbour and router advertisements go nowhere and are counted. PMTU: a tenant that raised its
// MTU gets ICMPv6 packet too big and caches the path MTU. Two workers: TCP connections over IPv6
// spread over both, and their replies meet the worker that tracks them (io/steering.ts).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import fs from 'node:fs';
import { controlRequest } from '../../src/agent/control-client.js';
import { ping, tcpServer } from '../../src/lab/probes.js';
import { runIn } from '../../src/lab/run.js';
import { deriveIfname } from '../../src/policy/names.js';
import type { Policy } from '../../src/policy/types.js';
import { startFigure8, type Figure8Run } from './lab-helpers.js';
import { startScapySender } from './scapy-sender.js';
import { ROOT_ONLY } from '../helpers/prerequisites.js';

const WEB = 'fd00:1:1::12';
const APP = 'fd00:1:1::13';
const SQL = 'fd00:1:2::11';

function dualStack(): Policy {
  const p = parse(fs.readFileSync(new URL('../../examples/two-subnets.yaml', import.meta.url), 'utf8')) as Policy;
  const vn = p.virtualNetworks[0]!;
  vn.addressPrefixes.push('fd00:1::/32');
  vn.subnets[0]!.ipv6AddressPrefix = 'fd00:1:1::/64';
  vn.subnets[1]!.ipv6AddressPrefix = 'fd00:1:2::/64';
  const six: Record<string, string> = { 'contoso-web': WEB, 'contoso-app': APP, 'contoso-sql': SQL };
  for (const n of p.networkInterfaces) n.ipv6Address = six[n.name];
  // sql admits ICMPv6 from web only (and IPv4 from anywhere): app's echo requests are denied
  p.accessControlLists = [
    {
      name: 'sql-in',
      aclRules: [
        { name: 'web-icmp6', protocol: 'ICMP', sourceAddressPrefix: `${WEB}/128`, destinationAddressPrefix: '*', sourcePortRange: '*', destinationPortRange: '*', action: 'Allow', type: 'Inbound', priority: 100 },
        { name: 'v4', protocol: 'All', sourceAddressPrefix: '10.0.0.0/8', destinationAddressPrefix: '*', sourcePortRange: '*', destinationPortRange: '*', action: 'Allow', type: 'Inbound', priority: 200 },
      ],
    },
  ];
  p.networkInterfaces.find((n) => n.name === 'contoso-sql')!.accessControlList = 'sql-in';
  return p;
}

interface Stats {
  counters: Record<string, number>;
  drops: Record<string, number>;
}

describe('IPv6 CAs in namespaces', ROOT_ONLY, () => {
  let r: Figure8Run;
  beforeAll(async () => {
    // two workers (whatever the cores): IPv6 flows are steered over both (io/steering.ts)
    r = await startFigure8({ policy: dualStack(), agentArgs: ['--workers', '2'] });
  }, 60_000);
  afterAll(async () => {
    await r?.teardown();
  });
  const stats = async (i: number) => (await controlRequest(r.agents[i]!.socket, { op: 'stats' })) as Stats;

  it('the agent set the IPv6 CA and the default route via the gateway', async () => {
    const out = await runIn(r.ns('contoso-app'), 'ip', ['-6', 'addr', 'show']);
    expect(out.stdout).toContain(`${APP}/64`);
    const routes = await runIn(r.ns('contoso-app'), 'ip', ['-6', 'route', 'show', 'default']);
    expect(routes.stdout).toContain('via fd00:1:1::1');
  });

  it('ping across hosts in one subnet (ND answered from policy)', async () => {
    const p = await ping(r.ns('contoso-app'), WEB, 3);
    expect(p.received).toBe(3);
    // the kernel learnt web's MAC from the dataplane's advertisement
    const neigh = await runIn(r.ns('contoso-app'), 'ip', ['-6', 'neigh', 'show', WEB]);
    expect(neigh.stdout).toContain('02:00:00:00:51:12');
  });

  it('ping across subnets and hosts through the distributed router (hop limit - 1), and the gateway', async () => {
    const out = await runIn(r.ns('contoso-web'), 'ping', ['-n', '-c', '3', '-i', '0.2', '-W', '1', SQL], { allowFail: true });
    expect(out.stdout).toMatch(/3 received/);
    expect(out.stdout).toMatch(/ttl=63/);
    expect((await ping(r.ns('contoso-web'), 'fd00:1:1::1', 2)).received).toBe(2);
  });

  it('an IPv6 ACL: sql admits ICMPv6 from web only', async () => {
    const before = await stats(0);
    expect((await ping(r.ns('contoso-app'), SQL, 2)).received).toBe(0);
    expect((await ping(r.ns('contoso-web'), SQL, 2)).received).toBe(2);
    const after = await stats(0);
    expect((after.drops['acl-deny'] ?? 0) - (before.drops['acl-deny'] ?? 0)).toBeGreaterThanOrEqual(2);
  });

  it('TCP over IPv6 with two workers: sql (inbound denied) connects out to web, every reply gets in by conntrack, and the connections use both workers', async () => {
    const server = await tcpServer(r.ns('contoso-web'), 8080);
    try {
      // 16 connections at once (16 ephemeral ports): each reply must reach the worker that saw
      // its connection's first packet, or sql's inbound ACL drops it
      const js = `const net=require('net');const N=16;let ok=0,done=0;const fin=()=>{if(++done===N){console.log(ok);process.exit(0)}};for(let i=0;i<N;i++){let got='',end=false;const c=net.connect(8080,'${WEB}');c.on('data',(d)=>got+=d);c.on('close',()=>{if(end)return;end=true;if(got==='hello')ok++;fin()});c.on('error',()=>{})}setTimeout(()=>{console.log(ok);process.exit(0)},8000)`;
      const out = await runIn(r.ns('contoso-sql'), process.execPath, ['-e', js], { timeoutMs: 15_000 });
      expect(out.stdout.trim()).toBe('16');
      // dump-flows shows no addresses or ports of an IPv6 entry: the tracked IPv6 entries of sql's
      // port, out (sql's segments) and in (web's replies from the wire), each on both workers
      const flows = (await controlRequest(r.agents[0]!.socket, { op: 'dump-flows', port: 'contoso-sql' })) as { worker: number; direction: string; conntrack?: string; match: { ethertype: string } }[];
      for (const direction of ['out', 'in']) {
        const tracked = flows.filter((f) => f.direction === direction && f.match.ethertype === '0x86dd' && f.conntrack !== undefined);
        expect([...new Set(tracked.map((f) => f.worker))].sort(), direction).toEqual([0, 1]);
      }
    } finally {
      server.stop();
    }
  });

  it("a tenant's forged NA and RA are dropped at its port and change nothing at its neighbours", async () => {
    const dev = deriveIfname({ name: 'contoso-app' });
    const app = await startScapySender(r.ns('contoso-app'), { l2: dev });
    const before = await stats(0);
    try {
      await app.send([
        // "web's address is at my MAC" (override), to all nodes and to web itself
        `Ether(src='02:00:00:00:51:13', dst='33:33:00:00:00:01')/IPv6(src='${APP}', dst='ff02::1', hlim=255)/ICMPv6ND_NA(tgt='${WEB}', R=0, S=0, O=1)/ICMPv6NDOptDstLLAddr(lladdr='02:00:00:00:51:13')`,
        `Ether(src='02:00:00:00:51:13', dst='02:00:00:00:51:12')/IPv6(src='${APP}', dst='${WEB}', hlim=255)/ICMPv6ND_NA(tgt='fd00:1:1::1', R=1, S=0, O=1)/ICMPv6NDOptDstLLAddr(lladdr='02:00:00:00:51:13')`,
        // "I am a router for 2001:db8::/64"
        `Ether(src='02:00:00:00:51:13', dst='33:33:00:00:00:01')/IPv6(src='fe80::ff:fe00:5113', dst='ff02::1', hlim=255)/ICMPv6ND_RA(routerlifetime=9000)/ICMPv6NDOptPrefixInfo(prefix='2001:db8::', prefixlen=64)`,
      ]);
    } finally {
      app.stop();
    }
    const after = await stats(0);
    expect((after.drops['nd-ignored'] ?? 0) - (before.drops['nd-ignored'] ?? 0)).toBeGreaterThanOrEqual(3);
    // web still reaches the gateway and app by their real MACs; no 2001:db8::/64 anywhere
    expect((await ping(r.ns('contoso-web'), 'fd00:1:1::1', 1)).received).toBe(1);
    const routes = await runIn(r.ns('contoso-web'), 'ip', ['-6', 'route', 'show']);
    expect(routes.stdout).not.toContain('2001:db8');
    const neigh = await runIn(r.ns('contoso-web'), 'ip', ['-6', 'neigh', 'show', 'fd00:1:1::1']);
    expect(neigh.stdout).not.toContain('02:00:00:00:51:13');
  });

  it('PMTU: ping -6 -M do past the MTU gets packet too big with 1450 from the gateway; the route cache holds it', async () => {
    const ns = r.ns('contoso-app');
    const dev = deriveIfname({ name: 'contoso-app' });
    // the agent set 1450 (what fits); a tenant that raises it is the case this answers
    await runIn(ns, 'ip', ['link', 'set', 'dev', dev, 'mtu', '1600']);
    try {
      const before = await stats(0);
      const p = await runIn(ns, 'ping', ['-6', '-n', '-M', 'do', '-s', '1500', '-c', '3', '-i', '0.2', '-W', '1', WEB], { allowFail: true });
      expect(p.stdout + p.stderr).toMatch(/mtu ?[=:]? ?1450/i);
      const route = await runIn(ns, 'ip', ['-6', 'route', 'get', WEB]);
      expect(route.stdout).toMatch(/mtu 1450/);
      const after = await stats(0);
      expect((after.counters['icmpv6-packet-too-big'] ?? 0) - (before.counters['icmpv6-packet-too-big'] ?? 0)).toBeGreaterThanOrEqual(1);
      // what fits (1402 + 8 + 40 = 1450) still goes through
      const fits = await runIn(ns, 'ping', ['-6', '-n', '-M', 'do', '-s', '1402', '-c', '2', '-i', '0.2', '-W', '1', WEB], { allowFail: true });
      expect(fits.stdout).toMatch(/2 received/);
    } finally {
      await runIn(ns, 'ip', ['link', 'set', 'dev', dev, 'mtu', '1450']);
    }
  }, 30_000);
});
