// ACLs on switch ports (issue 14): a VM port of a Hyper-V style switch with an accessControlList
// runs acl-out (before the switch decides) and acl-in (on every frame written to it, each flooded
// copy too), stateful, connections tracked in the switch's zone; ARP passes (ACLs are for IP).
import { describe, expect, it } from 'vitest';
import { buildArpRequest, buildIpv4Udp, buildIpv6Tcp, buildTcp } from '../../src/wire/build/frames.js';
import { figure8, rig } from '../helpers/vfp-fixtures.js';
import { countersToJson } from '../../src/dataplane/counters.js';
import { parsePolicy } from '../../src/policy/validate.js';
import type { Policy } from '../../src/policy/types.js';
import { hostPortName } from '../../src/vfp/switch-compile.js';

const M = { c: '02:00:00:00:04:0c', d: '02:00:00:00:04:0d' };
const C_IP = '172.30.0.10';
const D_IP = '172.30.0.11';

function aclPolicy(): Policy {
  const base = figure8();
  return {
    ...base,
    accessControlLists: [{
      name: 'web-only',
      aclRules: [{ name: 'http-in', protocol: 'TCP', sourceAddressPrefix: '*', destinationAddressPrefix: '*', sourcePortRange: '*', destinationPortRange: '80', action: 'Allow', type: 'Inbound', priority: 100 }],
    }],
    switches: [{ name: 'int', switchType: 'Internal', hostAddress: '172.30.0.1/24' }],
    nats: [],
    networkInterfaces: [
      ...base.networkInterfaces,
      { name: 'vm-c', host: 'host1', switch: 'int', macAddress: M.c, accessControlList: 'web-only' },
      { name: 'vm-d', host: 'host1', switch: 'int', macAddress: M.d },
    ],
  };
}

const tcp = (src: string, dst: string, srcIp: string, dstIp: string, sport: number, dport: number, flags: number) => buildTcp({ srcMac: src, dstMac: dst, srcIp, dstIp, srcPort: sport, dstPort: dport, flags });

