/**
 * `switchyard demo --vms` (`make demo-vms`): Figure 8 across two real VMs. Builds a Debian guest
 * image once (scripts/vm/build-image.sh, cached in .cache/vms/), boots two qemu VMs joined by a
 * loopback-only UDP socket link (the "physical network"; it carries only encapsulated frames),
 * starts one switchyard agent in each with the Figure 8 policy whose PAs are the VMs' link
 * addresses, shows ping, iperf3 and tenant isolation, then the NVGRE interop: switchyard in vm1
 * against the guest kernel's gretap in vm2. Shuts both VMs down; Ctrl-C leaves nothing running.
 *
 * The pieces (image, accelerator probe, VM with a command channel, the two scenarios) are
 * exported for test/vm/. Each VM runs scripts/vm/guest/runner.mjs on a virtio-serial port: the
 * host sends one JSON line per command and gets exit code, stdout and stderr back.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import dgram from 'node:dgram';
import crypto from 'node:crypto';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { loadPolicyFile, formatErrors } from '../policy/load.js';
import type { Policy } from '../policy/types.js';

/** The project checkout (works from src/cli and dist/cli). */
export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const VM_CACHE = process.env.SWITCHYARD_VM_CACHE ?? path.join(PROJECT_ROOT, '.cache/vms');

export type Say = (line: string) => void;
/** Terminal escape sequences in the serial console log. */
const ESC_SEQ = new RegExp(`${String.fromCharCode(27)}\\[[0-9;?]*[A-Za-z]`, 'g');
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Every process this module started and has not reaped: killed on SIGINT/SIGTERM. */
const live = new Set<ChildProcess>();

