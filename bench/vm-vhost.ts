/**
 * The `make bench` VM case (issue 18): TCP from a qemu guest to a namespace on the same host, in one
 * run, through
 *   sy    a switchyard vhost-user port (the agent of host1 in the Figure 8 lab, --workers 1),
 *   ovs   Open vSwitch with DPDK (Debian's openvswitch-switch-dpdk; DPDK without hugepages,
 *         FACTS.md): a netdev bridge with a dpdkvhostuserclient port (qemu is the socket's
 *         server) and an internal port in the namespace,
 *   tap   qemu's own TAP (userspace virtio, no vhost-net) on a kernel bridge, veth to the namespace.
 * The same small busybox guest (src/vms/tiny-guest.ts) and the same iperf3 run for each. Under TCG
 * the guest is the bottleneck for all three, so the figures are the ratios and the switch's CPU
 * per Gbit/s (CPU seconds of the agent / ovs-vswitchd process per second of run, over its rate;
 * the kernel bridge's softirq time is not attributable to a process: NaN). OVS-DPDK's PMD thread
 * busy-polls, so its CPU is a full core whatever the rate.
 *
 *   node --import tsx bench/vm-vhost.ts [seconds=5] [--json]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { figure8Policy } from '../src/policy/figure8.js';
import type { Policy } from '../src/policy/types.js';
import { createFigure8Lab, newTag } from '../src/lab/topology.js';
import { policyForLab } from '../src/lab/policy.js';
import { createTenantNamespaces, makeRunDir, startAgent, writePolicy } from '../src/lab/agents.js';
import { run, runIn, spawnIn, waitFor } from '../src/lab/run.js';
import { TinyGuest, tinyGuestFiles, type TinyGuestFiles } from '../src/vms/tiny-guest.js';
import { killGroup } from '../src/vms/children.js';
import { controlRequest } from '../src/agent/control-client.js';

const OVS_DPDK = '/usr/lib/openvswitch-switch-dpdk/ovs-vswitchd-dpdk';
const OVS_SCHEMA = '/usr/share/openvswitch/vswitch.ovsschema';

export interface VmPathFigure {
  path: string;
  gbps: number;
  /** CPU seconds of the switch process per second of the run. */
  switchCpu: number;
  /** switchCpu per Gbit/s. */
  cpuPerGbps: number;
  /** CPU seconds of qemu (the TCG guest: the bottleneck) per second of the run. */
  qemuCpu?: number;
  /** The guest's virtio interrupts per second during the run (/proc/interrupts in the guest). */
  guestIrqPerSec?: number;
  /** Feature bits the guest's virtio-net driver acked (its sysfs `features`), as hex. */
  guestFeatures?: string;
  note?: string;
}

/** virtio feature bit names, for the interop notes (virtio 1.x 5.1.3, 6). */
const FEATURE_NAMES: Record<number, string> = {
  0: 'CSUM', 1: 'GUEST_CSUM', 2: 'CTRL_GUEST_OFFLOADS', 3: 'MTU', 5: 'MAC', 7: 'GUEST_TSO4', 8: 'GUEST_TSO6', 9: 'GUEST_ECN',
  10: 'GUEST_UFO', 11: 'HOST_TSO4', 12: 'HOST_TSO6', 13: 'HOST_ECN', 14: 'HOST_UFO', 15: 'MRG_RXBUF', 16: 'STATUS', 17: 'CTRL_VQ',
  18: 'CTRL_RX', 19: 'CTRL_VLAN', 21: 'GUEST_ANNOUNCE', 22: 'MQ', 23: 'CTRL_MAC_ADDR', 27: 'ANY_LAYOUT', 28: 'RING_INDIRECT_DESC',
  29: 'RING_EVENT_IDX', 32: 'VERSION_1', 33: 'ACCESS_PLATFORM', 34: 'RING_PACKED', 35: 'IN_ORDER', 36: 'ORDER_PLATFORM',
  37: 'SR_IOV', 38: 'NOTIFICATION_DATA', 63: 'RSC_EXT',
};

/** Names of the bits set in `hex`. */
export function featureNames(hex: string): string[] {
  const v = BigInt(hex);
  const out: string[] = [];
  for (let b = 0; b < 64; b++) if ((v >> BigInt(b)) & 1n) out.push(FEATURE_NAMES[b] ?? `bit${b}`);
  return out;
}

