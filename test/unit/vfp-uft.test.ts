// The unified flow table: exact-match lookups, bounded size with LRU eviction in the probe
// window, idle expiry, and (through the Forwarder) hits, generations and cached denials.
import { describe, expect, it } from 'vitest';
import { FlowTable } from '../../src/vfp/uft.js';
import { KEY_WORDS, hashKey } from '../../src/vfp/flowkey.js';
import { compileSnapshot } from '../../src/vfp/snapshot.js';
import { C } from '../../src/dataplane/counters.js';
import { countersToJson } from '../../src/dataplane/counters.js';
import { buildIpv4Udp } from '../../src/wire/build/frames.js';
import { MAC, PA3, figure8, ipNum, rig } from '../helpers/vfp-fixtures.js';

function key(n: number): Uint32Array {
  const k = new Uint32Array(KEY_WORDS);
  k[0] = 1;
  k[6] = 0x0a010101;
  k[8] = n;
  return k;
}

describe('FlowTable', () => {
  it('finds what it stored by full key, not by hash alone', () => {
    const t = new FlowTable(1024, 1000);
    const a = key(1);
    const s = t.insert(a, hashKey(a), 0);
    t.action[s] = 42;
    expect(t.lookup(a, hashKey(a), 10)).toBe(s);
    const b = key(2);
    expect(t.lookup(b, hashKey(a), 10)).toBe(-1); // same hash, other key
    expect(t.count).toBe(1);
  });

  it('is bounded: a full window evicts its least recently hit entry, counted', () => {
    const t = new FlowTable(8, 1_000_000); // one window
    const keys = Array.from({ length: 9 }, (_, i) => key(i));
    keys.slice(0, 8).forEach((k, i) => t.insert(k, hashKey(k), i));
    t.lastHit[t.lookup(keys[0], hashKey(keys[0]), 100)] = 100; // key 0 recently used
    t.insert(keys[8], hashKey(keys[8]), 200);
    expect(t.stats.evictions).toBe(1);
    expect(t.count).toBe(8);
    expect(t.lookup(keys[1], hashKey(keys[1]), 200)).toBe(-1); // the oldest went
    expect(t.lookup(keys[0], hashKey(keys[0]), 200)).toBeGreaterThanOrEqual(0);
    expect(t.lookup(keys[8], hashKey(keys[8]), 200)).toBeGreaterThanOrEqual(0);
  });

  it('expires idle entries on lookup and by sweeping', () => {
    const t = new FlowTable(64, 1000);
    const a = key(1);
    const b = key(2);
    t.insert(a, hashKey(a), 0);
    t.insert(b, hashKey(b), 0);
    expect(t.lookup(a, hashKey(a), 1001)).toBe(-1);
    expect(t.sweep(1001, 64)).toBe(1);
    expect(t.count).toBe(0);
    expect(t.stats.expired).toBe(2);
  });
});

describe('the flow table in the forwarder', () => {
  const udp = (sp: number) => buildIpv4Udp({ srcMac: MAC.contosoSql, dstMac: MAC.contosoWeb, srcIp: '10.1.1.11', dstIp: '10.1.1.12', srcPort: sp, dstPort: 53 });

  it('takes the slow path once per flow, then hits', () => {
    const r = rig();
    for (let i = 0; i < 5; i++) r.send('contoso-sql', udp(1000));
    r.send('contoso-sql', udp(1001));
    const g = r.fwd.counters.global;
    expect(g[C.UftMisses]).toBe(2);
    expect(g[C.UftHits]).toBe(4);
    expect(r.vx.pullAll()).toHaveLength(6);
    const flows = r.fwd.dumpFlows({ port: 'contoso-sql' });
    expect(flows).toHaveLength(2);
    expect(flows.find((f) => f.match.srcPort === 1000)!.counters.frames).toBe(5);
  });

  it('reports the table sizes as gauges: entries held and capacity, flow table and conntrack', () => {
    const r = rig();
    const g = r.fwd.counters.global;
    // the capacities are there before the first frame
    expect(g[C.UftCapacity]).toBe(r.fwd.uft.capacity);
    expect(g[C.CtCapacity]).toBe(r.fwd.ct.capacity);
    expect(g[C.UftEntries]).toBe(0);
    for (let sp = 1000; sp < 1003; sp++) r.send('contoso-sql', udp(sp));
    r.send('contoso-sql', udp(1000));
    expect(r.fwd.uft.count).toBe(3);
    const j = countersToJson(r.fwd.counters, r.snap).counters;
    expect(j['uft-entries']).toBe(3);
    expect(j['uft-capacity']).toBe(r.fwd.uft.capacity);
    expect(j['ct-entries']).toBe(r.fwd.ct.count);
    expect(j['ct-capacity']).toBeGreaterThan(0);
  });

  it('re-evaluates entries of an older generation before applying them', () => {
    const p = figure8();
    const r = rig(p);
    r.send('contoso-sql', udp(1000));
    expect(r.vx.pullAll()).toHaveLength(1);
    // contoso-web moves to host3: the same flow must now go to host3's PA
    const p2 = figure8();
    p2.networkInterfaces.find((n) => n.name === 'contoso-web')!.host = 'host3';
    r.fwd.setSnapshot(compileSnapshot(p2, 'host1', 2));
    r.send('contoso-sql', udp(1000));
    const sent = r.vx.pullAll();
    expect(sent).toHaveLength(1);
    expect(sent[0].dst).toBe(ipNum(PA3));
    expect(r.fwd.counters.global[C.UftRevalidated]).toBe(1);
    expect(r.fwd.dumpFlows()[0].generation).toBe(2);
  });

  it('caches denials too, and counts every dropped frame', () => {
    const r = rig();
    const toNowhere = buildIpv4Udp({ srcMac: MAC.contosoSql, dstMac: '00:1d:d8:b7:1c:99', srcIp: '10.1.1.11', dstIp: '10.1.1.99' });
    for (let i = 0; i < 3; i++) r.send('contoso-sql', toNowhere);
    expect(r.fwd.counters.global[C.UftMisses]).toBe(1);
    expect(countersToJson(r.fwd.counters, r.snap).drops['no-port']).toBe(3);
    expect(r.fwd.dumpFlows()[0].action).toBe('drop (no-port)');
  });

  it('evicts under pressure in a small table and counts it', () => {
    const r = rig(figure8(), 'host1', { uftCapacity: 8 });
    for (let i = 0; i < 20; i++) {
      r.clock.t += 1;
      r.send('contoso-sql', udp(2000 + i));
    }
    expect(r.vx.pullAll()).toHaveLength(20);
    expect(r.fwd.counters.global[C.UftEvictions]).toBe(12);
    expect(r.fwd.dumpFlows()).toHaveLength(8);
  });

  it('forgets idle flows', () => {
    const r = rig(figure8(), 'host1', { uftIdleMs: 1000 });
    r.send('contoso-sql', udp(1000));
    r.clock.t += 5000;
    r.send('contoso-sql', udp(1000));
    expect(r.fwd.counters.global[C.UftMisses]).toBe(2);
    expect(r.fwd.counters.global[C.UftExpired]).toBeGreaterThanOrEqual(1);
  });
});