function killGroup(child: ChildProcess, sig: NodeJS.Signals): void {
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

function tail(file: string, lines = 15): string {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

// ---------------------------------------------------------------------------------------------
// Image

export interface VmImage {
  dir: string;
  kernel: string;
  initrd: string;
  base: string;
}

/** Builds the guest image, or finds it in the cache; progress lines go to `say`. */
export async function buildImage(say: Say): Promise<VmImage> {
  const script = path.join(PROJECT_ROOT, 'scripts/vm/build-image.sh');
  const child = spawn('bash', [script, '--node', process.execPath], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  live.add(child);
  let dir = '';
  const errors: string[] = [];
  const onLine = (l: string, err: boolean) => {
    const m = /^image: (.+)$/.exec(l);
    if (m) dir = m[1]!;
    else if (l.trim()) {
      if (err) errors.push(l);
      say(l);
    }
  };
  const lines = (s: NodeJS.ReadableStream, err: boolean) => {
    let buf = '';
    s.on('data', (d: Buffer) => {
      buf += d.toString();
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        onLine(buf.slice(0, i), err);
        buf = buf.slice(i + 1);
      }
    });
  };
  lines(child.stdout!, false);
  lines(child.stderr!, true);
  const code = await new Promise<number>((r) => child.on('close', (c) => r(c ?? 1)));
  live.delete(child);
  if (code !== 0 || !dir) {
    throw new Error(`building the VM image failed (${script} exited ${code}): ${errors.join(' ') || 'no message'}; logs in ${path.join(VM_CACHE, 'logs')}`);
  }
  return { dir, kernel: path.join(dir, 'vmlinuz'), initrd: path.join(dir, 'initrd.img'), base: path.join(dir, 'base.img') };
}

// ---------------------------------------------------------------------------------------------
// Accelerator

export type Accel = 'kvm' | 'tcg';

export function accelArgs(a: Accel): string[] {
  return a === 'kvm' ? ['-accel', 'kvm', '-cpu', 'host'] : ['-accel', 'tcg,thread=multi', '-cpu', 'max'];
}

/**
 * KVM when it really boots a kernel, else TCG. SWITCHYARD_VM_ACCEL=kvm|tcg decides without a probe.
 * The probe boots the guest kernel with no root file system under KVM and waits (at most 20 s)
 * for its panic on the serial port; /dev/kvm exists on machines where KVM hangs in the kernel's
 * decompressor, so its presence proves nothing. The answer is cached per kernel and qemu.
 */
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
  const cached = path.join(VM_CACHE, `accel-${key}`);
  try {
    const v = fs.readFileSync(cached, 'utf8').trim();
    if (v === 'kvm' || v === 'tcg') return v;
  } catch {
    /* not probed yet */
  }
  say('probing KVM (boots the guest kernel under -accel kvm, at most 20 s; SWITCHYARD_VM_ACCEL=kvm|tcg skips this)');
  const log = path.join(VM_CACHE, 'logs', 'kvm-probe.log');
  fs.mkdirSync(path.dirname(log), { recursive: true });
  fs.rmSync(log, { force: true });
  const child = spawn(
    'qemu-system-x86_64',
    ['-nodefaults', '-no-user-config', '-display', 'none', '-no-reboot', ...accelArgs('kvm'), '-m', '256', '-kernel', image.kernel,
      '-append', 'console=ttyS0 panic=-1 root=/dev/nonexistent', '-serial', `file:${log}`],
    { stdio: 'ignore', detached: true },
  );
  live.add(child);
  const exited = new Promise<void>((r) => child.on('exit', () => r()));
  const deadline = Date.now() + 20_000;
  let ok = false;
  while (Date.now() < deadline) {
    const out = tail(log, 400);
    if (/Kernel panic|VFS: Unable to mount root/.test(out)) {
      ok = true;
      break;
    }
    if (child.exitCode !== null) break;
    await sleep(250);
  }
  killGroup(child, 'SIGKILL');
  await exited;
  live.delete(child);
  const accel: Accel = ok ? 'kvm' : 'tcg';
  fs.writeFileSync(cached, `${accel}\n`);
  say(ok ? 'KVM works: using it' : `KVM did not boot the kernel (log ${log}): using TCG`);
  return accel;
}

// ---------------------------------------------------------------------------------------------
// One VM and its command channel

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

interface Pending {
  resolve: (v: Record<string, unknown>) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

export interface VmSpec {
  name: string;
  /** Link address (the host's PA), /24. */
  linkAddr: string;
  mac: string;
  /** UDP ports on 127.0.0.1 of this VM's link end and its peer's. */
  port: number;
  peerPort: number;
}

export class Vm {
  readonly console: string;
  readonly qemuLog: string;
  readonly overlay: string;
  readonly socketPath: string;
  private proc?: ChildProcess;
  private sock?: net.Socket;
  private pending = new Map<number, Pending>();
  private nextId = 1;
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
  }

  get name(): string {
    return this.spec.name;
  }

  get running(): boolean {
    return !!this.proc && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** Starts qemu on a fresh copy-on-write overlay of the image. */
  start(image: VmImage, accel: Accel, memMb = 512): void {
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
    this.proc = spawn('qemu-system-x86_64', args, { stdio: ['ignore', out, out], detached: true });
    fs.closeSync(out);
    live.add(this.proc);
    const p = this.proc;
    this.exitedP = new Promise<void>((r) =>
      p.on('exit', () => {
        live.delete(p);
        for (const [, q] of this.pending) {
          clearTimeout(q.timer);
          q.reject(new Error(`${this.name}: qemu exited (log ${this.qemuLog}, console ${this.console})`));
        }
        this.pending.clear();
        r();
      }),
    );
  }

  private connect(): Promise<boolean> {
    return new Promise((resolve) => {
      const s = net.connect(this.socketPath);
      s.once('error', () => resolve(false));
      s.once('connect', () => {
        s.removeAllListeners('error');
        s.on('error', () => undefined);
        this.sock = s;
        let buf = '';
        s.on('data', (d: Buffer) => {
          buf += d.toString();
          let i;
          while ((i = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, i);
            buf = buf.slice(i + 1);
            let msg: Record<string, unknown>;
            try {
              msg = JSON.parse(line) as Record<string, unknown>;
            } catch {
              continue;
            }
            const id = typeof msg.id === 'number' ? msg.id : -1;
            const q = this.pending.get(id);
            if (q) {
              this.pending.delete(id);
              clearTimeout(q.timer);
              q.resolve(msg);
            }
          }
        });
        s.on('close', () => {
          if (this.sock === s) this.sock = undefined;
        });
        resolve(true);
      });
    });
  }

  private request(body: Record<string, unknown>, timeoutMs: number): Promise<Record<string, unknown>> {
    if (!this.sock) return Promise.reject(new Error(`${this.name}: command channel not connected`));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${this.name}: no answer in ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      this.sock!.write(`${JSON.stringify({ id, ...body })}\n`);
    });
  }

  /** Waits until the guest's command runner answers; progress every 15 s with the console's last line. */
  async waitReady(timeoutMs: number, say: Say): Promise<number> {
    const t0 = Date.now();
    let lastSay = t0;
    while (Date.now() - t0 < timeoutMs) {
      if (!this.running) throw new Error(`${this.name}: qemu exited while booting; log ${this.qemuLog}:\n${tail(this.qemuLog)}`);
      if (!this.sock) await this.connect();
      if (this.sock) {
        try {
          const r = await this.request({ ping: true }, 2000);
          if (r.pong) return Date.now() - t0;
        } catch {
          /* not up yet */
        }
      } else await sleep(500);
      if (Date.now() - lastSay >= 15_000) {
        lastSay = Date.now();
        const last = tail(this.console, 30)
          .split('\n')
          .map((l) => l.replace(ESC_SEQ, '').replace(/[^ -~]/g, '').trim())
          .filter(Boolean)
          .pop();
        say(`${this.name}: booting, ${Math.round((Date.now() - t0) / 1000)} s${last ? ` (${last.slice(0, 90)})` : ''}`);
      }
    }
    throw new Error(`${this.name}: not up after ${timeoutMs / 1000} s; console log ${this.console}:\n${tail(this.console)}`);
  }

  /** Runs `cmd` with bash in the guest (as root). Rejects on a non-zero exit unless allowFail. */
  async exec(cmd: string, o: { timeoutMs?: number; allowFail?: boolean } = {}): Promise<ExecResult> {
    const timeoutMs = o.timeoutMs ?? 60_000;
    const r = await this.request({ cmd, timeoutMs }, timeoutMs + 15_000);
    const res: ExecResult = { code: Number(r.code ?? 1), stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? ''), ms: Number(r.ms ?? 0) };
    if (res.code !== 0 && !o.allowFail) {
      throw new Error(`${this.name}: \`${cmd.length > 200 ? cmd.slice(0, 200) + '...' : cmd}\` exited ${res.code}: ${(res.stderr || res.stdout).trim().slice(-1500)}`);
    }
    return res;
  }

  /** Powers the guest off (at most `graceMs`), then kills qemu; removes the overlay. */
  async stop(graceMs = 15_000): Promise<void> {
    if (this.running && this.sock && graceMs > 0) {
      this.request({ cmd: 'systemctl --no-block poweroff', timeoutMs: 5000 }, 5000).catch(() => undefined);
      await Promise.race([this.exitedP, sleep(graceMs)]);
    }
    this.kill();
    await Promise.race([this.exitedP, sleep(5000)]);
    this.sock?.destroy();
    fs.rmSync(this.overlay, { force: true });
    fs.rmSync(this.socketPath, { force: true });
  }

  /** Synchronous kill (for signal handlers). */
  kill(): void {
    if (this.proc) {
      killGroup(this.proc, 'SIGTERM');
      const p = this.proc;
      setTimeout(() => killGroup(p, 'SIGKILL'), 2000).unref();
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Two linked VMs

export interface VmPair {
  vms: [Vm, Vm];
  runDir: string;
  shareDir: string;
  accel: Accel;
  image: VmImage;
  /** Milliseconds: image build (or cache check), boot of both VMs. */
  timings: { imageMs: number; bootMs: number };
  stop(): Promise<void>;
}

async function freeUdpPort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.bind(0, '127.0.0.1', () => resolve());
  });
  const port = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Kills qemu processes and removes run directories left by runs whose owner died (e.g. kill -9). */