describe('ACLs on switch ports', () => {
  it('the policy takes an accessControlList on a switch interface', () => {
    const r = parsePolicy(aclPolicy());
    expect(r.ok ? [] : r.errors).toEqual([]);
  });

  it('a flooded copy meets the port\'s inbound rules; the others get theirs; ARP passes', () => {
    const r = rig(aclPolicy());
    r.send('vm-d', buildIpv4Udp({ srcMac: M.d, dstMac: M.c, srcIp: D_IP, dstIp: C_IP, srcPort: 1, dstPort: 53 }));
    expect(r.pull('vm-c')).toHaveLength(0);
    expect(r.pull(hostPortName('int'))).toHaveLength(1);
    expect(countersToJson(r.fwd.counters, r.snap).drops['acl-deny']).toBe(1);
    r.send('vm-d', buildArpRequest({ srcMac: M.d, senderMac: M.d, senderIp: D_IP, targetIp: C_IP }));
    expect(r.pull('vm-c')).toHaveLength(1);
    r.send('vm-d', tcp(M.d, M.c, D_IP, C_IP, 40000, 80, 0x02));
    expect(r.pull('vm-c')).toHaveLength(1);
    const layers = r.snap.ports.find((p) => p.name === 'vm-c')!;
    expect(layers.layersOut.map((l) => l.name)).toEqual(['switch-guard', 'acl-out', 'switch']);
    expect(layers.layersIn.map((l) => l.name)).toEqual(['acl-in']);
  });

  it('is stateful: the reply of a connection the port opened passes its inbound rules, flooded or not', () => {
    const r = rig(aclPolicy());
    // vm-d unknown yet: vm-c's SYN is flooded, and the connection starts there
    r.send('vm-c', tcp(M.c, M.d, C_IP, D_IP, 40001, 5000, 0x02));
    expect(r.pull('vm-d')).toHaveLength(1);
    r.send('vm-d', tcp(M.d, M.c, D_IP, C_IP, 5000, 40001, 0x12));
    expect(r.pull('vm-c')).toHaveLength(1);
    // a new connection from vm-d to a port the rules do not allow: denied (known unicast now)
    r.send('vm-d', tcp(M.d, M.c, D_IP, C_IP, 5001, 22, 0x02));
    expect(r.pull('vm-c')).toHaveLength(0);
    expect(countersToJson(r.fwd.counters, r.snap).drops['acl-deny']).toBe(1);
  });

  it('IPv6 through a switch port\'s ACL is decided by its rules alone: another flow never passes as a reply', () => {
    // found by the property test: a VM's own IPv6 addresses are not in policy, so they all shared one
    // id (vfp/ip6.ts) and connection tracking took (A:40000 -> B:80) for the reply of any (C:80 -> D:40000)
    const r = rig(aclPolicy());
    const v6 = (src: string, dst: string, srcIp6: string, dstIp6: string, sport: number, dport: number) => buildIpv6Tcp({ srcMac: src, dstMac: dst, srcIp6, dstIp6, srcPort: sport, dstPort: dport, flags: 0x02 });
    // vm-c (web-only: inbound TCP 80) opens fe80::c:80 -> fe80::99:40000 (allowed out; no rules out)
    r.send('vm-c', v6(M.c, M.d, 'fe80::c', 'fe80::99', 80, 40000));
    expect(r.pull('vm-d')).toHaveLength(1);
    // vm-d sends an unrelated flow to vm-c on port 22: its rules deny it
    r.send('vm-d', v6(M.d, M.c, 'fe80::d', 'fe80::77', 40000, 22));
    expect(r.pull('vm-c')).toHaveLength(0);
    // ... and the same ports reversed from other addresses: not a reply either (was delivered)
    r.send('vm-d', v6(M.d, M.c, 'fe80::d', 'fe80::c', 40000, 80 + 1));
    expect(r.pull('vm-c')).toHaveLength(0);
    r.send('vm-d', v6(M.d, M.c, 'fe80::5', 'fe80::6', 40000, 80));
    expect(r.pull('vm-c')).toHaveLength(1); // port 80 is allowed by the rule itself
    const before = countersToJson(r.fwd.counters, r.snap).drops['acl-deny'];
    r.send('vm-c', v6(M.c, M.d, 'fe80::c', 'fe80::99', 22, 40000));
    r.send('vm-d', v6(M.d, M.c, 'fe80::1', 'fe80::2', 40000, 22));
    expect(r.pull('vm-c')).toHaveLength(0);
    expect(countersToJson(r.fwd.counters, r.snap).drops['acl-deny']).toBe(before + 1);
  });

  it('broadcast is never tracked: a broadcast with a connection\'s reply addresses meets every inbound ACL', () => {
    // found by the property test: a sender with rules ran conntrack at acl-out, before the switch
    // layer marked the frame a group one, so a broadcast "reply" skipped every copy's acl-in
    const p = aclPolicy();
    const r = rig({ ...p, networkInterfaces: p.networkInterfaces.map((n) => (n.name === 'vm-d' ? { ...n, accessControlList: 'web-only' } : n)) });
    r.send('vm-d', tcp(M.d, 'ff:ff:ff:ff:ff:ff', D_IP, '172.30.0.1', 40000, 5000, 0x02));
    expect(r.pull(hostPortName('int'))).toHaveLength(1);
    expect(r.pull('vm-c')).toHaveLength(0); // web-only: TCP 80 only
    // vm-d (switch ports may use any IP) sends the reverse tuple broadcast: not a reply, vm-c's rules deny it
    r.send('vm-d', tcp(M.d, 'ff:ff:ff:ff:ff:ff', '172.30.0.1', D_IP, 5000, 40000, 0x12));
    expect(r.pull('vm-c')).toHaveLength(0);
  });

  it('a flooded frame only ports with rules refused starts no connection: the refusing port cannot "reply" past its outbound rules', () => {
    // found by the property test (seed 303081): a SYN flooded from a port without rules, refused by
    // vm-c's acl-in but taken by the host vNIC (no rules), started a connection in the switch's zone,
    // and vm-c's SYN-ACK for it then skipped vm-c's outbound rules as a "reply"
    const p = aclPolicy();
    const r = rig({
      ...p,
      accessControlLists: [{
        name: 'web-in-dns-out',
        aclRules: [
          { name: 'http-in', protocol: 'TCP', sourceAddressPrefix: '*', destinationAddressPrefix: '*', sourcePortRange: '*', destinationPortRange: '80', action: 'Allow', type: 'Inbound', priority: 100 },
          { name: 'dns-out', protocol: 'UDP', sourceAddressPrefix: '*', destinationAddressPrefix: '*', sourcePortRange: '*', destinationPortRange: '53', action: 'Allow', type: 'Outbound', priority: 100 },
        ],
      }],
      networkInterfaces: p.networkInterfaces.map((n) => (n.name === 'vm-c' ? { ...n, accessControlList: 'web-in-dns-out' } : n)),
    });
    const denied = (): number => countersToJson(r.fwd.counters, r.snap).drops['acl-deny'] ?? 0;
    // vm-d (no rules) -> an unknown MAC: flooded; vm-c refuses its copy (443), the host vNIC takes it
    r.send('vm-d', tcp(M.d, '02:00:00:00:04:99', D_IP, C_IP, 80, 443, 0x02));
    expect(r.pull(hostPortName('int'))).toHaveLength(1);
    expect(r.pull('vm-c')).toHaveLength(0);
    expect(denied()).toBe(1);
    // vm-c never took that SYN: its SYN-ACK meets its outbound rules (UDP 53 only) and is denied
    r.send('vm-c', tcp(M.c, M.d, C_IP, D_IP, 443, 80, 0x12));
    expect(r.pull('vm-d')).toHaveLength(0);
    expect(denied()).toBe(2);
    // a flooded SYN vm-c's rules let in (80) does start the connection: vm-c's reply passes
    r.send('vm-d', tcp(M.d, '02:00:00:00:04:99', D_IP, C_IP, 40000, 80, 0x02));
    expect(r.pull('vm-c')).toHaveLength(1);
    r.send('vm-c', tcp(M.c, M.d, C_IP, D_IP, 80, 40000, 0x12));
    expect(r.pull('vm-d')).toHaveLength(1);
    expect(denied()).toBe(2);
  });
});
