// The same Figure 8 checks with the dataplane's offloads on (TAP TSO/checksum, UDP GSO pool, UDP
// GRO + coalescing: the default), off on the tenant side only (SWITCHYARD_OFFLOAD=0, what
// `--no-offload` sets: plain frames from and to the TAPs, grouped into UDP GSO messages on the
// wire and split out of GRO buffers), and off on both sides (SWITCHYARD_UNDERLAY_OFFLOAD=0 too):
// ping, iperf3 TCP through two switchyard hosts, and iperf3 both ways with a kernel vxlan peer
// (which drops any frame whose inner checksum switchyard left unfinished). The agent's counters
// show which path ran. 'all-off' also runs the TAP queues with read()/write() (SWITCHYARD_TAP_IO=
// syscall), the others through io_uring (the default), so both TAP I/O paths carry every mode's
// traffic somewhere.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { iperf3, ping } from '../../src/lab/probes.js';
import { kernelVxlanHost } from '../../src/lab/kernel-vxlan.js';
import { controlRequest } from '../../src/agent/control-client.js';
import { startFigure8, type Figure8Run } from './lab-helpers.js';
import { ROOT_ONLY } from '../helpers/prerequisites.js';

interface Stats {
  offload: boolean;
  underlayOffload: boolean;
  counters: Record<string, number>;
}

type Mode = 'on' | 'tenant-off' | 'all-off';

async function withOffloadEnv<T>(mode: Mode, fn: () => Promise<T>): Promise<T> {
  const saved = [process.env.SWITCHYARD_OFFLOAD, process.env.SWITCHYARD_UNDERLAY_OFFLOAD, process.env.SWITCHYARD_TAP_IO];
  process.env.SWITCHYARD_OFFLOAD = mode === 'on' ? '1' : '0';
  process.env.SWITCHYARD_UNDERLAY_OFFLOAD = mode === 'all-off' ? '0' : '1';
  process.env.SWITCHYARD_TAP_IO = mode === 'all-off' ? 'syscall' : 'uring';
  try {
    return await fn();
  } finally {
    for (const [k, v] of [['SWITCHYARD_OFFLOAD', saved[0]], ['SWITCHYARD_UNDERLAY_OFFLOAD', saved[1]], ['SWITCHYARD_TAP_IO', saved[2]]] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

for (const mode of ['on', 'tenant-off', 'all-off'] as const) {
  const on = mode === 'on';
  describe(`offloads ${mode}`, ROOT_ONLY, () => {
    describe('two switchyard hosts', () => {
      let r: Figure8Run;
      beforeAll(async () => {
        r = await withOffloadEnv(mode, () => startFigure8());
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
        let grouped = 0;
        let split = 0;
        let ring = 0;
        for (const a of r.agents) {
          const s = (await controlRequest(a.socket, { op: 'stats' }, 3000)) as Stats;
          expect(s.offload).toBe(on);
          expect(s.underlayOffload).toBe(mode !== 'all-off');
          tso += s.counters['tso-frames'];
          gro += s.counters['gro-frames'];
          grouped += s.counters['udp-gso-grouped'];
          split += s.counters['gro-split'];
          ring += s.counters['tap-uring-rx-frames'] + s.counters['tap-uring-tx-frames'];
          expect(s.counters['tap-uring-fallbacks']).toBe(0);
        }
        if (mode === 'all-off') expect(ring).toBe(0);
        else expect(ring).toBeGreaterThan(0);
        if (mode === 'on') {
          expect(tso).toBeGreaterThan(0);
          expect(gro).toBeGreaterThan(0);
        } else if (mode === 'tenant-off') {
          // plain frames: never a super-frame at a TAP, but grouped on the wire and split on receipt
          expect(tso + gro).toBe(0);
          expect(grouped).toBeGreaterThan(0);
          expect(split).toBeGreaterThan(0);
        } else {
          expect(tso + gro + grouped + split).toBe(0);
        }
      }, 30_000);
    });

    describe('with a kernel vxlan peer', () => {
      let r: Figure8Run;
      beforeAll(async () => {
        r = await withOffloadEnv(mode, () => startFigure8({ agentHosts: ['host1'] }));
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
