/**
 * The host processes the VM code starts (image build, KVM probe, qemu), so that Ctrl-C and test
 * teardown can end them all. Each is spawned detached, in its own process group, and killed as a
 * group; `live` holds those not yet reaped.
 */
import type { ChildProcess } from 'node:child_process';

/** Every process this code started and has not reaped. */
export const live = new Set<ChildProcess>();

/** Adds `child` to `live` until it exits. */
export function track(child: ChildProcess): ChildProcess {
  live.add(child);
  child.once('exit', () => live.delete(child));
  return child;
}

/** Sends `sig` to the child's process group (it was spawned detached), else to the child. */
export function killGroup(child: ChildProcess, sig: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, sig);
  } catch {
    try {
      child.kill(sig);
    } catch {
      /* gone */
    }
  }
}

let stopping = false;

/** Sends `sig` to every live child (signal handlers); from then on nothing new is started. */
export function killAll(sig: NodeJS.Signals): void {
  stopping = true;
  for (const c of live) killGroup(c, sig);
}

/** True once killAll has run: boot retries and new VMs are refused. */
export function isStopping(): boolean {
  return stopping;
}

/**
 * argv prefix that makes the kernel SIGKILL the command when this process dies, even by kill -9
 * (util-linux setpriv --pdeathsig): no qemu outlives the demo or the test that started it.
 */
export const DIE_WITH_PARENT = ['setpriv', '--pdeathsig', 'SIGKILL', '--'];
