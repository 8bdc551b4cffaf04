// Connection state across a worker restart: a ConnTrack built over a SharedArrayBuffer adopts what
// the previous table on that buffer left (entries that check out; half-written, unknown-state and
// timed-out ones are freed, quotas recounted, ids continue), and a Forwarder restarted on the same
// buffer still lets the reply direction of an established connection through a stateful ACL,
// while one started with an empty table (the old behaviour, `--no-keep-conntrack`) denies it.
import { describe, expect, it } from 'vitest';
import type { Policy } from '../../src/policy/types.js';
import { buildTcp, buildVxlan } from '../../src/wire/build/frames.js';
import { MAC, PA2, figure8, rig } from '../helpers/vfp-fixtures.js';
import { countersToJson } from '../../src/dataplane/counters.js';
import { ConnTrack, Ct, DEFAULT_CT_TIMEOUTS, conntrackBytes } from '../../src/vfp/conntrack.js';
import { FlowFields, K_IPV4, PROTO_TCP, PROTO_UDP } from '../../src/vfp/flowkey.js';
import { rule } from '../helpers/acl-rule.js';


/** contoso-sql: nothing inbound but replies (a stateful rule); everything outbound. */
function repliesOnly(): Policy {
  const p = figure8({
    accessControlLists: [{ name: 'sql', aclRules: [rule('deny-in', { action: 'Deny', priority: 4000 }), rule('all-out', { type: 'Outbound', priority: 100 })] }],
  });
  p.networkInterfaces.find((n) => n.name === 'contoso-sql')!.accessControlList = 'sql';
  return p;
}

const TCP_SYN = 0x02;
const TCP_SYNACK = 0x12;
const TCP_ACK = 0x10;
const webToSql = (sp: number, dp: number, flags = TCP_ACK) =>
  buildVxlan({ vni: 5001, inner: buildTcp({ srcMac: MAC.contosoWeb, dstMac: MAC.contosoSql, srcIp: '10.1.1.12', dstIp: '10.1.1.11', srcPort: sp, dstPort: dp, flags }) }).slice(34);
const sqlToWeb = (sp: number, dp: number, flags = TCP_ACK) =>
  buildTcp({ srcMac: MAC.contosoSql, dstMac: MAC.contosoWeb, srcIp: '10.1.1.11', dstIp: '10.1.1.12', srcPort: sp, dstPort: dp, flags });

function tcp(src: number, dst: number, sp: number, dp: number, flags: number, proto = PROTO_TCP): FlowFields {
  const f = new FlowFields();
  f.kind = K_IPV4;
  f.isIp = true;
  f.proto = proto;
  f.src = src;
  f.dst = dst;
  f.sport = sp;
  f.dport = dp;
  f.l4 = true;
  f.tcpFlags = flags;
  return f;
}

