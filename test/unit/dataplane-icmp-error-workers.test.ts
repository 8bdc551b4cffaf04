// An ICMP error about a tenant's own datagram, with more than one worker: each worker has its own
// connection table (agent/workers.ts), so the error is RELATED only on the worker that handled the
// datagram. Two forwarders stand in for the agent's two workers, and io/steering.ts steerWorker
// (what the TAP's and the uplinks' BPF programs compute) picks the one each frame reaches.
import { describe, expect, it } from 'vitest';
import type { Policy } from '../../src/policy/types.js';
import { countersToJson } from '../../src/dataplane/counters.js';
import { steerWorker } from '../../src/io/steering.js';
import { buildIcmpError, buildIpv4Udp, buildVxlan } from '../../src/wire/build/frames.js';
import { MAC, PA2, figure8, rig, type Rig } from '../helpers/vfp-fixtures.js';

const WORKERS = 2;

/** Figure 8 with contoso-sql denying every new inbound connection (as isolation-state's namespace test). */
function sqlDeniesInbound(): Policy {
  const p = figure8();
  const all = { protocol: 'All' as const, sourceAddressPrefix: '*', destinationAddressPrefix: '*', sourcePortRange: '*', destinationPortRange: '*' };
  p.accessControlLists = [{ name: 'deny-in', aclRules: [{ name: 'deny-new-inbound', ...all, action: 'Deny', type: 'Inbound', priority: 4000 }] }];
  p.networkInterfaces.find((n) => n.name === 'contoso-sql')!.accessControlList = 'deny-in';
  return p;
}

function drops(r: Rig): Record<string, number> {
  return Object.fromEntries(Object.entries(countersToJson(r.fwd.counters, r.snap).drops).filter(([, v]) => v > 0));
}

describe('ICMP errors with several workers', () => {
  it("web's port unreachable about each of sql's datagrams reaches sql, whichever worker the datagram took", () => {
    const workers = Array.from({ length: WORKERS }, () => rig(sqlDeniesInbound()));
    const udp = (sport: number) => buildIpv4Udp({ srcMac: MAC.contosoSql, dstMac: MAC.contosoWeb, srcIp: '10.1.1.11', dstIp: '10.1.1.12', srcPort: sport, dstPort: 9 });
    // web's kernel on host2 answers: it comes back VXLAN-encapsulated (from the UDP header on)
    const unreachable = (sport: number) =>
      buildIcmpError({ srcMac: MAC.contosoWeb, dstMac: MAC.contosoSql, srcIp: '10.1.1.12', dstIp: '10.1.1.11', invoking: udp(sport).subarray(14) });
    const used = new Set<number>();
    let delivered = 0;
    const SPORTS = 64;
    for (let sport = 40000; sport < 40000 + SPORTS; sport++) {
      const out = udp(sport);
      const w = workers[steerWorker(out, 0, out.length, WORKERS)]!;
      w.send('contoso-sql', out);
      expect(w.vx.pullAll()).toHaveLength(1);
      const err = unreachable(sport);
      const back = steerWorker(err, 0, err.length, WORKERS);
      used.add(back);
      workers[back]!.fromWire('vxlan', buildVxlan({ vni: 5001, inner: err }).slice(34), PA2);
      delivered += workers[back]!.pull('contoso-sql').length;
    }
    expect(delivered).toBe(SPORTS);
    expect(used.size).toBe(WORKERS); // the flows spread over both workers
    for (const w of workers) expect(drops(w)).toEqual({});

    // control: an error about a datagram sql never sent is still dropped by its inbound ACL
    const stray = unreachable(39999);
    const w = workers[steerWorker(stray, 0, stray.length, WORKERS)]!;
    w.fromWire('vxlan', buildVxlan({ vni: 5001, inner: stray }).slice(34), PA2);
    expect(w.pull('contoso-sql')).toHaveLength(0);
    expect(drops(w)).toEqual({ 'acl-deny': 1 });
  });
});
