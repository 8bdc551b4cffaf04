// A connection on a virtual switch belongs to its two ports (README "Virtual switches": "Whose
// connection is it"). The switch's ports share one conntrack zone and VMs set their own IP
// addresses, so a third port could send another conversation's 5-tuple: its forged reply passed
// as that connection's return traffic (skipping its outbound and the receiver's inbound rules), its
// forged orig-direction segment ended or closed the connection, its forged ICMP error passed as
// "related". Only a party of the connection may use its state; anything else is decided by the
// sending port's own rules as a new frame, and leaves the connection alone.
import { describe, expect, it } from 'vitest';
import { buildArpRequest, buildIcmpError, buildTcp, buildTcpPacket } from '../../src/wire/build/frames.js';
import { figure8, rig } from '../helpers/vfp-fixtures.js';
import { C, countersToJson } from '../../src/dataplane/counters.js';
import type { AclRule, Policy } from '../../src/policy/types.js';

const M = { c: '02:00:00:00:05:0c', d: '02:00:00:00:05:0d', e: '02:00:00:00:05:0e', g: '02:00:00:00:05:0f' };
const IP = { c: '172.31.0.10', d: '172.31.0.11', e: '172.31.0.12', g: '172.31.0.13' };
type Vm = keyof typeof M;

const rule = (name: string, type: 'Inbound' | 'Outbound', protocol: AclRule['protocol'], dport: string): AclRule => ({
  name, protocol, sourceAddressPrefix: '*', destinationAddressPrefix: '*', sourcePortRange: '*', destinationPortRange: dport, action: 'Allow', type, priority: 100,
});

/** vm-c: outbound UDP 53 only; vm-d: outbound TCP, inbound TCP 22 only (so what reaches it on
 * another port must be a reply); vm-e: no rules; vm-g: outbound TCP, inbound UDP 53 only. */
function policy(): Policy {
  const base = figure8();
  return {
    ...base,
    accessControlLists: [
      { name: 'dns-out', aclRules: [rule('dns', 'Outbound', 'UDP', '53')] },
      { name: 'client', aclRules: [rule('tcp-out', 'Outbound', 'TCP', '*'), rule('ssh-in', 'Inbound', 'TCP', '22')] },
      { name: 'tcp-out-dns-in', aclRules: [rule('tcp-out', 'Outbound', 'TCP', '*'), rule('dns-in', 'Inbound', 'UDP', '53')] },
    ],
    switches: [{ name: 'priv', switchType: 'Private' }],
    nats: [],
    networkInterfaces: [
      ...base.networkInterfaces,
      { name: 'vm-c', host: 'host1', switch: 'priv', macAddress: M.c, accessControlList: 'dns-out' },
      { name: 'vm-d', host: 'host1', switch: 'priv', macAddress: M.d, accessControlList: 'client' },
      { name: 'vm-e', host: 'host1', switch: 'priv', macAddress: M.e },
      { name: 'vm-g', host: 'host1', switch: 'priv', macAddress: M.g, accessControlList: 'tcp-out-dns-in' },
    ],
  };
}

/** A TCP segment on `from`'s port, with `src`'s and `dst`'s addresses (its own MAC: switch-guard
 * checks only that). */
const seg = (from: Vm, src: Vm, dst: Vm, sport: number, dport: number, flags: number, dstMac = M[dst]) =>
  buildTcp({ srcMac: M[from], dstMac, srcIp: IP[src], dstIp: IP[dst], srcPort: sport, dstPort: dport, flags });

const SYN = 0x02;
const SYN_ACK = 0x12;
const ACK = 0x10;
const RST = 0x04;

/** The rig with every VM's MAC learned (`before` runs then), and vm-d's connection 40000 ->
 * vm-e:80 opened (SYN). */
function opened(before?: (r: ReturnType<typeof rig>) => void) {
  const r = rig(policy());
  for (const v of ['c', 'd', 'e', 'g'] as Vm[]) r.send(`vm-${v}`, buildArpRequest({ srcMac: M[v], senderMac: M[v], senderIp: IP[v], targetIp: '172.31.0.1' }));
  for (const v of ['c', 'd', 'e', 'g']) r.pull(`vm-${v}`);
  before?.(r);
  r.send('vm-d', seg('d', 'd', 'e', 40000, 80, SYN));
  expect(r.pull('vm-e')).toHaveLength(1);
  const denied = (): number => countersToJson(r.fwd.counters, r.snap).drops['acl-deny'] ?? 0;
  /** vm-e's SYN-ACK: the legitimate reply reaches vm-d past its inbound rules (TCP 22 only). */
  const replyPasses = (): boolean => {
    r.send('vm-e', seg('e', 'e', 'd', 80, 40000, SYN_ACK));
    return r.pull('vm-d').length === 1;
  };
  return { r, denied, replyPasses };
}