describe('conntrack across a worker restart', () => {
  const CAP = 1024;
  const T0 = 5_000_000;

  it('adopts the connections left on the shared buffer, frees what does not check out, recounts quotas', () => {
    const buf = new SharedArrayBuffer(conntrackBytes(CAP));
    const a = new ConnTrack(CAP, DEFAULT_CT_TIMEOUTS, 100, buf, T0);
    expect(a.restored).toBe(0);
    const est = a.create(7, tcp(1, 2, 1000, 80, TCP_ACK), T0, 3);
    const udp = a.create(7, tcp(1, 2, 53, 53, 0, PROTO_UDP), T0, 3);
    const torn = a.create(7, tcp(1, 2, 1001, 80, TCP_ACK), T0, 3);
    const unknown = a.create(7, tcp(1, 2, 1002, 80, TCP_ACK), T0, 4);
    const old = a.create(8, tcp(5, 6, 1003, 80, TCP_SYN), T0 - DEFAULT_CT_TIMEOUTS.synMs - 1, 4);
    for (const s of [est, udp, torn, unknown, old]) expect(s).toBeGreaterThanOrEqual(0);
    a.hash[torn] ^= 1; // as if killed between writing the key and the hash
    a.state[unknown] = 42;
    const maxId = Math.max(a.id[est], a.id[udp]);

    const b = new ConnTrack(CAP, DEFAULT_CT_TIMEOUTS, 100, buf, T0 + 10);
    expect(b.restored).toBe(2);
    expect(b.discarded).toBe(3);
    expect(b.count).toBe(2);
    expect(b.ownedBy(3)).toBe(2);
    expect(b.ownedBy(4)).toBe(0);
    // found from either side, with the side that opened it and its state
    const s = b.find(7, tcp(2, 1, 80, 1000, TCP_ACK), T0 + 10);
    expect(s).toBe(est);
    expect(b.direction(s, tcp(2, 1, 80, 1000, TCP_ACK))).toBe(1);
    expect(b.state[s]).toBe(Ct.Established);
    expect(b.find(7, tcp(1, 2, 53, 53, 0, PROTO_UDP), T0 + 10)).toBe(udp);
    expect(b.find(7, tcp(1, 2, 1001, 80, TCP_ACK), T0 + 10)).toBe(-1);
    expect(b.find(8, tcp(5, 6, 1003, 80, TCP_ACK), T0 + 10)).toBe(-1);
    // ids go on past the adopted ones (a flow-table entry can tell a reused slot)
    const fresh = b.create(9, tcp(3, 4, 1, 2, TCP_SYN), T0 + 10, 3);
    expect(b.id[fresh]).toBeGreaterThan(maxId);
  });

  it('refuses a buffer of the wrong size', () => {
    expect(() => new ConnTrack(CAP, DEFAULT_CT_TIMEOUTS, 100, new SharedArrayBuffer(conntrackBytes(CAP) - 8))).toThrow(/shared buffer/);
  });

  it('a forwarder restarted on the same buffer lets the established reply through; one with an empty table denies it', () => {
    const opts = { ctCapacity: CAP, ctShared: new SharedArrayBuffer(conntrackBytes(CAP)) };
    const before = rig(repliesOnly(), 'host1', opts);
    before.send('contoso-sql', sqlToWeb(40000, 5000, TCP_SYN));
    expect(before.vx.pullAll()).toHaveLength(1);
    before.fromWire('vxlan', webToSql(5000, 40000, TCP_SYNACK), PA2);
    before.send('contoso-sql', sqlToWeb(40000, 5000, TCP_ACK));
    before.fromWire('vxlan', webToSql(5000, 40000, TCP_ACK), PA2);
    expect(before.pull('contoso-sql')).toHaveLength(2);

    // the worker dies; its successor starts on the same shared table with an empty flow table
    const after = rig(repliesOnly(), 'host1', opts);
    after.clock.t = before.clock.t + 500;
    after.fromWire('vxlan', webToSql(5000, 40000, TCP_ACK), PA2);
    expect(after.pull('contoso-sql')).toHaveLength(1);
    const j = countersToJson(after.fwd.counters, after.snap);
    expect(j.counters['ct-restored']).toBe(1);
    expect(j.drops['acl-deny'] ?? 0).toBe(0);
    // a new inbound connection is still denied: only the adopted one is a reply
    after.fromWire('vxlan', webToSql(5001, 40001, TCP_SYN), PA2);
    expect(after.pull('contoso-sql')).toHaveLength(0);

    // without the shared table (the old behaviour): the reply of the same connection is denied
    const empty = rig(repliesOnly(), 'host1', { ctCapacity: CAP });
    empty.fromWire('vxlan', webToSql(5000, 40000, TCP_ACK), PA2);
    expect(empty.pull('contoso-sql')).toHaveLength(0);
    expect(countersToJson(empty.fwd.counters, empty.snap).drops['acl-deny']).toBe(1);
  });
});