export function sweepLeftovers(say: Say): void {
  if (!fs.existsSync(VM_CACHE)) return;
  const entries = fs.readdirSync(VM_CACHE).filter((e) => e.startsWith('run-'));
  for (const e of entries) {
    const dir = path.join(VM_CACHE, e);
    let owner = 0;
    try {
      owner = Number(fs.readFileSync(path.join(dir, 'owner.pid'), 'utf8'));
    } catch {
      /* no owner file */
    }
    if (owner && pidAlive(owner)) continue;
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
    // keep the logs of the latest finished run; drop disks and sockets of all
    for (const f of fs.readdirSync(dir)) if (/\.(qcow2|sock)$/.test(f)) fs.rmSync(path.join(dir, f), { force: true });
  }
  // only the newest few run directories are kept (logs)
  const runs = entries
    .map((e) => path.join(VM_CACHE, e))
    .filter((d) => fs.existsSync(d))
    .sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs);
  for (const d of runs.slice(5)) {
    let owner = 0;
    try {
      owner = Number(fs.readFileSync(path.join(d, 'owner.pid'), 'utf8'));
    } catch {
      /* none */
    }
    if (!owner || !pidAlive(owner)) fs.rmSync(d, { recursive: true, force: true });
  }
}

export const LINK = { vm1: '10.99.0.1', vm2: '10.99.0.2', prefix: 24 } as const;

