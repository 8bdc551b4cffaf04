/**
 * What becomes of a run's directory (VM_RUNS/run-*: console and qemu logs, the guests' share with
 * policies and agent logs) when the run ends. A passing run's is removed: nobody reads the logs of
 * a pass, and a kept one per run filled .cache (1.5 GB). A failed or interrupted run keeps it for
 * its logs, and the last line printed names it. SWITCHYARD_VM_KEEP_RUNS=1 keeps every run's.
 * (The disks go in any case, with the VMs: Vm.stop.)
 */
import fs from 'node:fs';

export type RunOutcome = 'passed' | 'failed' | 'interrupted';

/** The cleanup decision: keep the run directory? */
export function keepRunDir(outcome: RunOutcome, env: NodeJS.ProcessEnv = process.env): boolean {
  return outcome !== 'passed' || env.SWITCHYARD_VM_KEEP_RUNS === '1';
}

/** Removes or keeps `dir` as keepRunDir says; returns the last line to print (`what`: e.g. "demo --vms"). */
export function finishRunDir(dir: string, outcome: RunOutcome, what: string, env: NodeJS.ProcessEnv = process.env): string {
  const keep = keepRunDir(outcome, env);
  if (!keep) fs.rmSync(dir, { recursive: true, force: true });
  if (outcome === 'passed') return `${what}: OK${keep ? ` (logs kept in ${dir}: SWITCHYARD_VM_KEEP_RUNS=1)` : ''}`;
  return `${what}: ${outcome === 'failed' ? 'FAILED' : 'interrupted'}; logs kept in ${dir}`;
}
