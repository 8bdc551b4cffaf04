/**
 * Figure 8 across two qemu VMs, and NVGRE interop with the guest kernel's gretap: the scenario of
 * `make demo-vms`, checked. Slow (minutes under TCG) and needs root, qemu and the network for the
 * first image build, so it runs only with SWITCHYARD_VM_TESTS=1:
 *
 *   SWITCHYARD_VM_TESTS=1 npx vitest run test/vm
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunnerTask, RunnerTestFile, RunnerTestSuite } from 'vitest';
import { PROJECT_ROOT } from '../../src/vms/paths.js';
import { startVmPair, type VmPair } from '../../src/vms/pair.js';
import { runVxlanScenario, type VxlanResult } from '../../src/vms/vxlan-figure8.js';
import { runNvgreInterop, type NvgreResult } from '../../src/vms/nvgre-gretap.js';
import { requires } from '../helpers/prerequisites.js';
import { finishRunDir } from '../../src/vms/run-dir.js';

/** Did any test or suite (a beforeAll) below `t` fail? */
function anyFailed(t: Readonly<RunnerTask | RunnerTestSuite | RunnerTestFile>): boolean {
  if (t.result?.state === 'fail') return true;
  return 'tasks' in t && t.tasks.some((c) => anyFailed(c));
}

const enabled = process.env.SWITCHYARD_VM_TESTS === '1';
// TCP through switchyard under TCG runs at 2-50 Mbit/s depending on how loaded the host is, so
// throughput cannot tell a healthy agent from one that drops most frames (0.5-1.5 Mbit/s); its
// drop counters can: an agent that drops frames wholesale counts them as malformed (received GRE
// merged by GRO) or tx-full (sends refused, e.g. UDP GSO on a NIC without checksum offload).
const WHOLESALE_DROPS = ['malformed', 'tx-full'];
const say = (l: string) => console.log(`[vm] ${l}`);

describe('two VMs (SWITCHYARD_VM_TESTS=1)', requires(enabled, 'SWITCHYARD_VM_TESTS is not 1 (scripts/run-tests.sh sets it when root)'), () => {
  let pair: VmPair | undefined;

  beforeAll(async () => {
    if (process.getuid?.() !== 0) throw new Error('the VM tests need root');
    if (!fs.existsSync(path.join(PROJECT_ROOT, 'dist/cli/main.js'))) throw new Error('run `make build` first: the VMs run dist/ from this checkout');
    const stop = () => void pair?.stop();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    pair = await startVmPair(say);
  }, 20 * 60_000);

  // vitest wants the first argument of a hook destructured (it reads fixtures from it)
  // eslint-disable-next-line no-empty-pattern
  afterAll(async ({}, suite) => {
    await pair?.stop();
    // nothing of this run is left: no qemu, no disk; a pass removes the run directory too, a
    // failure keeps it for its logs and says where
    for (const v of pair?.vms ?? []) {
      expect(v.running, `${v.name} qemu still running`).toBe(false);
      expect(fs.existsSync(v.overlay), `${v.overlay} left`).toBe(false);
    }
    if (pair) say(finishRunDir(pair.runDir, anyFailed(suite) ? 'failed' : 'passed', 'two-VM test'));
  }, 60_000);

  it('boots both VMs and links them', () => {
    expect(pair?.vms.every((v) => v.running)).toBe(true);
  });

  describe('Figure 8 over VXLAN, one agent per VM', () => {
    let r: VxlanResult;
    beforeAll(async () => {
      r = await runVxlanScenario(pair!, say, { iperfSeconds: 2 });
    }, 10 * 60_000);

    it('pings web -> sql inside each tenant across the VMs', () => {
      for (const t of r.tenants) expect(t.ping.received, `${t.tenant} ping`).toBeGreaterThan(0);
    });

    it('delivers each tenant marker only to its own tenant', () => {
      expect(r.isolation.map((i) => i.got)).toEqual([['from-contoso'], ['from-fabrikam']]);
    });

    it('agents drop nothing as malformed or tx-full', () => {
      for (const [host, d] of Object.entries(r.drops)) {
        expect(d, `${host} drop counters`).toBeDefined();
        for (const k of WHOLESALE_DROPS) expect(d?.[k] ?? 0, `${host} ${k} drops`).toBe(0);
      }
    });

    it('carries TCP (iperf3) in each tenant', () => {
      for (const t of r.tenants) {
        expect(t.iperf?.error, `${t.tenant} iperf3`).toBeUndefined();
        expect(t.iperf?.mbps ?? 0).toBeGreaterThan(0);
      }
    });
  });

  describe('NVGRE: switchyard in vm1 <-> the Linux kernel gretap in vm2 (key = VSID << 8)', () => {
    let r: NvgreResult;
    beforeAll(async () => {
      r = await runNvgreInterop(pair!, say, { iperfSeconds: 2 });
    }, 10 * 60_000);

    it('pings both ways', () => {
      expect(r.pingFromKernel.received, 'gretap -> switchyard').toBeGreaterThan(0);
      expect(r.pingToKernel.received, 'switchyard -> gretap').toBeGreaterThan(0);
    });

    it('carries TCP both ways', () => {
      expect(r.tcpFromKernel.error, 'gretap -> switchyard').toBeUndefined();
      expect(r.tcpToKernel.error, 'switchyard -> gretap').toBeUndefined();
      expect(r.tcpFromKernel.mbps).toBeGreaterThan(0);
      expect(r.tcpToKernel.mbps).toBeGreaterThan(0);
    });

    // GRO is on by default on the VM's virtio NIC: the guest kernel would merge received GRE into
    // super-frames of up to 64 KB that the agent's raw socket drops as malformed. The agent turns
    // GRO off on its underlay device when it terminates NVGRE (src/agent/underlay.ts).
    it('accepts what the kernel peer sends: no malformed (or tx-full) drops', () => {
      expect(r.drops, 'drop counters').toBeDefined();
      for (const k of WHOLESALE_DROPS) expect(r.drops?.[k] ?? 0, `${k} drops`).toBe(0);
    });

    it('puts the VSID in the GRE key on the wire', () => {
      expect(r.key).toBe(5001 << 8);
      if (r.wire) expect(r.wire).toContain(`key=0x${r.key.toString(16)}`);
    });
  });
});
