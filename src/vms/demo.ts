/**
 * `switchyard demo --vms` (`make demo-vms`): Figure 8 across two real VMs. Starts the VM pair
 * (building the image on first use), runs the VXLAN Figure 8 scenario and the NVGRE interop with
 * the guest kernel's gretap, prints a summary with the figures, and shuts both VMs down. Ctrl-C
 * kills every process it started and removes the VMs' disks. A pass removes its run directory, a
 * failure keeps it and names it in the last line (run-dir.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT, VM_IMAGE_CACHE, VM_RUNS } from './paths.js';
import { killAll } from './children.js';
import type { Say } from './progress.js';
import { LINK, startVmPair, type VmPair } from './pair.js';
import { removeAllVmFiles } from './vm.js';
import { finishRunDir, type RunOutcome } from './run-dir.js';
import { median } from './traffic.js';
import { fmtDrops } from './guest-agent.js';
import { runVxlanScenario } from './vxlan-figure8.js';
import { runNvgreInterop } from './nvgre-gretap.js';

export interface DemoVmsOptions {
  iperfSeconds?: number;
  /** Skip the NVGRE interop part. */
  noNvgre?: boolean;
  memMb?: number;
}

function step(msg: string): void {
  process.stdout.write(`\n== ${msg}\n`);
}

const secs = (ms: number) => `${(ms / 1000).toFixed(0)} s`;

export async function runDemoVms(opts: DemoVmsOptions = {}): Promise<number> {
  if (process.getuid?.() !== 0) {
    console.error('switchyard demo --vms: needs root (installs qemu/debootstrap when missing, builds the image with debootstrap)');
    return 2;
  }
  if (!fs.existsSync(path.join(PROJECT_ROOT, 'dist/cli/main.js'))) {
    console.error('switchyard demo --vms: not built yet (the VMs run dist/ from this checkout); run `make build` first');
    return 2;
  }
  const iperfSeconds = opts.iperfSeconds ?? 3;
  const say: Say = (l) => console.log(l);
  const t0 = Date.now();
  let pair: VmPair | undefined;
  let interrupted = false;
  const onSignal = (sig: NodeJS.Signals) => {
    if (interrupted) return;
    interrupted = true;
    console.error(`\n${sig}: stopping the VMs`);
    killAll('SIGTERM');
    setTimeout(() => {
      killAll('SIGKILL');
      removeAllVmFiles();
      if (pair) console.error(finishRunDir(pair.runDir, 'interrupted', 'demo --vms'));
      process.exit(130);
    }, 2500);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const summary: string[] = [];
  let ok = true;
  let outcome: RunOutcome = 'failed';
  try {
    step('image and VMs (the first run on a machine builds the Debian image: several minutes; later runs, from any checkout, reuse it)');
    pair = await startVmPair(say, opts.memMb ? { memMb: opts.memMb } : {});
    summary.push(`VMs: ${pair.accel.toUpperCase()}, image ${secs(pair.timings.imageMs)}, boot ${secs(pair.timings.bootMs)}; link vm1 ${LINK.vm1} <-> vm2 ${LINK.vm2} (qemu UDP socket on 127.0.0.1)`);
    step('Figure 8 over VXLAN: one switchyard agent per VM (host1 = vm1, host2 = vm2)');
    const tv = Date.now();
    const v = await runVxlanScenario(pair, say, { iperfSeconds });
    for (const t of v.tenants) {
      const med = median(t.ping.rtts);
      summary.push(
        `${t.tenant}: ping ${t.ping.received}/${t.ping.sent}${med !== undefined ? ` (median ${med.toFixed(2)} ms)` : ''}, iperf3 ${t.iperf?.error ? 'FAILED' : `${t.iperf?.mbps.toFixed(0)} Mbit/s`}`,
      );
    }
    summary.push(`agent drops: ${Object.entries(v.drops).map(([h, d]) => `${h} ${fmtDrops(d)}`).join('; ')}`);
    summary.push(`isolation: ${v.isolated ? 'each tenant received only its own marker' : `FAILED ${JSON.stringify(v.isolation)}`}`);
    summary.push(`VXLAN part: ${secs(Date.now() - tv)}`);
    if (!v.ok) ok = false;
    if (!opts.noNvgre) {
      step('NVGRE interop: switchyard in vm1 <-> the Linux kernel gretap in vm2');
      const tn = Date.now();
      try {
        const n = await runNvgreInterop(pair, say, { iperfSeconds });
        summary.push(
          `NVGRE vs kernel gretap (key ${n.key}): ping ${n.pingToKernel.received}/${n.pingToKernel.sent} to, ${n.pingFromKernel.received}/${n.pingFromKernel.sent} from; ` +
            `TCP ${n.tcpToKernel.error ? 'FAILED' : `${n.tcpToKernel.mbps.toFixed(0)} Mbit/s`} to, ${n.tcpFromKernel.error ? 'FAILED' : `${n.tcpFromKernel.mbps.toFixed(0)} Mbit/s`} from; ` +
            `agent drops: ${fmtDrops(n.drops)} (${secs(Date.now() - tn)})`,
        );
        if (!n.ok) ok = false;
      } catch (err) {
        if (interrupted) throw err;
        summary.push(`NVGRE vs kernel gretap: FAILED: ${(err as Error).message.split('\n')[0]}`);
        ok = false;
      }
    }
    step('summary');
    for (const s of summary) console.log(`  ${s}`);
    console.log(`  total ${secs(Date.now() - t0)}`);
    if (ok) outcome = 'passed';
    return ok ? 0 : 1;
  } catch (err) {
    if (interrupted) return 130;
    console.error(`\ndemo --vms failed: ${(err as Error).message}`);
    console.error(`logs: ${pair?.runDir ?? VM_RUNS} (image build: ${path.join(VM_IMAGE_CACHE, 'logs')}; each run: ${VM_RUNS}/run-*)`);
    return 1;
  } finally {
    if (!interrupted && pair) {
      step('shutting down both VMs');
      await pair.stop();
      // the last line: OK (the run directory removed), or where the failed run's logs are
      console.log(`\n${finishRunDir(pair.runDir, outcome, 'demo --vms')}`);
    }
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
}
