// A stateful ACL on an External switch port with two workers (issue 14's switches): the VM's
// outgoing frames reach a worker by the TAP's steering program (io/steering.ts), the LAN's replies
// by the bound NIC's AF_PACKET fanout group. Each worker has its own connection table, so a reply
// must reach the worker that saw its request, or the port's inbound ACL (deny all) drops it as
// acl-deny. With the kernel's own fanout hash (PACKET_FANOUT_HASH) about half of all flows lost
// their replies; the group now runs the same steering program (PACKET_FANOUT_CBPF). The same for a
// VM on an Internal switch, whose peers (the host, and through the host's NAT the outside network)
// answer through the host vNIC, a TAP steered like the VM's.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { controlRequest } from '../../src/agent/control-client.js';
import { runIn, spawnIn, waitFor } from '../../src/lab/run.js';
import { INT_HOST, LAN_PEER, OUT_PEER, VM_MAC, createSwitchLab, type SwitchLab } from '../../src/lab/vswitch.js';
import { flowWorker } from '../../src/io/steering.js';
import type { Policy } from '../../src/policy/types.js';
import { ROOT_ONLY } from '../helpers/prerequisites.js';

const PY = '/usr/bin/python3';
const WORKERS = 2;
const VM_E = '10.60.0.20';
const VM_C = '172.30.0.10';
const UDP_PORT = 7007;
const TCP_PORT = 7008;

/** An External switch (vm-e) and an Internal one with a NAT (vm-c), each VM's port with an ACL:
 * outbound allowed, inbound denied. */
function policy(): Policy {
  const deny = { name: 'deny-in', protocol: 'All' as const, sourceAddressPrefix: '*', destinationAddressPrefix: '*', sourcePortRange: '*', destinationPortRange: '*', action: 'Deny' as const, type: 'Inbound' as const, priority: 4096, logging: true };
  const allow = { ...deny, name: 'allow-out', action: 'Allow' as const, type: 'Outbound' as const, priority: 100 };
  return {
    hosts: [{ name: 'h1', providerAddresses: ['192.168.50.1'] }],
    virtualNetworks: [],
    accessControlLists: [{ name: 'out-only', aclRules: [allow, deny] }],
    switches: [
      { name: 'ext', switchType: 'External', netAdapterName: 'ext0' },
      { name: 'int', switchType: 'Internal', hostAddress: `${INT_HOST}/24` },
    ],
    nats: [{ name: 'labnat', internalIPInterfaceAddressPrefix: '172.30.0.0/24', staticMappings: [] }],
    networkInterfaces: [
      { name: 'vm-e', host: 'h1', switch: 'ext', macAddress: VM_MAC.e, netns: 'vm-e', accessControlList: 'out-only' },
      { name: 'vm-c', host: 'h1', switch: 'int', macAddress: VM_MAC.c, netns: 'vm-c', accessControlList: 'out-only' },
    ],
  };
}

/** `count` source ports, as many steered to each worker by the TAP (flowWorker), from `from`. */
function sourcePorts(vm: string, peer: string, count: number, dport: number, from: number): number[] {
  const ip = (a: string) => a.split('.').reduce((x, o) => x * 256 + Number(o), 0);
  const out: number[] = [];
  for (let p = from; out.length < count; p++) {
    if (flowWorker(ip(vm), ip(peer), p ^ dport, WORKERS) === out.length % WORKERS) out.push(p);
  }
  return out;
}

const SERVERS = [
  'import socket, threading',
  'u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)',
  `u.bind(('0.0.0.0', ${UDP_PORT}))`,
  'def echo():',
  '    while True:',
  '        d, a = u.recvfrom(64)',
  '        u.sendto(d, a)',
  'threading.Thread(target=echo, daemon=True).start()',
  't = socket.socket()',
  't.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)',
  `t.bind(('0.0.0.0', ${TCP_PORT}))`,
  't.listen(64)',
  // connections stay open: a teardown's last segments are not what this test counts
  'held = []',
  'while True:',
  '    c, _ = t.accept()',
  "    c.sendall(b'hi')",
  '    held.append(c)',
].join('\n');