/** The guest's acked features: sysfs prints them bit 0 first as a string of 0/1. */
async function guestFeatures(guest: TinyGuest): Promise<string> {
  const r = await guest.exec('cat /sys/class/net/eth0/device/features', 10_000);
  const bits = /[01]{32,}/.exec(r.out)?.[0] ?? '';
  let v = 0n;
  for (let i = 0; i < bits.length; i++) if (bits[i] === '1') v |= 1n << BigInt(i);
  return `0x${v.toString(16)}`;
}

async function guestIrqs(guest: TinyGuest): Promise<number> {
  const r = await guest.exec("awk '/virtio/ {s += $2} END {print s + 0}' /proc/interrupts", 10_000);
  return Number(/\d+/.exec(r.out)?.[0] ?? NaN);
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}

function say(m: string): void {
  process.stderr.write(`[bench vm ${new Date().toISOString().slice(11, 19)}] ${m}\n`);
}

/** utime + stime of a process (all its threads), in seconds. */
function cpuSeconds(pid: number): number {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[11]) + Number(rest[12])) / 100; // fields 14 and 15, USER_HZ = 100
}

interface Measured {
  gbps: number;
  cpu: number;
  qemuCpu: number;
  irqPerSec: number;
  features: string;
}

/** iperf3 server in `ns`, client in the guest; receiver Gbit/s, the switch's and qemu's CPU and the
 * guest's virtio interrupts over the run. */
async function measure(guest: TinyGuest, ns: string, addr: string, seconds: number, switchPid: number | undefined): Promise<Measured> {
  const server = runIn(ns, 'iperf3', ['-s', '-1', '-p', '5301'], { allowFail: true, timeoutMs: (seconds + 60) * 1000 });
  await waitFor(async () => (await runIn(ns, 'ss', ['-ltn'], { allowFail: true })).stdout.includes(':5301'), 5000, 'iperf3 server');
  const features = await guestFeatures(guest);
  const irq0 = await guestIrqs(guest);
  const c0 = switchPid ? cpuSeconds(switchPid) : 0;
  const q0 = guest.pid ? cpuSeconds(guest.pid) : NaN;
  const t0 = Date.now();
  const r = await guest.exec(`iperf3 -c ${addr} -p 5301 -t ${seconds} -f m`, (seconds + 60) * 1000);
  const wall = (Date.now() - t0) / 1000;
  const cpu = switchPid ? (cpuSeconds(switchPid) - c0) / wall : NaN;
  const qemuCpu = guest.pid ? (cpuSeconds(guest.pid) - q0) / wall : NaN;
  const irqPerSec = ((await guestIrqs(guest)) - irq0) / wall;
  await server;
  const m = /([\d.]+) Mbits\/sec\s+receiver/.exec(r.out);
  if (!m) throw new Error(`iperf3 in the guest: ${r.out.slice(-500)}`);
  return { gbps: Number(m[1]) / 1000, cpu, qemuCpu, irqPerSec, features };
}

function figure(pathName: string, x: Measured, note?: string): VmPathFigure {
  return {
    path: pathName, gbps: x.gbps, switchCpu: x.cpu, cpuPerGbps: x.cpu / x.gbps, qemuCpu: x.qemuCpu, guestIrqPerSec: x.irqPerSec,
    guestFeatures: x.features, ...(note ? { note } : {}),
  };
}

interface VhostCounters {
  rxFrames: number;
  txFrames: number;
  kicks: number;
  calls: number;
  callsSkipped: number;
  rxBatches: number;
  txBatches: number;
}

async function vhostCounters(agentSocket: string): Promise<VhostCounters> {
  const s = (await controlRequest(agentSocket, { op: 'stats' }, 5000)) as { vhostUser: { counters: VhostCounters }[] };
  return s.vhostUser[0].counters;
}