describe('a connection on a virtual switch belongs to its ports', () => {
  it('a third port\'s forged SYN-ACK meets its own outbound rules and is denied; the real one passes', () => {
    const { r, denied, replyPasses } = opened();
    // vm-c (UDP 53 out only) speaks for vm-e: the connection is not its own
    r.send('vm-c', seg('c', 'e', 'd', 80, 40000, SYN_ACK));
    expect(r.pull('vm-d')).toHaveLength(0);
    expect(denied()).toBe(1);
    // the connection is untouched: vm-e's own reply passes, and the handshake completes
    expect(replyPasses()).toBe(true);
    r.send('vm-d', seg('d', 'd', 'e', 40000, 80, ACK));
    expect(r.pull('vm-e')).toHaveLength(1);
    expect(denied()).toBe(1);
  });

  it('a forged reply from a port without outbound rules still meets the receiver\'s inbound rules', () => {
    const { r, denied } = opened();
    // vm-g's outbound rules allow TCP, but vm-d's inbound rules (TCP 22) do not take it as new
    r.send('vm-g', seg('g', 'e', 'd', 80, 40000, SYN_ACK));
    expect(r.pull('vm-d')).toHaveLength(0);
    expect(denied()).toBe(1);
  });

  it('a third port\'s forged orig-direction segment neither ends nor closes the connection', () => {
    const { r, denied, replyPasses } = opened();
    // denied by vm-c's rules: before, the denial ended vm-d's connection ("a denied orig direction")
    r.send('vm-c', seg('c', 'd', 'e', 40000, 80, RST));
    expect(r.pull('vm-e')).toHaveLength(0);
    expect(denied()).toBe(1);
    // allowed by vm-g's rules (TCP out; vm-e has none): delivered as a new frame of vm-g's, but
    // before, this RST was tracked as vm-d's and closed the connection
    r.send('vm-g', seg('g', 'd', 'e', 40000, 80, RST));
    expect(r.pull('vm-e')).toHaveLength(1);
    expect(r.fwd.ct.count).toBe(1);
    expect(replyPasses()).toBe(true);
    expect(denied()).toBe(1);
  });

  it('a forged ICMP error about the connection is not "related" from a third port; from vm-e it is', () => {
    const { r, denied } = opened();
    const invoking = buildTcpPacket({ srcIp: IP.d, dstIp: IP.e, srcPort: 40000, dstPort: 80, flags: SYN });
    const err = (from: Vm) => buildIcmpError({ srcMac: M[from], dstMac: M.d, srcIp: IP.e, dstIp: IP.d, invoking });
    r.send('vm-c', err('c'));
    expect(r.pull('vm-d')).toHaveLength(0);
    expect(denied()).toBe(1);
    r.send('vm-g', err('g')); // vm-g's rules allow TCP out, not ICMP
    expect(r.pull('vm-d')).toHaveLength(0);
    expect(denied()).toBe(2);
    r.send('vm-e', err('e')); // the connection's receiver: related, past vm-d's inbound rules
    expect(r.pull('vm-d')).toHaveLength(1);
    expect(denied()).toBe(2);
  });

  it('the legitimate reply is cached as the reply of the connection; the cache lets no third port through', () => {
    const { r, denied, replyPasses } = opened();
    expect(replyPasses()).toBe(true);
    const replyFlow = r.fwd.dumpFlows().filter((f) => f.port === 'vm-e');
    expect(replyFlow).toHaveLength(1);
    expect(replyFlow[0]).toMatchObject({ output: 'vm-d', conntrack: 'syn-recv', match: { srcIp: IP.e, dstIp: IP.d, srcPort: 80, dstPort: 40000 } });
    const hits = r.fwd.counters.global[C.UftHits];
    r.send('vm-e', seg('e', 'e', 'd', 80, 40000, ACK));
    expect(r.pull('vm-d')).toHaveLength(1);
    expect(r.fwd.counters.global[C.UftHits]).toBe(hits + 1);
    // the same 5-tuple from vm-c is another flow-table key (the input port is in it): a miss,
    // decided by vm-c's rules, never cached as a reply
    r.send('vm-c', seg('c', 'e', 'd', 80, 40000, ACK));
    r.send('vm-c', seg('c', 'e', 'd', 80, 40000, ACK));
    expect(r.pull('vm-d')).toHaveLength(0);
    expect(denied()).toBe(2);
    expect(r.fwd.counters.global[C.UftHits]).toBe(hits + 1);
    r.send('vm-e', seg('e', 'e', 'd', 80, 40000, ACK));
    expect(r.pull('vm-d')).toHaveLength(1);
    expect(r.fwd.counters.global[C.UftHits]).toBe(hits + 2);
    expect(r.fwd.dumpFlows().filter((f) => f.port === 'vm-c')).toHaveLength(0);
  });

  it('a denial vm-c\'s rules made before the connection existed stays cached: the connection is not vm-c\'s', () => {
    const { r, denied, replyPasses } = opened((r0) => {
      r0.send('vm-c', seg('c', 'e', 'd', 80, 40000, SYN_ACK));
      expect(r0.pull('vm-d')).toHaveLength(0);
    });
    expect(denied()).toBe(1);
    const g = r.fwd.counters.global;
    const [hits, revalidated] = [g[C.UftHits], g[C.UftRevalidated]];
    // now the 5-tuple is the reply of vm-d's connection with vm-e: the cached denial of vm-c's
    // frame is asked again, and stands (the connection's receiver is vm-e)
    r.send('vm-c', seg('c', 'e', 'd', 80, 40000, SYN_ACK));
    expect(r.pull('vm-d')).toHaveLength(0);
    expect(denied()).toBe(2);
    expect([g[C.UftHits], g[C.UftRevalidated]]).toEqual([hits + 1, revalidated]);
    expect(replyPasses()).toBe(true);
  });

  it('a flooded connection belongs to the first port that took its copy and answers', () => {
    const r = rig(policy());
    const denied = (): number => countersToJson(r.fwd.counters, r.snap).drops['acl-deny'] ?? 0;
    // nothing learned: vm-d's SYN is flooded; vm-c and vm-e (no inbound rules) take it, vm-g
    // (inbound UDP 53 only) refuses its copy
    r.send('vm-d', seg('d', 'd', 'e', 40000, 80, SYN));
    expect(r.pull('vm-e')).toHaveLength(1);
    expect(r.pull('vm-c')).toHaveLength(1);
    expect(r.pull('vm-g')).toHaveLength(0);
    expect(denied()).toBe(1);
    // vm-g never took it: its "reply" is its own new frame, and vm-d's inbound rules refuse it
    r.send('vm-g', seg('g', 'e', 'd', 80, 40000, SYN_ACK));
    expect(r.pull('vm-d')).toHaveLength(0);
    expect(denied()).toBe(2);
    // vm-e answers: it becomes the receiver ...
    r.send('vm-e', seg('e', 'e', 'd', 80, 40000, SYN_ACK));
    expect(r.pull('vm-d')).toHaveLength(1);
    // ... so vm-c, which also had its copy, cannot answer for it any more
    r.send('vm-c', seg('c', 'e', 'd', 80, 40000, SYN_ACK));
    expect(r.pull('vm-d')).toHaveLength(0);
    expect(denied()).toBe(3);
  });

  it('a flood that continues a connection: a copy refused by another port than its receiver leaves it', () => {
    const { r, denied, replyPasses } = opened();
    expect(replyPasses()).toBe(true);
    // vm-d sends its next segment to a MAC nobody has: flooded; vm-g refuses its copy (UDP 53 in)
    r.send('vm-d', seg('d', 'd', 'e', 40000, 80, ACK, '02:00:00:00:05:99'));
    expect(r.pull('vm-e')).toHaveLength(1);
    expect(r.pull('vm-g')).toHaveLength(0);
    expect(denied()).toBe(1);
    // vm-g is no party of it: before, its refusal ended the connection and this reply was denied
    r.send('vm-e', seg('e', 'e', 'd', 80, 40000, ACK));
    expect(r.pull('vm-d')).toHaveLength(1);
    expect(denied()).toBe(1);
  });

  it('trace says why a forged frame was decided by its port\'s own rules, and changes nothing', () => {
    const { r } = opened();
    const t = r.fwd.trace('vm-c', seg('c', 'e', 'd', 80, 40000, SYN_ACK), 'out');
    expect(t.verdict).toBe('drop');
    const ct = t.steps.find((s) => s.layer === 'conntrack')!;
    expect(ct.rule).toMatch(/opened by vm-d, delivered to vm-e/);
    expect(ct.action).toMatch(/vm-c took no part in it: its own rules decide/);
    expect(t.steps.find((s) => s.layer === 'acl-out')!.action).toMatch(/deny/);
    // the legitimate reply's trace: the reply direction
    const ok = r.fwd.trace('vm-e', seg('e', 'e', 'd', 80, 40000, SYN_ACK), 'out');
    expect(ok.verdict).toBe('forward');
    expect(ok.steps.find((s) => s.layer === 'conntrack')!.action).toMatch(/reply direction: allow/);
  });
});