/** Builds (or reuses) the image, boots vm1 and vm2 linked by a loopback UDP socket, configures the link. */
export async function startVmPair(say: Say, o: { memMb?: number; bootTimeoutMs?: number } = {}): Promise<VmPair> {
  const t0 = Date.now();
  fs.mkdirSync(VM_CACHE, { recursive: true });
  sweepLeftovers(say);
  const image = await buildImage(say);
  const imageMs = Date.now() - t0;
  const accel = await chooseAccel(image, say);
  const runDir = fs.mkdtempSync(path.join(VM_CACHE, 'run-'));
  fs.writeFileSync(path.join(runDir, 'owner.pid'), String(process.pid));
  const shareDir = path.join(runDir, 'share');
  fs.mkdirSync(shareDir);
  // Unix socket paths are limited to 107 bytes.
  const sockDir = path.join(runDir, 'x.cmd.sock').length < 100 ? runDir : fs.mkdtempSync(path.join(os.tmpdir(), 'sy-vm-'));
  const p1 = await freeUdpPort();
  let p2 = await freeUdpPort();
  while (p2 === p1) p2 = await freeUdpPort();
  const vms: [Vm, Vm] = [
    new Vm({ name: 'vm1', linkAddr: LINK.vm1, mac: '52:54:00:99:00:01', port: p1, peerPort: p2 }, runDir, shareDir, sockDir),
    new Vm({ name: 'vm2', linkAddr: LINK.vm2, mac: '52:54:00:99:00:02', port: p2, peerPort: p1 }, runDir, shareDir, sockDir),
  ];
  const pair: VmPair = {
    vms,
    runDir,
    shareDir,
    accel,
    image,
    timings: { imageMs, bootMs: 0 },
    stop: async () => {
      await Promise.all(vms.map((v) => v.stop()));
      if (sockDir !== runDir) fs.rmSync(sockDir, { recursive: true, force: true });
    },
  };
  try {
    const tb = Date.now();
    say(`booting vm1 and vm2 (${accel}, 1 vCPU, ${o.memMb ?? 512} MB each; link 127.0.0.1:${p1} <-> 127.0.0.1:${p2}; logs in ${runDir})`);
    for (const v of vms) v.start(image, accel, o.memMb ?? 512);
    const timeout = o.bootTimeoutMs ?? (accel === 'tcg' ? 300_000 : 90_000);
    const ms = await Promise.all(vms.map((v) => v.waitReady(timeout, say)));
    vms.forEach((v, i) => say(`${v.name}: up after ${(ms[i]! / 1000).toFixed(0)} s`));
    for (const v of vms) {
      await v.exec(
        // The runner can be up before udev has loaded virtio_net or systemd has mounted the shares.
        `for i in $(seq 120); do ip link show eth0 >/dev/null 2>&1 && mountpoint -q /switchyard && mountpoint -q /vm && break; sleep 0.5; done; ` +
          `ip link set eth0 mtu 1500 up && ip addr add ${v.spec.linkAddr}/${LINK.prefix} dev eth0 && ` +
          `mountpoint -q /switchyard && mountpoint -q /vm && test -f /switchyard/bin/switchyard.js`,
        { timeoutMs: 90_000 },
      );
    }
    const r = await vms[1].exec(`ping -n -c 3 -i 0.3 -W 2 ${LINK.vm1}`, { allowFail: true, timeoutMs: 20_000 });
    if (!/ [1-9]\d* received/.test(r.stdout)) throw new Error(`the link between the VMs does not carry pings (vm2 -> vm1): ${r.stdout}${r.stderr}`);
    pair.timings.bootMs = Date.now() - tb;
    return pair;
  } catch (err) {
    await pair.stop();
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// Running things in the guests

export interface PingResult {
  sent: number;
  received: number;
  rtts: number[];
}

export function parsePing(out: string, count: number): PingResult {
  const m = /(\d+) packets transmitted, (\d+) received/.exec(out);
  const rtts = [...out.matchAll(/time=([\d.]+) ms/g)].map((x) => Number(x[1]));
  return { sent: m ? Number(m[1]) : count, received: m ? Number(m[2]) : 0, rtts };
}

export function median(xs: number[]): number | undefined {
  if (!xs.length) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

export async function guestPing(vm: Vm, ns: string | undefined, addr: string, count = 5): Promise<PingResult> {
  const pre = ns ? `ip netns exec ${ns} ` : '';
  const r = await vm.exec(`${pre}ping -n -c ${count} -i 0.3 -W 3 ${addr}`, { allowFail: true, timeoutMs: (count * 3 + 10) * 1000 });
  return parsePing(r.stdout, count);
}

export interface IperfResult {
  mbps: number;
  retransmits?: number;
  error?: string;
}

/** iperf3 TCP from `client` (in its namespace) to a one-shot server in `server`'s namespace. */
export async function guestIperf(server: { vm: Vm; ns: string }, client: { vm: Vm; ns: string }, addr: string, seconds: number): Promise<IperfResult> {
  const port = 5201 + Math.floor(Math.random() * 300);
  const s = await server.vm.exec(`setsid nohup ip netns exec ${server.ns} iperf3 -s -1 -p ${port} >/tmp/iperf3-s-${port}.log 2>&1 </dev/null & echo $!`);
  const pid = Number(s.stdout.trim());
  try {
    await sleep(1500);
    const r = await client.vm.exec(`ip netns exec ${client.ns} iperf3 -c ${addr} -p ${port} -t ${seconds} -J --connect-timeout 10000`, {
      allowFail: true,
      timeoutMs: (seconds + 40) * 1000,
    });
    let j: { end?: { sum_received?: { bits_per_second: number }; sum_sent?: { retransmits?: number } }; error?: string };
    try {
      j = JSON.parse(r.stdout) as typeof j;
    } catch {
      return { mbps: 0, error: `iperf3 gave no JSON: ${(r.stderr || r.stdout).trim().slice(0, 300)}` };
    }
    if (j.error) return { mbps: 0, error: j.error };
    const out: IperfResult = { mbps: (j.end?.sum_received?.bits_per_second ?? 0) / 1e6 };
    if (j.end?.sum_sent?.retransmits !== undefined) out.retransmits = j.end.sum_sent.retransmits;
    return out;
  } finally {
    await server.vm.exec(`kill ${pid} 2>/dev/null; true`, { allowFail: true });
  }
}

const UDP_LISTENER = `// written by switchyard demo --vms: prints "ready", then each datagram's payload on its own line
const s = require('dgram').createSocket('udp4');
s.on('message', (m) => process.stdout.write(m.toString() + '\\n'));
s.on('error', (e) => { console.error(e.message); process.exit(1); });
s.bind(Number(process.argv[2]), () => process.stdout.write('ready\\n'));
setTimeout(() => process.exit(0), 120000);
`;

/**
 * Each sender sends a marker datagram to its tenant's SQL address; listeners in every receiving
 * namespace report what arrived. Tenants share addresses, so only the payload tells them apart.
 */
export async function guestIsolation(
  pair: VmPair,
  checks: { from: { vm: Vm; ns: string }; to: { vm: Vm; ns: string }; addr: string; marker: string }[],
  port = 7777,
): Promise<{ ns: string; got: string[] }[]> {
  fs.writeFileSync(path.join(pair.shareDir, 'udp-listen.cjs'), UDP_LISTENER);
  const listeners: { vm: Vm; ns: string; pid: number; out: string }[] = [];
  try {
    for (const c of checks) {
      const out = `/tmp/udp-${c.to.ns}.out`;
      const r = await c.to.vm.exec(`setsid nohup ip netns exec ${c.to.ns} /usr/local/bin/node /vm/udp-listen.cjs ${port} >${out} 2>&1 </dev/null & echo $!`);
      listeners.push({ vm: c.to.vm, ns: c.to.ns, pid: Number(r.stdout.trim()), out });
    }
    for (const l of listeners) {
      await l.vm.exec(`for i in $(seq 150); do grep -q ready ${l.out} && exit 0; sleep 0.2; done; cat ${l.out}; exit 1`, { timeoutMs: 40_000 });
    }
    for (const c of checks) {
      await c.from.vm.exec(
        `ip netns exec ${c.from.ns} bash -c 'for i in 1 2 3; do printf %s ${c.marker} >/dev/udp/${c.addr}/${port}; sleep 0.3; done'`,
      );
    }
    await sleep(2000);
    const res: { ns: string; got: string[] }[] = [];
    for (const l of listeners) {
      const r = await l.vm.exec(`cat ${l.out}`, { allowFail: true });
      const got = [...new Set(r.stdout.split('\n').map((x) => x.trim()).filter((x) => x && x !== 'ready'))];
      res.push({ ns: l.ns, got });
    }
    return res;
  } finally {
    for (const l of listeners) await l.vm.exec(`kill ${l.pid} 2>/dev/null; true`, { allowFail: true }).catch(() => undefined);
  }
}

// ---------------------------------------------------------------------------------------------
// Agents in the guests

export interface GuestAgent {
  vm: Vm;
  host: string;
  pid: number;
  /** Host path of its log (the guest writes it into the shared run directory). */
  log: string;
  namespaces: string[];
}

/** Loads an example policy and sets host1's and host2's PAs to the VMs' link addresses. */
export async function vmPolicy(example: string, keep?: (vnet: string) => boolean): Promise<Policy> {
  const file = path.join(PROJECT_ROOT, 'examples', example);
  const r = await loadPolicyFile(file);
  if (!r.ok) throw new Error(`${file}: invalid policy\n${formatErrors(r.errors, { file })}`);
  const p = r.policy;
  const pa: Record<string, string> = { host1: LINK.vm1, host2: LINK.vm2 };
  return {
    ...p,
    hosts: p.hosts.map((h) => ({ ...h, providerAddresses: [pa[h.name] ?? h.providerAddresses[0]!] })),
    virtualNetworks: p.virtualNetworks.filter((v) => !keep || keep(v.name)),
    networkInterfaces: p.networkInterfaces.filter((n) => !keep || keep(n.virtualNetwork)),
  };
}

export function writeSharedPolicy(pair: VmPair, name: string, policy: Policy): string {
  fs.writeFileSync(path.join(pair.shareDir, name), stringify(policy));
  return `/vm/${name}`;
}

/** Starts `switchyard agent` in the guest and waits until each of its ports is configured in its namespace. */
export async function startGuestAgent(vm: Vm, policy: Policy, guestPolicyFile: string, host: string, tag: string, timeoutMs = 120_000): Promise<GuestAgent> {
  const logName = `agent-${vm.name}-${tag}.log`;
  const sock = `/run/switchyard/${host}.sock`;
  const r = await vm.exec(
    `mkdir -p /run/switchyard && cd / && setsid nohup /usr/local/bin/node /switchyard/bin/switchyard.js agent ` +
      `--policy ${guestPolicyFile} --host ${host} --control ${sock} >/vm/${logName} 2>&1 </dev/null & echo $!`,
  );
  const ports = policy.networkInterfaces.filter((n) => n.host === host && n.netns);
  const agent: GuestAgent = { vm, host, pid: Number(r.stdout.trim()), log: path.join(vm.shareDir, logName), namespaces: ports.map((n) => n.netns!) };
  const checks = ports.map((n) => `ip -n ${n.netns} -4 -br addr 2>/dev/null | grep -q ' ${n.ipAddress}/'`).join(' && ') || 'true';
  const wait = await vm.exec(
    `for i in $(seq ${Math.ceil(timeoutMs / 1000)}); do kill -0 ${agent.pid} 2>/dev/null || exit 3; if ${checks}; then exit 0; fi; sleep 1; done; exit 4`,
    { allowFail: true, timeoutMs: timeoutMs + 5000 },
  );
  if (wait.code !== 0) {
    const why = wait.code === 3 ? 'exited' : `did not configure its ports in ${timeoutMs / 1000} s`;
    await stopGuestAgent(agent).catch(() => undefined);
    throw new Error(`agent ${host} in ${vm.name} ${why}; log ${agent.log}:\n${tail(agent.log)}`);
  }
  return agent;
}

/** The agent's non-zero drop counters (`switchyard ctl --json stats`), or undefined if it does not answer. */
export async function guestAgentDrops(a: GuestAgent): Promise<Record<string, number> | undefined> {
  const r = await a.vm.exec(`/usr/local/bin/node /switchyard/bin/switchyard.js ctl --host ${a.host} --socket /run/switchyard/${a.host}.sock --json stats`, {
    allowFail: true,
    timeoutMs: 60_000,
  });
  try {
    const j = JSON.parse(r.stdout) as { drops?: Record<string, number> };
    return Object.fromEntries(Object.entries(j.drops ?? {}).filter(([, v]) => v > 0));
  } catch {
    return undefined;
  }
}

const fmtDrops = (d: Record<string, number> | undefined) =>
  d === undefined ? 'unavailable' : Object.keys(d).length ? Object.entries(d).map(([k, v]) => `${k} ${v}`).join(', ') : 'none';

export async function stopGuestAgent(a: GuestAgent): Promise<void> {
  await a.vm.exec(
    `kill ${a.pid} 2>/dev/null; for i in $(seq 50); do kill -0 ${a.pid} 2>/dev/null || break; sleep 0.2; done; kill -9 ${a.pid} 2>/dev/null; ` +
      `for n in ${a.namespaces.join(' ')}; do ip netns del $n 2>/dev/null; done; true`,
    { allowFail: true, timeoutMs: 30_000 },
  );
}

// ---------------------------------------------------------------------------------------------
// Scenario 1: Figure 8 over VXLAN, one agent per VM

export interface TenantResult {
  tenant: string;
  ping: PingResult;
  iperf?: IperfResult;
}

export interface VxlanResult {
  tenants: TenantResult[];
  isolation: { ns: string; got: string[] }[];
  isolated: boolean;
  /** Non-zero drop counters of each agent at the end, by host. */
  drops: Record<string, Record<string, number> | undefined>;
  ok: boolean;
}

export async function runVxlanScenario(pair: VmPair, say: Say, o: { iperfSeconds: number }): Promise<VxlanResult> {
  const [vm1, vm2] = pair.vms;
  const policy = await vmPolicy('figure8.yaml');
  const file = writeSharedPolicy(pair, 'policy-vxlan.yaml', policy);
  say(`policy: examples/figure8.yaml with PAs host1=${LINK.vm1} (vm1), host2=${LINK.vm2} (vm2); in the guests ${file}`);
  const agents: GuestAgent[] = [];
  try {
    const started = await Promise.all([
      startGuestAgent(vm1, policy, file, 'host1', 'vxlan'),
      startGuestAgent(vm2, policy, file, 'host2', 'vxlan'),
    ]);
    agents.push(...started);
    say(`agents up: host1 in vm1 (${started[0].namespaces.join(', ')}), host2 in vm2 (${started[1].namespaces.join(', ')})`);
    const at = (name: string) => {
      const n = policy.networkInterfaces.find((x) => x.name === name)!;
      return { vm: n.host === 'host1' ? vm1 : vm2, ns: n.netns!, ip: n.ipAddress };
    };
    const tenants: TenantResult[] = [];
    for (const t of ['contoso', 'fabrikam']) {
      const web = at(`${t}-web`);
      const sql = at(`${t}-sql`);
      const ping = await guestPing(web.vm, web.ns, sql.ip, 5);
      const med = median(ping.rtts);
      say(`${t}: ping web (${web.ip}, vm2) -> sql (${sql.ip}, vm1): ${ping.received}/${ping.sent}${med !== undefined ? `, median rtt ${med.toFixed(2)} ms` : ''}`);
      tenants.push({ tenant: t, ping });
    }
    const c = { web: at('contoso-web'), sql: at('contoso-sql') };
    const f = { web: at('fabrikam-web'), sql: at('fabrikam-sql') };
    const isolation = await guestIsolation(pair, [
      { from: c.web, to: c.sql, addr: c.sql.ip, marker: 'from-contoso' },
      { from: f.web, to: f.sql, addr: f.sql.ip, marker: 'from-fabrikam' },
    ]);
    const isolated = isolation[0]!.got.join() === 'from-contoso' && isolation[1]!.got.join() === 'from-fabrikam';
    say(`isolation: both webs send a marker to 10.1.1.11:7777 -> ${isolation.map((i) => `${i.ns} got ${JSON.stringify(i.got)}`).join(', ')}`);
    for (const t of tenants) {
      const web = at(`${t.tenant}-web`);
      const sql = at(`${t.tenant}-sql`);
      t.iperf = await guestIperf({ vm: sql.vm, ns: sql.ns }, { vm: web.vm, ns: web.ns }, sql.ip, o.iperfSeconds);
      say(`${t.tenant}: iperf3 web -> sql ${o.iperfSeconds} s: ${t.iperf.error ? `failed: ${t.iperf.error}` : `${t.iperf.mbps.toFixed(0)} Mbit/s${t.iperf.retransmits !== undefined ? `, ${t.iperf.retransmits} retransmits` : ''}`}`);
    }
    const drops: VxlanResult['drops'] = {};
    for (const a of agents) {
      drops[a.host] = await guestAgentDrops(a);
      say(`agent ${a.host} drops: ${fmtDrops(drops[a.host])}`);
    }
    const ok = isolated && tenants.every((t) => t.ping.received > 0 && !!t.iperf && !t.iperf.error && t.iperf.mbps > 0);
    return { tenants, isolation, isolated, drops, ok };
  } finally {
    for (const a of agents) await stopGuestAgent(a).catch(() => undefined);
  }
}

// ---------------------------------------------------------------------------------------------
// Scenario 2: NVGRE interop, switchyard (vm1) <-> the guest kernel's gretap (vm2)

export interface NvgreResult {
  key: number;
  pingToKernel: PingResult;
  pingFromKernel: PingResult;
  tcpToKernel: IperfResult;
  tcpFromKernel: IperfResult;
  /** tcpdump's view of one GRE frame on vm1's link, if captured. */
  wire?: string;
  /** Non-zero drop counters of the switchyard agent (vm1) at the end. */
  drops?: Record<string, number>;
  ok: boolean;
}

export async function runNvgreInterop(pair: VmPair, say: Say, o: { iperfSeconds: number }): Promise<NvgreResult> {
  const [vm1, vm2] = pair.vms;
  const policy = await vmPolicy('nvgre.yaml', (v) => v === 'contoso');
  const web = policy.networkInterfaces.find((n) => n.name === 'contoso-web')!;
  const sql = policy.networkInterfaces.find((n) => n.name === 'contoso-sql')!;
  const subnet = policy.virtualNetworks.find((v) => v.name === 'contoso')!.subnets.find((s) => s.name === web.subnet)!;
  const flowId = typeof subnet.nvgreFlowId === 'number' ? subnet.nvgreFlowId : 0;
  const key = subnet.vsid * 256 + flowId;
  const file = writeSharedPolicy(pair, 'policy-nvgre.yaml', policy);
  const kns = 'nv-web';
  say(`vm2: kernel gretap peer as host2: gretap key ${key} (VSID ${subnet.vsid} << 8), bridge, veth into namespace ${kns} (${web.ipAddress}, ${web.macAddress})`);
  // The tenant MTU behind gretap: 1500 - outer IPv4 20 - GRE with key 8 - inner Ethernet 14.
  await vm2.exec(
    [
      'set -e',
      `ip link add gt-nv type gretap local ${LINK.vm2} remote ${LINK.vm1} key ${key}`,
      'ip link set gt-nv mtu 1458 up',
      'ip link add br-nv type bridge && ip link set br-nv up',
      'ip link set gt-nv master br-nv',
      `ip netns add ${kns}`,
      `ip link add nv-web-h type veth peer name eth0 netns ${kns}`,
      'ip link set nv-web-h mtu 1458 master br-nv up',
      `ip -n ${kns} link set lo up`,
      `ip -n ${kns} link set eth0 address ${web.macAddress} mtu 1458 up`,
      `ip -n ${kns} addr add ${web.ipAddress}/24 dev eth0`,
    ].join('\n'),
  );
  let agent: GuestAgent | undefined;
  try {
    agent = await startGuestAgent(vm1, policy, file, 'host1', 'nvgre');
    say(`vm1: switchyard agent host1 with examples/nvgre.yaml (contoso only, NVGRE, PA ${LINK.vm1})`);
    const cap = await vm1.exec(`setsid nohup timeout 30 tcpdump -i eth0 -nn -v -c 2 'ip proto 47' >/tmp/gre.txt 2>&1 </dev/null & echo $!`);
    await sleep(1500);
    const pingFromKernel = await guestPing(vm2, kns, sql.ipAddress, 5);
    say(`gretap (vm2) -> switchyard (vm1): ping ${pingFromKernel.received}/${pingFromKernel.sent}${pingFromKernel.rtts.length ? `, median ${median(pingFromKernel.rtts)!.toFixed(2)} ms` : ''}`);
    const pingToKernel = await guestPing(vm1, sql.netns, web.ipAddress, 5);
    say(`switchyard (vm1) -> gretap (vm2): ping ${pingToKernel.received}/${pingToKernel.sent}${pingToKernel.rtts.length ? `, median ${median(pingToKernel.rtts)!.toFixed(2)} ms` : ''}`);
    await vm1.exec(`kill ${Number(cap.stdout.trim())} 2>/dev/null; true`, { allowFail: true });
    const wireOut = (await vm1.exec('cat /tmp/gre.txt', { allowFail: true })).stdout;
    const wire = wireOut
      .split('\n')
      .find((l) => /GRE/.test(l) && /key=/.test(l))
      ?.trim();
    if (wire) say(`wire (vm1 eth0): ${wire.slice(0, 160)}`);
    const tcpFromKernel = await guestIperf({ vm: vm1, ns: sql.netns! }, { vm: vm2, ns: kns }, sql.ipAddress, o.iperfSeconds);
    say(`TCP gretap -> switchyard: ${tcpFromKernel.error ? `failed: ${tcpFromKernel.error}` : `${tcpFromKernel.mbps.toFixed(0)} Mbit/s`}`);
    const tcpToKernel = await guestIperf({ vm: vm2, ns: kns }, { vm: vm1, ns: sql.netns! }, web.ipAddress, o.iperfSeconds);
    say(`TCP switchyard -> gretap: ${tcpToKernel.error ? `failed: ${tcpToKernel.error}` : `${tcpToKernel.mbps.toFixed(0)} Mbit/s`}`);
    const ok =
      pingToKernel.received > 0 && pingFromKernel.received > 0 && !tcpToKernel.error && tcpToKernel.mbps > 0 && !tcpFromKernel.error && tcpFromKernel.mbps > 0;
    const res: NvgreResult = { key, pingToKernel, pingFromKernel, tcpToKernel, tcpFromKernel, ok };
    if (wire) res.wire = wire;
    const drops = await guestAgentDrops(agent);
    if (drops) res.drops = drops;
    say(`agent host1 (NVGRE) drops: ${fmtDrops(drops)}`);
    return res;
  } finally {
    if (agent) await stopGuestAgent(agent).catch(() => undefined);
    await vm2.exec(`ip netns del ${kns}; ip link del br-nv; ip link del gt-nv; true`, { allowFail: true }).catch(() => undefined);
  }
}

// ---------------------------------------------------------------------------------------------
// The demo

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
    for (const c of live) killGroup(c, 'SIGTERM');
    for (const v of pair?.vms ?? []) v.kill();
    setTimeout(() => {
      for (const c of live) killGroup(c, 'SIGKILL');
      for (const v of pair?.vms ?? []) {
        fs.rmSync(v.overlay, { force: true });
        fs.rmSync(v.socketPath, { force: true });
      }
      process.exit(130);
    }, 2500);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const summary: string[] = [];
  let ok = true;
  try {
    step('image and VMs (first run builds the Debian image: several minutes; later runs reuse .cache/vms)');
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
    console.log(`  total ${secs(Date.now() - t0)}; logs in ${pair.runDir}`);
    console.log(ok ? '\ndemo --vms: OK' : `\ndemo --vms: FAILED (logs: ${pair.runDir})`);
    return ok ? 0 : 1;
  } catch (err) {
    if (interrupted) return 130;
    console.error(`\ndemo --vms failed: ${(err as Error).message}`);
    console.error(`logs: ${pair?.runDir ?? path.join(VM_CACHE, 'logs')} (image build: ${path.join(VM_CACHE, 'logs')}; each run: ${VM_CACHE}/run-*)`);
    return 1;
  } finally {
    if (!interrupted && pair) {
      step('shutting down both VMs');
      await pair.stop();
    }
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
}
