// NVGRE decap validation against frames crafted by scapy (an independent builder): from host2's
// PA to switchyard on host1, GRE with a wrong version, the C bit, the S bit, no K bit, a truncated
// header are 'malformed'; an unknown VSID is 'unknown-vni'; a well-formed frame from an address that
// is no PA is 'unknown-src-pa'; and a valid frame, FlowID not 0, reaches the tenant. Counted by
// reason in the agent's stats (src/vfp/drops.ts names). The same bad headers and a valid frame go
// once more through a second independent sender, the raw-socket package (raw-ip.ts), with the GRE
// bytes written out here rather than by src/wire.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { controlRequest } from '../../src/agent/control-client.js';
import { udpListen } from '../../src/lab/probes.js';
import { runIn, sleep } from '../../src/lab/run.js';
import { startFigure8, type Figure8Run } from './lab-helpers.js';
import { nvgrePolicy } from './nvgre-helpers.js';
import { rawSocketSend } from './raw-ip.js';
import { buildArpRequest, buildIpv4Udp, concat } from '../../src/wire/build/frames.js';
import { ROOT_ONLY } from '../helpers/prerequisites.js';

const SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'scapy', 'nvgre-frames.py');
const PY = '/usr/bin/python3';
const IPPROTO_GRE = 47;

/** Big-endian 16- and 32-bit words, as a GRE header is written on the wire. */
function words(...w: Array<[16 | 32, number]>): Uint8Array {
  const out = new Uint8Array(w.reduce((n, [bits]) => n + bits / 8, 0));
  const v = new DataView(out.buffer);
  let o = 0;
  for (const [bits, x] of w) {
    if (bits === 16) v.setUint16(o, x);
    else v.setUint32(o, x >>> 0);
    o += bits / 8;
  }
  return out;
}
const TEB = 0x6558;
const greKey = (vsid: number, flowId = 0) => ((vsid << 8) | flowId) >>> 0;

interface Stats {
  drops: Record<string, number>;
  counters: Record<string, number>;
}

