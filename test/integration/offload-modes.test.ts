// The same Figure 8 checks with the dataplane's offloads on (TAP TSO/checksum, UDP GSO pool, UDP
// GRO + coalescing: the default) and off (SWITCHYARD_OFFLOAD=0, what `--no-offload` sets):
// ping, iperf3 TCP through two switchyard hosts, and iperf3 both ways with a kernel vxlan peer
// (which drops any frame whose inner checksum switchyard left unfinished). The agent's counters
// show which path ran.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { iperf3, ping } from '../../src/lab/probes.js';
import { kernelVxlanHost } from '../../src/lab/kernel-vxlan.js';
import { controlRequest } from '../../src/agent/control-client.js';
import { startFigure8, type Figure8Run } from './lab-helpers.js';
import { ROOT_ONLY } from '../helpers/prerequisites.js';

interface Stats {
  offload: boolean;
  counters: Record<string, number>;
}

async function withOffloadEnv<T>(on: boolean, fn: () => Promise<T>): Promise<T> {
  const saved = process.env.SWITCHYARD_OFFLOAD;
  process.env.SWITCHYARD_OFFLOAD = on ? '1' : '0';
  try {
    return await fn();
  } finally {
    if (saved === undefined) delete process.env.SWITCHYARD_OFFLOAD;
    else process.env.SWITCHYARD_OFFLOAD = saved;
  }
}

for (const on of [true, false]) {
  describe(`offloads ${on ? 'on' : 'off'}`, ROOT_ONLY, () => {
    describe('two switchyard hosts', () => {
      let r: Figure8Run;
      beforeAll(async () => {
        r = await withOffloadEnv(on, () => startFigure8());
      }, 60_000);
      afterAll(async () => {
        await r?.teardown();
      });

      it('pings and carries iperf3 TCP both ways; the counters show the offload path', async () => {
        expect((await ping(r.ns('contoso-web'), '10.1.1.11', 3)).received).toBe(3);
        const up = await iperf3(r.ns('contoso-sql'), r.ns('contoso-web'), '10.1.1.11', 2);
        expect(up.gbps).toBeGreaterThan(0.01);
        const down = await iperf3(r.ns('contoso-web'), r.ns('contoso-sql'), '10.1.1.12', 2);
        expect(down.gbps).toBeGreaterThan(0.01);
        let tso = 0;
        let gro = 0;
        for (const a of r.agents) {
          const s = (await controlRequest(a.socket, { op: 'stats' }, 3000)) as Stats;
          expect(s.offload).toBe(on);
          tso += s.counters['tso-frames'];
          gro += s.counters['gro-frames'];
        }
        if (on) {
          expect(tso).toBeGreaterThan(0);
          expect(gro).toBeGreaterThan(0);
        } else {
          expect(tso + gro).toBe(0);
        }
      }, 30_000);
    });

    describe('with a kernel vxlan peer', () => {
      let r: Figure8Run;
      beforeAll(async () => {
        r = await withOffloadEnv(on, () => startFigure8({ agentHosts: ['host1'] }));
        const web = r.policy.networkInterfaces.find((n) => n.name === 'contoso-web')!;
        await kernelVxlanHost(r.lab.hosts[1].ns, '192.168.2.20', ['192.168.1.10'], [
          { ns: r.ns('contoso-web'), mac: web.macAddress, ip: web.ipAddress!, prefixLen: 24, vni: 5001 },
        ]);
      }, 60_000);
      afterAll(async () => {
        await r?.teardown();
      });

      it('pings and carries iperf3 TCP both ways (the kernel accepts switchyard checksums)', async () => {
        expect((await ping(r.ns('contoso-sql'), '10.1.1.12', 3)).received).toBe(3);
        const toSy = await iperf3(r.ns('contoso-sql'), r.ns('contoso-web'), '10.1.1.11', 2);
        expect(toSy.gbps).toBeGreaterThan(0.01);
        const toKernel = await iperf3(r.ns('contoso-web'), r.ns('contoso-sql'), '10.1.1.12', 2);
        expect(toKernel.gbps).toBeGreaterThan(0.01);
      }, 30_000);
    });
  });
}
