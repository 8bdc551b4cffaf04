/**
 * One guest: a qemu process booting the image's kernel on a fresh copy-on-write overlay of its
 * root file system, with the project checkout (read-only) and a per-run directory shared by 9p, one
 * NIC on the link to its peer (a UDP socket on 127.0.0.1: one Ethernet frame per datagram, no host
 * devices) and the command channel. qemu runs in its own process group and dies with this process
 * (DIE_WITH_PARENT); stop() powers the guest off, kills what is left and removes the overlay.
 */
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { PROJECT_ROOT } from './paths.js';
import { DIE_WITH_PARENT, isStopping, killGroup, track } from './children.js';
import { lastConsoleLine, tail, type Say } from './progress.js';
import { accelArgs, type Accel } from './accel.js';
import { CommandChannel, type ExecOptions, type ExecResult } from './channel.js';
import type { VmImage } from './image.js';

export interface VmSpec {
  name: string;
  /** Link address (the host's PA), /24. */
  linkAddr: string;
  mac: string;
  /** UDP ports on 127.0.0.1 of this VM's link end and its peer's. */
  port: number;
  peerPort: number;
}

/** Every VM started in this process, for removing their files on Ctrl-C. */
const started = new Set<Vm>();

/** Removes the overlays and sockets of every VM this process started (signal handlers). */
export function removeAllVmFiles(): void {
  for (const v of started) v.removeFiles();
}

export class Vm {
  readonly console: string;
  readonly qemuLog: string;
  readonly overlay: string;
  readonly socketPath: string;
  readonly channel: CommandChannel;
  private proc?: ChildProcess;
  private exitedP?: Promise<void>;

  constructor(
    readonly spec: VmSpec,
    readonly runDir: string,
    readonly shareDir: string,
    sockDir: string,
  ) {
    this.console = path.join(runDir, `${spec.name}-console.log`);
    this.qemuLog = path.join(runDir, `${spec.name}-qemu.log`);
    this.overlay = path.join(runDir, `${spec.name}.qcow2`);
    this.socketPath = path.join(sockDir, `${spec.name}.cmd.sock`);
    this.channel = new CommandChannel(spec.name, this.socketPath);
  }

  get name(): string {
    return this.spec.name;
  }

  get running(): boolean {
    return !!this.proc && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** Starts qemu on a fresh copy-on-write overlay of the image. */
  start(image: VmImage, accel: Accel, memMb = 512): void {
    if (isStopping()) throw new Error(`${this.name}: not started, shutting down`);
    started.add(this);
    fs.rmSync(this.overlay, { force: true });
    fs.rmSync(this.socketPath, { force: true });
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'raw', '-b', image.base, this.overlay]);
    const machineId = crypto.randomBytes(16).toString('hex');
    const append = [
      'root=/dev/vda rw console=ttyS0 net.ifnames=0 panic=-1 loglevel=4 mitigations=off',
      `systemd.machine_id=${machineId} systemd.hostname=${this.name}`,
    ].join(' ');
    const args = [
      '-name', this.name, '-nodefaults', '-no-user-config', '-display', 'none', '-no-reboot',
      ...accelArgs(accel), '-smp', '1', '-m', String(memMb),
      '-kernel', image.kernel, '-initrd', image.initrd, '-append', append,
      '-drive', `file=${this.overlay},if=virtio,format=qcow2,cache=unsafe`,
      '-device', 'virtio-rng-pci',
      '-virtfs', `local,path=${PROJECT_ROOT},mount_tag=switchyard,security_model=none,readonly=on`,
      '-virtfs', `local,path=${this.shareDir},mount_tag=vm,security_model=none`,
      // The link between the two VMs: UDP datagrams on loopback only, one Ethernet frame each.
      '-netdev', `socket,id=link,udp=127.0.0.1:${this.spec.peerPort},localaddr=127.0.0.1:${this.spec.port}`,
      '-device', `virtio-net-pci,netdev=link,mac=${this.spec.mac}`,
      '-device', 'virtio-serial-pci',
      '-chardev', `socket,id=cmd,path=${this.socketPath},server=on,wait=off`,
      '-device', 'virtserialport,chardev=cmd,name=switchyard.cmd',
      '-serial', `file:${this.console}`,
      '-pidfile', path.join(this.runDir, `${this.name}.pid`),
    ];
    const out = fs.openSync(this.qemuLog, 'w');
    fs.writeSync(out, `qemu-system-x86_64 ${args.map((a) => (/\s/.test(a) ? `'${a}'` : a)).join(' ')}\n`);
    const [cmd, ...pre] = DIE_WITH_PARENT;
    const p = track(spawn(cmd!, [...pre, 'qemu-system-x86_64', ...args], { stdio: ['ignore', out, out], detached: true }));
    fs.closeSync(out);
    this.proc = p;
    this.exitedP = new Promise<void>((r) =>
      p.on('exit', () => {
        this.channel.failAll(`${this.name}: qemu exited (log ${this.qemuLog}, console ${this.console})`);
        r();
      }),
    );
  }

  /** Waits until the guest's command runner answers; progress every 15 s with the console's last line. */
  async waitReady(timeoutMs: number, say: Say): Promise<number> {
    const t0 = Date.now();
    let lastSay = t0;
    while (Date.now() - t0 < timeoutMs) {
      if (!this.running) throw new Error(`${this.name}: qemu exited while booting; log ${this.qemuLog}:\n${tail(this.qemuLog)}`);
      if (!this.channel.connected) await this.channel.connect();
      if (this.channel.connected) {
        if (await this.channel.ping(2000)) return Date.now() - t0;
      } else await sleep(500);
      if (Date.now() - lastSay >= 15_000) {
        lastSay = Date.now();
        const last = lastConsoleLine(this.console);
        say(`${this.name}: booting, ${Math.round((Date.now() - t0) / 1000)} s${last ? ` (${last.slice(0, 90)})` : ''}`);
      }
    }
    throw new Error(`${this.name}: not up after ${timeoutMs / 1000} s; console log ${this.console}:\n${tail(this.console)}`);
  }

  /** Runs `cmd` with bash in the guest (as root). Rejects on a non-zero exit unless allowFail. */
  exec(cmd: string, o: ExecOptions = {}): Promise<ExecResult> {
    return this.channel.exec(cmd, o);
  }

  /** Powers the guest off (at most `graceMs`), then kills qemu; removes the overlay and the socket. */
  async stop(graceMs = 15_000): Promise<void> {
    if (this.running && this.channel.connected && graceMs > 0) {
      this.channel.request({ cmd: 'systemctl --no-block poweroff', timeoutMs: 5000 }, 5000).catch(() => undefined);
      await Promise.race([this.exitedP, sleep(graceMs)]);
    }
    this.kill();
    await Promise.race([this.exitedP, sleep(5000)]);
    this.channel.close();
    this.removeFiles();
  }

  /** Synchronous kill (for signal handlers): SIGTERM to qemu's group, SIGKILL 2 s later. */
  kill(): void {
    const p = this.proc;
    if (!p) return;
    killGroup(p, 'SIGTERM');
    setTimeout(() => killGroup(p, 'SIGKILL'), 2000).unref();
  }

  /** Removes the per-run disk and the channel's socket. */
  removeFiles(): void {
    fs.rmSync(this.overlay, { force: true });
    fs.rmSync(this.socketPath, { force: true });
  }
}
