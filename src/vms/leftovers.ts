/**
 * Cleans up after runs whose owner died without stopping its VMs (kill -9, a killed test worker):
 * each run directory VM_RUNS/run-* records its owner's pid and its qemu pids; a qemu whose owner is
 * gone is killed (qemu also dies with its owner, see DIE_WITH_PARENT: this is the second net), its
 * disks and sockets removed. The logs of the newest five runs are kept.
 */
import fs from 'node:fs';
import path from 'node:path';
import { VM_RUNS } from './paths.js';
import type { Say } from './progress.js';

const KEEP_RUNS = 5;

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function ownerAlive(dir: string): boolean {
  try {
    const owner = Number(fs.readFileSync(path.join(dir, 'owner.pid'), 'utf8'));
    return owner > 0 && pidAlive(owner);
  } catch {
    return false;
  }
}

/** Kills qemu processes and removes disks left by runs whose owner died. */
export function sweepLeftovers(say: Say): void {
  if (!fs.existsSync(VM_RUNS)) return;
  const entries = fs.readdirSync(VM_RUNS).filter((e) => e.startsWith('run-'));
  for (const e of entries) {
    const dir = path.join(VM_RUNS, e);
    if (ownerAlive(dir)) continue;
    for (const f of fs.readdirSync(dir).filter((x) => /^vm\d\.pid$/.test(x))) {
      const pid = Number(fs.readFileSync(path.join(dir, f), 'utf8').trim());
      let cmdline: string;
      try {
        cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      } catch {
        continue;
      }
      if (cmdline.includes('qemu') && cmdline.includes(dir)) {
        say(`killing leftover qemu ${pid} of ${dir}`);
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
    }
    // keep the logs; drop disks and sockets
    for (const f of fs.readdirSync(dir)) if (/\.(qcow2|sock)$/.test(f)) fs.rmSync(path.join(dir, f), { force: true });
  }
  const runs = entries
    .map((e) => path.join(VM_RUNS, e))
    .filter((d) => fs.existsSync(d))
    .sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs);
  for (const d of runs.slice(KEEP_RUNS)) if (!ownerAlive(d)) fs.rmSync(d, { recursive: true, force: true });
}