/** `env`: for the agent (SWITCHYARD_VHOST_EVENT_IDX=0: the back end offers no EVENT_IDX). */
async function viaSwitchyard(files: TinyGuestFiles, seconds: number, pathName = 'switchyard vhost-user', env?: NodeJS.ProcessEnv): Promise<VmPathFigure> {
  const lab = await createFigure8Lab();
  let guest: TinyGuest | undefined;
  const dir = makeRunDir(lab.tag);
  const socket = path.join(dir, 'vm.sock');
  const agentStops: (() => Promise<void>)[] = [];
  try {
    const p: Policy = figure8Policy();
    p.networkInterfaces.push({ name: 'contoso-vm', host: 'host1', virtualNetwork: 'contoso', subnet: 's1', macAddress: '02:00:00:00:50:21', ipAddress: '10.1.1.21', vhostUser: { socket, mode: 'server', queues: 1 } });
    const policy = policyForLab(p, lab.tenantNs);
    const file = writePolicy(dir, policy);
    await createTenantNamespaces(policy, ['host1']);
    const h = lab.hosts[0];
    const agent = await startAgent(h.ns, h.name, file, dir, ['--workers', '1'], env);
    agentStops.push(() => agent.stop());
    guest = await TinyGuest.boot({ files, port: { socket, mode: 'server', queues: 1 }, mac: '02:00:00:00:50:21', ip: '10.1.1.21/24', gateway: '10.1.1.1', mtu: 1450 });
    await guest.exec('ping -c 1 -W 5 10.1.1.11', 15_000);
    const c0 = await vhostCounters(agent.socket);
    const x = await measure(guest, lab.tenantNs('contoso-sql'), '10.1.1.11', seconds, agent.child.pid);
    const c1 = await vhostCounters(agent.socket);
    const d = (k: keyof VhostCounters) => c1[k] - c0[k];
    // how well notifications are batched: guest frames per kick and per read, interrupts per frame
    const note = `guest->switch ${d('rxFrames')} frames, ${round(d('rxFrames') / d('kicks'))}/kick, ${round(d('rxFrames') / d('rxBatches'))}/batch; ` +
      `switch->guest ${d('txFrames')} frames, ${round(d('txFrames') / d('txBatches'))}/batch; calls ${d('calls')} (skipped ${d('callsSkipped')})`;
    return figure(pathName, x, note);
  } finally {
    guest?.stop();
    for (const s of agentStops) await s().catch(() => undefined);
    await lab.destroy();
  }
}

/** A running OVS-DPDK for a VM: a netdev bridge with a dpdkvhostuserclient port (`vhuSocket`: qemu
 * is its server) and an internal port `tns` (10.77.0.2/24) in namespace `ns`. */
export interface OvsDpdk {
  ns: string;
  vhuSocket: string;
  /** ovs-vswitchd's pid (CPU accounting). */
  pid: number | undefined;
  dir: string;
  vsctl(...a: string[]): Promise<{ stdout: string }>;
  stop(): Promise<void>;
}

export interface OvsDpdkOptions {
  /** DPDK memory in MB (-m; FACTS.md: 512 works here). */
  memMb?: number;
  /** other_config:userspace-tso-enable: checksum/TSO offload on the vhost-user port, as ours has. */
  tso?: boolean;
}

/** Starts ovsdb-server and ovs-vswitchd-dpdk (DPDK without hugepages, FACTS.md) in a fresh
 * namespace, with the bridge and its two ports. */