describe('NVGRE frames crafted by scapy: counted drops by reason', ROOT_ONLY, () => {
  let r: Figure8Run | undefined;
  beforeAll(async () => {
    r = await startFigure8({ policy: nvgrePolicy(), agentHosts: ['host1'] });
  }, 60_000);
  afterAll(async () => {
    await r?.teardown();
  });
  const stats = async () => (await controlRequest(r!.agents[0]!.socket, { op: 'stats' })) as Stats;
  const delta = (before: Stats, after: Stats) => (k: string) => (after.drops[k] ?? 0) - (before.drops[k] ?? 0);
  const host2 = () => r!.lab.hosts[1].ns;
  /** The five bad GRE headers (either sender) were counted malformed, nothing else, and the agent lives. */
  const expectFiveMalformed = async (before: Stats) => {
    await sleep(300);
    const d = delta(before, await stats());
    expect({ malformed: d('malformed'), 'unknown-vni': d('unknown-vni'), 'unknown-src-pa': d('unknown-src-pa') }).toEqual({
      malformed: 5,
      'unknown-vni': 0,
      'unknown-src-pa': 0,
    });
    expect(r!.agents[0]!.child.exitCode).toBeNull();
  };

  it('drops bad GRE headers as malformed', async () => {
    const before = await stats();
    const out = await runIn(host2(), PY, [SCRIPT, 'bad', '192.168.1.10', '192.168.2.20'], { timeoutMs: 60_000 });
    expect(Number(out.stdout.trim())).toBe(5);
    await expectFiveMalformed(before);
  });

  it('drops an unknown VSID as unknown-vni', async () => {
    const before = await stats();
    await runIn(host2(), PY, [SCRIPT, 'arp', '192.168.1.10', '192.168.2.20', '7777'], { timeoutMs: 60_000 });
    await sleep(300);
    const d = delta(before, await stats());
    expect(d('unknown-vni')).toBe(1);
    expect(d('malformed')).toBe(0);
  });

  it('drops well-formed GRE from an address that is no PA as unknown-src-pa', async () => {
    const before = await stats();
    // the router's own address on host1's segment; VSID 5001 is known, so only the source is wrong
    await runIn(r!.lab.router, PY, [SCRIPT, 'arp', '192.168.1.10', '192.168.1.1', '5001'], { timeoutMs: 60_000 });
    await sleep(300);
    const d = delta(before, await stats());
    expect(d('unknown-src-pa')).toBe(1);
    expect(d('unknown-vni') + d('malformed')).toBe(0);
  });

  it('raw-socket as the sender: the same five bad GRE headers are malformed', async () => {
    const inner = buildArpRequest({ senderMac: '02:00:00:00:99:02', senderIp: '10.1.1.12', targetIp: '10.1.1.11' });
    const k = greKey(5001);
    const bad = [
      concat(words([16, 0x2001], [16, TEB], [32, k]), inner), // version 1
      concat(words([16, 0xa000], [16, TEB], [16, 0], [16, 0], [32, k]), inner), // C bit: checksum word first
      concat(words([16, 0x3000], [16, TEB], [32, k], [32, 1]), inner), // S bit: sequence number after the key
      concat(words([16, 0x0000], [16, TEB]), inner), // K bit clear: no VSID
      words([16, 0x2000], [16, TEB], [16, k >>> 16]), // K set, key cut after two bytes
    ];
    const before = await stats();
    expect(await rawSocketSend(host2(), '192.168.1.10', IPPROTO_GRE, bad)).toBe(5);
    await expectFiveMalformed(before);
  });

  it('raw-socket as the sender: a valid frame with FlowID 7 reaches the tenant', async () => {
    const sql = r!.policy.networkInterfaces.find((n) => n.name === 'contoso-sql')!;
    const web = r!.policy.networkInterfaces.find((n) => n.name === 'contoso-web')!;
    const inner = buildIpv4Udp({
      dstMac: sql.macAddress,
      srcMac: web.macAddress,
      dstIp: sql.ipAddress,
      srcIp: web.ipAddress,
      srcPort: 40000,
      dstPort: 7778,
      payload: new TextEncoder().encode('raw-socket-nvgre'),
    });
    const before = await stats();
    const l = await udpListen(r!.ns('contoso-sql'), 7778, 6000);
    await l.ready;
    const frame = concat(words([16, 0x2000], [16, TEB], [32, greKey(5001, 7)]), inner);
    expect(await rawSocketSend(host2(), '192.168.1.10', IPPROTO_GRE, [frame, frame, frame])).toBe(3);
    expect(await l.done).toContain('raw-socket-nvgre');
    const d = delta(before, await stats());
    expect(d('malformed') + d('unknown-vni') + d('unknown-src-pa')).toBe(0);
  });

  it('delivers a valid frame (any FlowID) to the tenant and drops nothing', async () => {
    const sql = r!.policy.networkInterfaces.find((n) => n.name === 'contoso-sql')!;
    const web = r!.policy.networkInterfaces.find((n) => n.name === 'contoso-web')!;
    const before = await stats();
    const l = await udpListen(r!.ns('contoso-sql'), 7777, 4000);
    await l.ready;
    // FlowID 42: switchyard must accept any FlowID on receive
    await runIn(host2(), PY, [SCRIPT, 'valid', '192.168.1.10', '192.168.2.20', '5001', '42', sql.macAddress, web.macAddress, sql.ipAddress!, web.ipAddress!, '7777', 'scapy-nvgre'], {
      timeoutMs: 60_000,
    });
    const got = await l.done;
    const after = await stats();
    const d = delta(before, after);
    expect(got).toContain('scapy-nvgre');
    expect(d('malformed') + d('unknown-vni') + d('unknown-src-pa')).toBe(0);
    expect(r!.agents[0]!.child.exitCode).toBeNull();
  });
});
