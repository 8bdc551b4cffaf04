// Port mirroring: every frame a Source port sends or receives is copied to each Destination port
// of the same host and subnet (not to other subnets or hosts), unchanged as the port sent it or
// as it was delivered to it; the mirror policy's errors by path.
import { describe, expect, it } from 'vitest';
import { countersToJson } from '../../src/dataplane/counters.js';
import { parsePolicy } from '../../src/policy/validate.js';
import type { Policy } from '../../src/policy/types.js';
import { buildIpv4Udp, buildTcp, pattern, toHex } from '../../src/wire/build/frames.js';
import { compileSnapshot } from '../../src/vfp/snapshot.js';
import { BIG_COPIES } from '../../src/dataplane/copy-batch.js';
import { MAC, PA2, ROUTER, figure8, rig } from '../helpers/vfp-fixtures.js';
import { vnetForwarder } from '../helpers/vnet-port.js';

/** contoso-sql mirrored to contoso-app (same subnet) and contoso-db2 (another subnet: no copy). */
function mirrored(): Policy {
  const p = figure8();
  const set = (n: string, m: 'Source' | 'Destination') => (p.networkInterfaces.find((x) => x.name === n)!.portMirroring = m);
  set('contoso-sql', 'Source');
  set('contoso-app', 'Destination');
  set('contoso-db2', 'Destination');
  return p;
}

describe('port mirroring', () => {
  it('copies what the Source sends (as sent) and receives (as delivered) to the Destination of its subnet', () => {
    const r = rig(mirrored());
    const sql = r.snap.ports.find((p) => p.name === 'contoso-sql')!;
    expect(sql.mirrorTo).toEqual([r.snap.portByName.get('contoso-app')]);
    expect(sql.layersOut.map((l) => l.name)).toContain('mirror');
    // sent, routed to another subnet: the copy is the frame as the port sent it
    const out = buildIpv4Udp({ srcMac: MAC.contosoSql, dstMac: ROUTER, srcIp: '10.1.1.11', dstIp: '10.1.2.21', ttl: 64 });
    r.send('contoso-sql', out);
    expect(r.pull('contoso-db2')).toHaveLength(1);
    const [copy] = r.pull('contoso-app');
    expect(toHex(copy)).toBe(toHex(out));
    // received from the wire: the copy is the decapsulated frame
    const inner = buildIpv4Udp({ srcMac: MAC.contosoWeb, dstMac: MAC.contosoSql, srcIp: '10.1.1.12', dstIp: '10.1.1.11' });
    const vx = new Uint8Array(16 + inner.length);
    vx.set([0x12, 0xb5, 0x12, 0xb5, (vx.length >> 8) & 255, vx.length & 255, 0, 0, 0x08, 0, 0, 0, 0, 0x13, 0x89, 0], 0);
    vx.set(inner, 16);
    r.fromWire('vxlan', vx, PA2);
    expect(r.pull('contoso-sql')).toHaveLength(1);
    const [copy2] = r.pull('contoso-app');
    expect(toHex(copy2)).toBe(toHex(inner));
    // a dropped frame (spoofed) is still what the port sent: mirrored; the drop is unchanged
    r.send('contoso-sql', buildIpv4Udp({ srcMac: MAC.contosoSql, dstMac: MAC.contosoApp, srcIp: '10.9.9.9', dstIp: '10.1.1.13' }));
    expect(r.pull('contoso-app')).toHaveLength(1);
    const c = countersToJson(r.fwd.counters, r.snap);
    expect(c.counters['mirrored']).toBe(3);
    expect(c.drops['spoofed']).toBe(1);
    // the Destination's own traffic is not mirrored anywhere
    r.send('contoso-app', buildIpv4Udp({ srcMac: MAC.contosoApp, dstMac: MAC.contosoSql, srcIp: '10.1.1.13', dstIp: '10.1.1.11' }));
    expect(r.pull('contoso-sql')).toHaveLength(1);
    expect(r.pull('contoso-app')).toHaveLength(1); // the copy of what contoso-sql received
    expect(countersToJson(r.fwd.counters, r.snap).counters['mirrored']).toBe(4);
  });

  it('TSO super-frames, sent and received, reach the Destination whole with their virtio-net header', () => {
    const snap = compileSnapshot(mirrored(), 'host1', 1);
    const { fwd, ports } = vnetForwarder(snap);
    const send = (name: string, frame: Uint8Array, n = 1) => {
      for (let k = 0; k < n; k++) ports.get(name)!.push(frame);
      fwd.pollPort(snap.portByName.get(name)!);
    };
    // NEEDS_CSUM, GSO TCPv4, hdr_len 54, gso_size 1448, csum_start 34, csum_offset 16
    const tso = Uint8Array.from([1, 1, 54, 0, 0xa8, 0x05, 34, 0, 16, 0, 0, 0]);
    // sql sends a 30 000-byte super-frame, routed to contoso-grl (on this host): delivered whole
    ports.get('contoso-sql')!.hdrIn = tso;
    const out = buildTcp({ srcMac: MAC.contosoSql, dstMac: ROUTER, srcIp: '10.1.1.11', dstIp: '10.1.3.32', srcPort: 5000, dstPort: 80, payload: pattern(30_000) });
    send('contoso-sql', out);
    expect(ports.get('contoso-grl')!.pullAll().map((f) => f.length)).toEqual([out.length]);
    const app = ports.get('contoso-app')!;
    const [copy] = app.pullAll();
    expect(toHex(copy)).toBe(toHex(out));
    expect([...app.hdrsOut[0]]).toEqual([...tso]);
    // grl answers with a super-frame: what sql receives is copied as delivered (routed)
    ports.get('contoso-grl')!.hdrIn = tso;
    const back = buildTcp({ srcMac: MAC.contosoGreLocal, dstMac: ROUTER, srcIp: '10.1.3.32', dstIp: '10.1.1.11', srcPort: 80, dstPort: 5000, payload: pattern(20_000) });
    send('contoso-grl', back);
    const [delivered] = ports.get('contoso-sql')!.pullAll();
    const [copy2] = app.pullAll();
    expect(copy2.length).toBe(back.length);
    expect(toHex(copy2)).toBe(toHex(delivered));
    // more super-frames in one batch than there are large copy slots: all copied (a flush between)
    send('contoso-sql', out, BIG_COPIES * 2 + 1);
    expect(app.pullAll()).toHaveLength(BIG_COPIES * 2 + 1);
    const c = countersToJson(fwd.counters, snap);
    expect(c.drops['no-buffer']).toBe(0);
    expect(c.counters['mirrored']).toBe(2 + BIG_COPIES * 2 + 1);
  });

  it('no Source: nothing copied', () => {
    const r = rig();
    r.send('contoso-sql', buildIpv4Udp({ srcMac: MAC.contosoSql, dstMac: MAC.contosoApp, srcIp: '10.1.1.11', dstIp: '10.1.1.13' }));
    expect(r.pull('contoso-app')).toHaveLength(1);
    expect(countersToJson(r.fwd.counters, r.snap).counters['mirrored']).toBe(0);
  });

  it('reports a bad mode by path', () => {
    const p = figure8() as unknown as { networkInterfaces: Record<string, unknown>[] };
    p.networkInterfaces[0].portMirroring = 'Both';
    expect(JSON.stringify(parsePolicy(p))).toMatch(/networkInterfaces\[0\]\.portMirroring.*not a port mirroring mode: Both \(None or Source or Destination\)/);
  });
});