export async function startOvsDpdk(o: OvsDpdkOptions = {}): Promise<OvsDpdk> {
  if (!fs.existsSync(OVS_DPDK)) throw new Error(`${OVS_DPDK} missing (apt-get install openvswitch-switch-dpdk)`);
  const tag = newTag('syo');
  const ns = `${tag}-t`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `${tag}-`));
  const db = path.join(dir, 'conf.db');
  const sock = path.join(dir, 'db.sock');
  const vsctl = (...a: string[]) => run('ovs-vsctl', [`--db=unix:${sock}`, '--timeout=30', ...a]);
  const kids: ChildProcess[] = [];
  const env = { ...process.env, OVS_RUNDIR: dir, OVS_LOGDIR: dir, OVS_DBDIR: dir };
  const stop = async (): Promise<void> => {
    for (const k of [...kids].reverse()) killGroup(k, 'SIGTERM');
    await new Promise((r) => setTimeout(r, 500));
    for (const k of kids) killGroup(k, 'SIGKILL');
    await run('ip', ['netns', 'del', ns], { allowFail: true });
    // DPDK's runtime files of this --file-prefix
    fs.rmSync(`/var/run/dpdk/${tag}`, { recursive: true, force: true });
    if (process.env.SWITCHYARD_KEEP_LOGS === '1') say(`OVS files kept in ${dir}`);
    else fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    await run('ip', ['netns', 'add', ns]);
    await run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    await run('ovsdb-tool', ['create', db, OVS_SCHEMA]);
    kids.push(spawnIn(undefined, 'ovsdb-server', [db, `--remote=punix:${sock}`, `--unixctl=${path.join(dir, 'ovsdb.ctl')}`, `--pidfile=${path.join(dir, 'ovsdb.pid')}`, `--log-file=${path.join(dir, 'ovsdb.log')}`], env));
    await waitFor(() => fs.existsSync(sock), 10_000, 'ovsdb-server');
    await vsctl('--no-wait', 'init');
    await vsctl('--no-wait', 'set', 'Open_vSwitch', '.', 'other_config:dpdk-init=true', `other_config:dpdk-extra=--no-huge --legacy-mem -m ${o.memMb ?? 512} --file-prefix=${tag}`,
      'other_config:per-port-memory=true', `other_config:userspace-tso-enable=${o.tso ?? true}`);
    // in the tenant namespace: its internal port (a TAP) is made right there
    const vswitchd = spawnIn(ns, OVS_DPDK, [`unix:${sock}`, `--unixctl=${path.join(dir, 'vswitchd.ctl')}`, `--pidfile=${path.join(dir, 'vswitchd.pid')}`, `--log-file=${path.join(dir, 'vswitchd.log')}`], env);
    kids.push(vswitchd);
    await waitFor(() => fs.existsSync(path.join(dir, 'vswitchd.ctl')), 60_000, 'ovs-vswitchd-dpdk');
    await vsctl('add-br', 'br0', '--', 'set', 'bridge', 'br0', 'datapath_type=netdev');
    const vhu = path.join(dir, 'vhu0.sock');
    await vsctl('add-port', 'br0', 'vhu0', '--', 'set', 'Interface', 'vhu0', 'type=dpdkvhostuserclient', `options:vhost-server-path=${vhu}`);
    await vsctl('add-port', 'br0', 'tns', '--', 'set', 'Interface', 'tns', 'type=internal');
    await waitFor(async () => (await runIn(ns, 'ip', ['link', 'show', 'tns'], { allowFail: true })).code === 0, 20_000, 'internal port');
    await runIn(ns, 'ip', ['addr', 'add', '10.77.0.2/24', 'dev', 'tns']);
    await runIn(ns, 'ip', ['link', 'set', 'tns', 'mtu', '1500', 'up']);
    await runIn(ns, 'ip', ['link', 'set', 'br0', 'up'], { allowFail: true });
    const err = (await vsctl('get', 'Interface', 'vhu0', 'error').catch(() => ({ stdout: '' }))).stdout.trim();
    if (err && err !== '[]') throw new Error(`OVS-DPDK vhost-user port: ${err}; log: ${fs.readFileSync(path.join(dir, 'vswitchd.log'), 'utf8').split('\n').filter((l) => /ERR|WARN/.test(l)).slice(-5).join(' | ')}`);
    return { ns, vhuSocket: vhu, pid: vswitchd.pid, dir, vsctl, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

async function viaOvsDpdk(files: TinyGuestFiles, seconds: number): Promise<VmPathFigure> {
  const ovs = await startOvsDpdk({ tso: process.env.SWITCHYARD_BENCH_OVS_TSO !== '0' });
  let guest: TinyGuest | undefined;
  try {
    guest = await TinyGuest.boot({
      files, port: { socket: ovs.vhuSocket, mode: 'client', queues: 1 }, mac: '02:00:00:00:77:03', ip: '10.77.0.3/24', gateway: '10.77.0.1', mtu: 1500,
    });
    await waitFor(async () => (await guest!.exec('ping -c 1 -W 2 10.77.0.2', 10_000)).out.includes('1 packets received'), 30_000, 'OVS-DPDK path to pass a ping');
    const status = (await ovs.vsctl('get', 'Interface', 'vhu0', 'status').catch(() => ({ stdout: '' }))).stdout.trim();
    return figure('OVS-DPDK vhost-user', await measure(guest, ovs.ns, '10.77.0.2', seconds, ovs.pid), `OVS status ${status.slice(0, 300)}`);
  } finally {
    guest?.stop();
    await ovs.stop();
  }
}

async function viaTapBridge(files: TinyGuestFiles, seconds: number): Promise<VmPathFigure> {
  const tag = newTag('syb');
  const hostNs = `${tag}-h`;
  const ns = `${tag}-t`;
  let guest: TinyGuest | undefined;
  try {
    for (const n of [hostNs, ns]) {
      await run('ip', ['netns', 'add', n]);
      await run('ip', ['-n', n, 'link', 'set', 'lo', 'up']);
    }
    await runIn(hostNs, 'ip', ['link', 'add', 'br0', 'type', 'bridge']);
    await runIn(hostNs, 'ip', ['link', 'set', 'br0', 'up']);
    await runIn(hostNs, 'ip', ['link', 'add', 'vb', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
    await runIn(hostNs, 'ip', ['link', 'set', 'vb', 'master', 'br0', 'up']);
    await runIn(ns, 'ip', ['addr', 'add', '10.78.0.2/24', 'dev', 'eth0']);
    await runIn(ns, 'ip', ['link', 'set', 'eth0', 'up']);
    const nic = ['-netdev', 'tap,id=n0,ifname=sytap0,script=no,downscript=no', '-device', 'virtio-net-pci,netdev=n0,mac=02:00:00:00:78:03'];
    const booting = TinyGuest.boot({ files, port: { socket: '', mode: 'server', queues: 1 }, mac: '02:00:00:00:78:03', ip: '10.78.0.3/24', gateway: '10.78.0.1', mtu: 1500, nicArgs: nic, netns: hostNs });
    await waitFor(async () => (await runIn(hostNs, 'ip', ['link', 'show', 'sytap0'], { allowFail: true })).code === 0, 30_000, 'qemu TAP');
    await runIn(hostNs, 'ip', ['link', 'set', 'sytap0', 'master', 'br0', 'up']);
    guest = await booting;
    await guest.exec('ping -c 1 -W 5 10.78.0.2', 15_000);
    return figure('qemu TAP + kernel bridge', await measure(guest, ns, '10.78.0.2', seconds, undefined), 'the bridge runs in softirq: its CPU is not attributable');
  } finally {
    guest?.stop();
    for (const n of [hostNs, ns]) await run('ip', ['netns', 'del', n], { allowFail: true });
  }
}

export async function runVmBench(seconds: number, only?: string): Promise<VmPathFigure[]> {
  const files = tinyGuestFiles();
  const out: VmPathFigure[] = [];
  const steps: [string, (f: TinyGuestFiles, s: number) => Promise<VmPathFigure>][] = [
    ['switchyard vhost-user', (f, s) => viaSwitchyard(f, s)],
    ['OVS-DPDK vhost-user', viaOvsDpdk],
    ['qemu TAP + kernel bridge', viaTapBridge],
  ];
  // SWITCHYARD_BENCH_VM_AB=1: the switchyard path again without EVENT_IDX (what it changes)
  if (process.env.SWITCHYARD_BENCH_VM_AB === '1') {
    steps.push(['switchyard vhost-user, no EVENT_IDX', (f, s) => viaSwitchyard(f, s, 'switchyard vhost-user, no EVENT_IDX', { SWITCHYARD_VHOST_EVENT_IDX: '0' })]);
  }
  for (const [name, fn] of steps) {
    if (only && !name.startsWith(only)) continue;
    say(name);
    try {
      out.push(await fn(files, seconds));
    } catch (err) {
      say(`${name} failed: ${(err as Error).message.slice(0, 400)}`);
      out.push({ path: name, gbps: NaN, switchCpu: NaN, cpuPerGbps: NaN, note: `failed: ${(err as Error).message.slice(0, 200)}` });
    }
  }
  return out;
}

if (process.argv[1] && import.meta.url.endsWith(path.basename(process.argv[1]))) {
  const seconds = Number(process.argv.find((a) => /^\d+$/.test(a)) ?? 5);
  const figs = await runVmBench(seconds, process.env.SWITCHYARD_BENCH_VM_ONLY);
  if (process.argv.includes('--json')) console.log(JSON.stringify(figs));
  else {
    for (const f of figs) {
      console.log(`${f.path.padEnd(36)} ${f.gbps.toFixed(3)} Gbit/s  switch CPU ${f.switchCpu.toFixed(2)}  CPU/Gbit/s ${f.cpuPerGbps.toFixed(2)}  qemu CPU ${f.qemuCpu?.toFixed(2) ?? '-'}  guest irq/s ${f.guestIrqPerSec?.toFixed(0) ?? '-'}`);
      if (f.guestFeatures) console.log(`  features ${f.guestFeatures}: ${featureNames(f.guestFeatures).join(' ')}`);
      if (f.note) console.log(`  ${f.note}`);
    }
  }
  process.exit(0);
}
