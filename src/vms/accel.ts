/**
 * KVM or TCG. /dev/kvm exists on machines where KVM hangs in the kernel's decompressor (nested
 * software virtualisation), so its presence proves nothing: the probe boots the guest kernel with
 * no root file system under KVM and waits (at most 20 s) for its panic on the serial port. The
 * answer is cached per kernel, qemu and host kernel. SWITCHYARD_VM_ACCEL=kvm|tcg decides without a
 * probe. TCG is slow (minutes to boot two guests on a loaded machine) but works everywhere.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { spawn, execFileSync } from 'node:child_process';
import { VM_IMAGE_CACHE } from './paths.js';
import { DIE_WITH_PARENT, killGroup, track } from './children.js';
import { tail, type Say } from './progress.js';
import type { VmImage } from './image.js';

export type Accel = 'kvm' | 'tcg';

export function accelArgs(a: Accel): string[] {
  return a === 'kvm' ? ['-accel', 'kvm', '-cpu', 'host'] : ['-accel', 'tcg,thread=multi', '-cpu', 'max'];
}

/** KVM when it really boots a kernel, else TCG. */
export async function chooseAccel(image: VmImage, say: Say): Promise<Accel> {
  const forced = process.env.SWITCHYARD_VM_ACCEL;
  if (forced === 'kvm' || forced === 'tcg') return forced;
  try {
    fs.accessSync('/dev/kvm', fs.constants.R_OK | fs.constants.W_OK);
  } catch {
    return 'tcg';
  }
  let qemuVersion = '';
  try {
    qemuVersion = execFileSync('qemu-system-x86_64', ['--version']).toString();
  } catch {
    /* the probe will fail and say so */
  }
  const key = crypto.createHash('sha256').update(fs.readFileSync(image.kernel)).update(qemuVersion).update(os.release()).digest('hex').slice(0, 16);
  const cached = path.join(VM_IMAGE_CACHE, `accel-${key}`);
  try {
    const v = fs.readFileSync(cached, 'utf8').trim();
    if (v === 'kvm' || v === 'tcg') return v;
  } catch {
    /* not probed yet */
  }
  say('probing KVM (boots the guest kernel under -accel kvm, at most 20 s; SWITCHYARD_VM_ACCEL=kvm|tcg skips this)');
  const log = path.join(VM_IMAGE_CACHE, 'logs', 'kvm-probe.log');
  fs.mkdirSync(path.dirname(log), { recursive: true });
  fs.rmSync(log, { force: true });
  const [cmd, ...pre] = DIE_WITH_PARENT;
  const child = track(
    spawn(
      cmd!,
      [...pre, 'qemu-system-x86_64', '-nodefaults', '-no-user-config', '-display', 'none', '-no-reboot', ...accelArgs('kvm'), '-m', '256',
        '-kernel', image.kernel, '-append', 'console=ttyS0 panic=-1 root=/dev/nonexistent', '-serial', `file:${log}`],
      { stdio: 'ignore', detached: true },
    ),
  );
  const exited = new Promise<void>((r) => child.on('exit', () => r()));
  const deadline = Date.now() + 20_000;
  let ok = false;
  while (Date.now() < deadline) {
    if (/Kernel panic|VFS: Unable to mount root/.test(tail(log, 400))) {
      ok = true;
      break;
    }
    if (child.exitCode !== null) break;
    await sleep(250);
  }
  killGroup(child, 'SIGKILL');
  await exited;
  const accel: Accel = ok ? 'kvm' : 'tcg';
  fs.writeFileSync(cached, `${accel}\n`);
  say(ok ? 'KVM works: using it' : `KVM did not boot the kernel (log ${log}): using TCG`);
  return accel;
}
