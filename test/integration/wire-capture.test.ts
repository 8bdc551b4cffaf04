// Wire check, read by an independent dissector (tshark): switchyard's underlay frames are UDP to
// 4789 with the tenant's VNI, and two inner flows get two different outer UDP source ports.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveCommand, ping, udpSend } from '../../src/lab/probes.js';
import { run, sleep } from '../../src/lab/run.js';
import { startCapture } from '../../src/lab/capture.js';
import { startFigure8, type Figure8Run } from './lab-helpers.js';
import { ROOT_ONLY } from '../helpers/prerequisites.js';

describe('VXLAN on the wire, read by tshark', ROOT_ONLY, () => {
  let r: Figure8Run;
  let rows: { src: number; dst: number; vni: number; innerDport: number; outerDst: string }[] = [];
  beforeAll(async () => {
    r = await startFigure8();
    expect(await haveCommand('tshark')).toBe(true);
    const pcap = path.join(r.dir, 'underlay.pcap');
    // captured with switchyard's own libpcap tool (the `cap` package), read by tshark
    const cap = await startCapture(r.lab.router, 'r1', 'udp port 4789', pcap);
    await ping(r.ns('contoso-web'), '10.1.1.11', 2);
    await ping(r.ns('fabrikam-web'), '10.1.1.11', 2);
    await udpSend(r.ns('contoso-web'), '10.1.1.11', 7001, 'flow-a', 3);
    await udpSend(r.ns('contoso-web'), '10.1.1.11', 7002, 'flow-b', 3);
    await sleep(500);
    await cap.stop();
    expect(fs.existsSync(pcap)).toBe(true);
    const t = await run('tshark', ['-r', pcap, '-Y', 'vxlan', '-T', 'fields', '-E', 'separator=;', '-e', 'udp.srcport', '-e', 'udp.dstport', '-e', 'vxlan.vni', '-e', 'ip.dst']);
    rows = t.stdout
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const [src, dst, vni, ipDst] = line.split(';');
        const s = src!.split(',').map(Number);
        const d = dst!.split(',').map(Number);
        return { src: s[0]!, dst: d[0]!, vni: Number(vni), innerDport: d[1] ?? 0, outerDst: ipDst!.split(',')[0]! };
      });
  }, 90_000);
  afterAll(async () => {
    await r?.teardown();
  });

  it('sends UDP to 4789 with each tenant\'s VNI', () => {
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.every((x) => x.dst === 4789)).toBe(true);
    const vnis = new Set(rows.map((x) => x.vni));
    expect(vnis.has(5001)).toBe(true);
    expect(vnis.has(6001)).toBe(true);
  });

  it('derives the UDP source port from the inner flow (49152-65535)', () => {
    expect(rows.every((x) => x.src >= 49152 && x.src <= 65535)).toBe(true);
    // web (host2) -> sql (host1) datagrams only: sql's ICMP port-unreachable replies quote the
    // same inner ports but are another flow
    const toSql = rows.filter((x) => x.outerDst === '192.168.1.10');
    const a = new Set(toSql.filter((x) => x.innerDport === 7001).map((x) => x.src));
    const b = new Set(toSql.filter((x) => x.innerDport === 7002).map((x) => x.src));
    expect(a.size).toBe(1); // one flow, one port
    expect(b.size).toBe(1);
    expect([...a][0]).not.toBe([...b][0]);
  });
});
