/**
 * A small qemu guest for vhost-user tests and the bench: the Debian kernel with a busybox
 * initramfs (scripts/vm/build-tiny-guest.sh), booted straight to a shell on the serial console
 * (2-3 s under TCG), its one NIC on a switchyard vhost-user port. Commands go in on the serial
 * console and come back between markers; the guest's eth0 is configured from the kernel command
 * line.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { VhostUserPort } from '../policy/types.js';
import { DIE_WITH_PARENT, killGroup, track } from './children.js';
import { sharedMemoryArgs, vhostNicArgs } from './vhost-qemu.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface TinyGuestFiles {
  kernel: string;
  initrd: string;
}

/** Builds (once per machine) or finds the guest's kernel and initramfs. */
export function tinyGuestFiles(): TinyGuestFiles {
  const out = execFileSync('bash', [path.join(ROOT, 'scripts/vm/build-tiny-guest.sh')], { encoding: 'utf8' });
  const dir = /tiny-guest: (.+)$/m.exec(out)?.[1];
  if (!dir) throw new Error(`build-tiny-guest.sh said: ${out}`);
  return { kernel: path.join(dir, 'vmlinux'), initrd: path.join(dir, 'initramfs.cpio.gz') };
}

export interface TinyGuestSpec {
  files: TinyGuestFiles;
  port: Pick<VhostUserPort, 'socket' | 'mode' | 'queues'>;
  mac: string;
  /** Address with prefix, e.g. 10.1.1.21/24. */
  ip: string;
  gateway: string;
  mtu: number;
  memMb?: number;
  /** Where the console output goes too (for a test's log). */
  logFile?: string;
  /** Other NIC options instead of the vhost-user port's (e.g. a TAP, for the bench's peers). */
  nicArgs?: string[];
  /** Run qemu inside this network namespace (a TAP NIC is made there). */
  netns?: string;
}

export class TinyGuest {
  private out = '';
  private seq = 0;
  private exited = false;

  private constructor(private readonly child: ChildProcess) {
    child.stdout!.on('data', (d: Buffer) => {
      this.out += d.toString('latin1');
    });
    child.on('exit', () => (this.exited = true));
  }

  static async boot(spec: TinyGuestSpec, timeoutMs = 60_000): Promise<TinyGuest> {
    const kvm = fs.existsSync('/dev/kvm') && process.env.SWITCHYARD_VM_ACCEL !== 'tcg';
    const args = [
      'qemu-system-x86_64', '-machine', 'q35', ...(kvm ? ['-accel', 'kvm', '-cpu', 'host'] : ['-accel', 'tcg']),
      '-smp', '1', ...sharedMemoryArgs(spec.memMb), ...(spec.nicArgs ?? vhostNicArgs({ port: spec.port, mac: spec.mac, tcg: !kvm })),
      '-kernel', spec.files.kernel, '-initrd', spec.files.initrd,
      '-append', `console=ttyS0 quiet loglevel=0 panic=-1 sy.ip=${spec.ip} sy.gw=${spec.gateway} sy.mtu=${spec.mtu}`,
      '-display', 'none', '-monitor', 'none', '-serial', 'stdio', '-no-reboot', '-nodefaults',
    ];
    const inNs = spec.netns ? ['ip', 'netns', 'exec', spec.netns] : [];
    const argv = [...DIE_WITH_PARENT, ...inNs, ...args];
    const child = track(spawn(argv[0], argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'], detached: true }));
    const g = new TinyGuest(child);
    if (spec.logFile) {
      const log = fs.createWriteStream(spec.logFile, { flags: 'a' });
      child.stdout!.on('data', (d: Buffer) => log.write(d));
      child.stderr!.on('data', (d: Buffer) => log.write(d));
    }
    try {
      await g.waitFor(() => g.out.includes('SY-GUEST-READY'), timeoutMs, 'the guest to boot');
      await g.exec('true', 10_000);
    } catch (err) {
      g.stop();
      throw err;
    }
    return g;
  }

  private async waitFor(pred: () => boolean, timeoutMs: number, what: string): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (!pred()) {
      if (this.exited) throw new Error(`tiny guest exited while waiting for ${what}: ${this.out.slice(-2000)}`);
      if (Date.now() > end) throw new Error(`tiny guest: timed out waiting for ${what}; console: ${this.out.slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Runs a shell command in the guest: its exit code and output. Commands run one at a time. */
  async exec(cmd: string, timeoutMs = 30_000): Promise<{ code: number; out: string }> {
    const n = ++this.seq;
    const from = this.out.length;
    const begin = `__SYB${n}__`;
    this.child.stdin!.write(`echo ${begin}; ${cmd}; echo __SYE${n}_$?__\n`);
    const end = new RegExp(`__SYE${n}_(\\d+)__`);
    let m: RegExpExecArray | null = null;
    await this.waitFor(() => (m = end.exec(this.out.slice(from))) !== null, timeoutMs, `\`${cmd}\``);
    const text = this.out.slice(from);
    const b = text.search(new RegExp(`^${begin}`, 'm'));
    const body = text.slice(b < 0 ? 0 : b + begin.length, m!.index).replace(/\r/g, '');
    return { code: Number(m![1]), out: body.trim() };
  }

  /** Starts a command in the background in the guest (output to `file` in the guest). */
  async background(cmd: string, file: string): Promise<void> {
    await this.exec(`(${cmd}) >${file} 2>&1 & true`);
  }

  /** qemu's pid (for CPU accounting). */
  get pid(): number | undefined {
    return this.child.pid;
  }

  stop(): void {
    killGroup(this.child, 'SIGKILL');
  }
}
