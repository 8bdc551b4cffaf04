/**
 * Two linked VMs, vm1 and vm2: the two "hosts" of Figure 8. Builds (or reuses) the image, picks
 * the accelerator, boots both (a guest that does not come up is booted once more: TCG on a loaded
 * machine occasionally stalls early in boot), addresses their link (LINK: the PAs) and checks that it
 * carries pings. Each run has its own directory VM_RUNS/run-*: overlays, sockets, console and qemu
 * logs, and share/ (9p-mounted at /vm in both guests: policies, agent logs).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import dgram from 'node:dgram';
import { VM_RUNS } from './paths.js';
import { isStopping } from './children.js';
import type { Say } from './progress.js';
import { buildImage, type VmImage } from './image.js';
import { chooseAccel, type Accel } from './accel.js';
import { sweepLeftovers } from './leftovers.js';
import { Vm } from './vm.js';

/** The link addresses of the VMs: their PAs. */
export const LINK = { vm1: '10.99.0.1', vm2: '10.99.0.2', prefix: 24 } as const;

/** Boots per VM before giving up. */
const BOOT_ATTEMPTS = 2;

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

export interface VmPairOptions {
  memMb?: number;
  /** Per boot attempt; default 5 min under TCG, 90 s under KVM. */
  bootTimeoutMs?: number;
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

/** Boots `vm` until its command runner answers; a failed attempt's console log is kept as -console.N.log. */
async function boot(vm: Vm, image: VmImage, accel: Accel, memMb: number, timeoutMs: number, say: Say): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    vm.start(image, accel, memMb);
    try {
      return await vm.waitReady(timeoutMs, say);
    } catch (err) {
      await vm.stop(0);
      if (attempt >= BOOT_ATTEMPTS || isStopping()) throw err;
      const kept = vm.console.replace(/\.log$/, `.${attempt}.log`);
      fs.renameSync(vm.console, kept);
      say(`${vm.name}: boot attempt ${attempt} failed (${(err as Error).message.split('\n')[0]}); console kept in ${kept}; booting again`);
    }
  }
}

/** Addresses the link and waits for the 9p shares (the runner can be up before udev and systemd are done). */
async function configureGuest(vm: Vm): Promise<void> {
  await vm.exec(
    `for i in $(seq 120); do ip link show eth0 >/dev/null 2>&1 && mountpoint -q /switchyard && mountpoint -q /vm && break; sleep 0.5; done; ` +
      `ip link set eth0 mtu 1500 up && ip addr add ${vm.spec.linkAddr}/${LINK.prefix} dev eth0 && ` +
      `mountpoint -q /switchyard && mountpoint -q /vm && test -f /switchyard/bin/switchyard.js`,
    { timeoutMs: 90_000 },
  );
}

/** Builds (or reuses) the image, boots vm1 and vm2 linked by a loopback UDP socket, configures the link. */
export async function startVmPair(say: Say, o: VmPairOptions = {}): Promise<VmPair> {
  const t0 = Date.now();
  fs.mkdirSync(VM_RUNS, { recursive: true });
  sweepLeftovers(say);
  const image = await buildImage(say);
  const imageMs = Date.now() - t0;
  const accel = await chooseAccel(image, say);
  const runDir = fs.mkdtempSync(path.join(VM_RUNS, 'run-'));
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
    const memMb = o.memMb ?? 512;
    say(`booting vm1 and vm2 (${accel}, 1 vCPU, ${memMb} MB each; link 127.0.0.1:${p1} <-> 127.0.0.1:${p2}; logs in ${runDir})`);
    const timeout = o.bootTimeoutMs ?? (accel === 'tcg' ? 300_000 : 90_000);
    // allSettled: neither VM is left booting (or rebooting) when the other has failed
    const booted = await Promise.allSettled(vms.map((v) => boot(v, image, accel, memMb, timeout, say)));
    const failed = booted.find((b): b is PromiseRejectedResult => b.status === 'rejected');
    if (failed) throw failed.reason;
    booted.forEach((b, i) => say(`${vms[i]!.name}: up after ${((b as PromiseFulfilledResult<number>).value / 1000).toFixed(0)} s`));
    for (const v of vms) await configureGuest(v);
    const r = await vms[1].exec(`for i in $(seq 10); do ping -n -c 1 -W 2 ${LINK.vm1} && exit 0; done; exit 1`, { allowFail: true, timeoutMs: 40_000 });
    if (r.code !== 0) throw new Error(`the link between the VMs does not carry pings (vm2 -> vm1): ${r.stdout}${r.stderr}`);
    pair.timings.bootMs = Date.now() - tb;
    return pair;
  } catch (err) {
    await pair.stop();
    throw err;
  }
}