// every flow at once (threads), each with its own source port: prints one 0/1 per flow
const CLIENT = [
  'import socket, sys, threading',
  'peer = sys.argv[1]',
  'udp = [int(p) for p in sys.argv[2].split(",")]',
  'tcp = [int(p) for p in sys.argv[3].split(",")]',
  'res = {}',
  'def u(p):',
  '    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)',
  "    s.bind(('0.0.0.0', p))",
  '    s.settimeout(0.7)',
  `    s.connect((peer, ${UDP_PORT}))`,
  '    ok = 0',
  '    for _ in range(3):',
  "        s.send(b'x')",
  '        try:',
  '            s.recv(64); ok = 1; break',
  '        except socket.timeout:',
  '            pass',
  "    res['udp/%d' % p] = ok",
  'def t(p):',
  '    s = socket.socket()',
  '    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)',
  "    s.bind(('0.0.0.0', p))",
  '    s.settimeout(2.5)',
  '    try:',
  `        s.connect((peer, ${TCP_PORT}))`,
  "        ok = 1 if s.recv(16) == b'hi' else 0",
  '    except OSError:',
  '        ok = 0',
  "    res['tcp/%d' % p] = ok",
  'th = [threading.Thread(target=u, args=(p,)) for p in udp] + [threading.Thread(target=t, args=(p,)) for p in tcp]',
  'for x in th: x.start()',
  'for x in th: x.join()',
  'print(" ".join("%s=%d" % kv for kv in sorted(res.items())))',
].join('\n');

describe('switch ports with a stateful ACL, two workers: replies reach the worker of their flow', ROOT_ONLY, () => {
  let lab: SwitchLab;
  const servers: ReturnType<typeof spawnIn>[] = [];
  const stats = async () =>
    (await controlRequest(lab.agent!.socket, { op: 'stats' })) as { drops: Record<string, number>; nicFanoutFallbacks: number };
  beforeAll(async () => {
    lab = await createSwitchLab();
    // no IPv6 anywhere: the inbound deny rule refuses the neighbour discovery and MLD the hosts
    // send by themselves (untracked, frame by frame), which would blur the count of IPv4 refusals
    const noIpv6 = (ns: string) => runIn(ns, 'sysctl', ['-q', '-w', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
    for (const ns of [lab.host, lab.lan, lab.out]) await noIpv6(ns);
    await lab.start(policy(), ['--workers', String(WORKERS)]);
    await noIpv6(lab.ns('vm-e'));
    await noIpv6(lab.ns('vm-c'));
    await lab.vmAddr('vm-e', `${VM_E}/24`);
    await lab.vmAddr('vm-c', `${VM_C}/24`, INT_HOST);
    // the same servers on the LAN peer, the host (its vNIC address) and the outside network (NAT)
    for (const ns of [lab.lan, lab.host, lab.out]) {
      servers.push(spawnIn(ns, PY, ['-c', SERVERS]));
      await waitFor(async () => (await runIn(ns, 'ss', ['-Htln', `sport = :${TCP_PORT}`])).stdout.includes(String(TCP_PORT)), 5_000, `servers in ${ns}`);
    }
  }, 60_000);
  afterAll(async () => {
    for (const s of servers) s.kill();
    await lab?.destroy();
  });

  let attempt = 0;
  const cases = [
    { what: 'External switch: to the LAN, replies through the NIC (AF_PACKET fanout group)', vm: 'vm-e', ip: VM_E, peer: LAN_PEER },
    { what: "Internal switch: to the host, replies through the host vNIC (TAP)", vm: 'vm-c', ip: VM_C, peer: INT_HOST },
    { what: "Internal switch + NAT: to the outside network, replies through the host vNIC", vm: 'vm-c', ip: VM_C, peer: OUT_PEER },
  ];
  for (const c of cases) {
    it(`${c.what}: every UDP and TCP flow the VM starts gets its replies through the inbound-deny ACL`, async () => {
      // fresh source ports on every run: a server still holds the connections of an earlier one
      const base = 41000 + 200 * attempt++;
      const udp = sourcePorts(c.ip, c.peer, 12, UDP_PORT, base);
      const tcp = sourcePorts(c.ip, c.peer, 6, TCP_PORT, base + 100);
      const before = await stats();
      const out = (await runIn(lab.ns(c.vm), PY, ['-c', CLIENT, c.peer, udp.join(','), tcp.join(',')], { timeoutMs: 20_000 })).stdout.trim();
      const after = await stats();
      const failed = out.split(' ').filter((x) => x.endsWith('=0'));
      const denied = (after.drops['acl-deny'] ?? 0) - (before.drops['acl-deny'] ?? 0);
      console.log(`${c.what}: flows ${udp.length + tcp.length}, without reply ${failed.length} (${failed.join(' ')}), acl-deny ${denied}, nicFanoutFallbacks ${after.nicFanoutFallbacks}`);
      // the deny rule logs each flow it refuses: the lines say which when this fails
      const refused = lab.agent!.log.join('').split('\n').filter((l) => l.includes('acl flow') && l.includes('"verdict":"deny"'));
      expect(failed).toEqual([]);
      expect(denied, refused.join('\n')).toBe(0);
      expect(out.split(' ')).toHaveLength(udp.length + tcp.length);
      expect(after.nicFanoutFallbacks).toBe(0);
    });
  }
});
