/**
 * A real VM on a switchyard port (issue 18): qemu boots the small busybox guest
 * (scripts/vm/build-tiny-guest.sh: the two-VM image's Debian kernel, 2-3 s to a shell under TCG;
 * the two-VM Debian image itself takes minutes) with its NIC on a vhost-user port of host1's
 * agent in the Figure 8 lab. The guest pings and sends TCP (iperf3) to a namespace port on the
 * same host and, over VXLAN, on host2; the VM port's ACL refuses inbound TCP 7777; the agent
 * restarts and a TCP transfer that spans the restart completes (qemu reconnects: reconnect=1).
 *
 * The agent runs with --workers 1: a guest chooses its own transmit queue, so with several
 * workers the two directions of a flow could meet different workers' connection tracking (see
 * README, vhost-user ports).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { figure8Policy } from '../../src/policy/figure8.js';
import type { Policy } from '../../src/policy/types.js';
import { startAgent } from '../../src/lab/agents.js';
import { runIn, waitFor } from '../../src/lab/run.js';
import { controlRequest } from '../../src/agent/control-client.js';
import { TinyGuest, tinyGuestFiles } from '../../src/vms/tiny-guest.js';
import { startFigure8, type Figure8Run } from '../integration/lab-helpers.js';
import { requires } from '../helpers/prerequisites.js';

const CACHE = process.env.SWITCHYARD_VM_CACHE ?? '/var/cache/switchyard/vms';
const haveRootfs = fs.existsSync(CACHE) && fs.readdirSync(CACHE).some((d) => d.startsWith('rootfs-'));
const haveQemu = fs.existsSync('/usr/bin/qemu-system-x86_64');
const enabled = process.getuid?.() === 0 && haveQemu && (haveRootfs || process.env.SWITCHYARD_VM_TESTS === '1');

const VM = { name: 'contoso-vm', ip: '10.1.1.21', mac: '02:00:00:00:50:21' };

function vmPolicy(socket: string): Policy {
  const p = figure8Policy();
  p.networkInterfaces.push({
    name: VM.name, host: 'host1', virtualNetwork: 'contoso', subnet: 's1', macAddress: VM.mac, ipAddress: VM.ip,
    vhostUser: { socket, mode: 'server', queues: 1 }, accessControlList: 'vm-acl',
  });
  const rule = { protocol: 'TCP' as const, sourceAddressPrefix: '*', destinationAddressPrefix: '*', sourcePortRange: '*', type: 'Inbound' as const };
  p.accessControlLists.push({
    name: 'vm-acl',
    aclRules: [
      { ...rule, name: 'no-7777', destinationPortRange: '7777', action: 'Deny', priority: 100 },
      { ...rule, name: 'rest', protocol: 'All', destinationPortRange: '*', action: 'Allow', priority: 200 },
    ],
  });
  return p;
}

describe('a VM on a vhost-user port', requires(enabled, 'needs root, qemu and the VM rootfs (SWITCHYARD_VM_TESTS=1 builds it)'), () => {
  let run: Figure8Run | undefined;
  let guest: TinyGuest | undefined;
  let dir = '';

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-vhost-vm-'));
    const socket = path.join(dir, 'vm.sock');
    run = await startFigure8({ policy: vmPolicy(socket), agentArgs: ['--workers', '1'] });
    guest = await TinyGuest.boot({
      files: tinyGuestFiles(), port: { socket, mode: 'server', queues: 1 }, mac: VM.mac, ip: `${VM.ip}/24`, gateway: '10.1.1.1', mtu: 1450,
      logFile: path.join(dir, 'guest.log'),
    });
  }, 180_000);

  afterAll(async () => {
    guest?.stop();
    await run?.teardown();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('pings a namespace port on its host and one on host2 over VXLAN', async () => {
    const local = await guest!.exec('ping -c 3 -W 2 10.1.1.11', 20_000);
    expect(local.out).toMatch(/3 packets transmitted, [1-3] packets received/);
    const remote = await guest!.exec('ping -c 3 -W 2 10.1.1.12', 20_000);
    expect(remote.out).toMatch(/3 packets transmitted, [1-3] packets received/);
    // and the other tenant's 10.1.1.11 is not reachable from contoso: the reply came from contoso-sql
    const stats = (await controlRequest(run!.agents[0].socket, { op: 'stats' }, 5000)) as { vhostUser: { port: string; connected: boolean; features: string; counters: Record<string, number> }[] };
    const vm = stats.vhostUser.find((v) => v.port === VM.name)!;
    expect(vm.connected).toBe(true);
    expect(vm.counters.rxFrames).toBeGreaterThan(0);
    expect(vm.counters.badAddress + vm.counters.badChain + vm.counters.ringBroken).toBe(0);
    // qemu's memory-backend-memfd seals guest memory itself (seal=on by default): nothing for the
    // back end to seal, nothing mapped that could shrink under it
    expect(vm.counters.memUnsealed + vm.counters.memSealed + vm.counters.memRefused).toBe(0);
    // the guest acked notification suppression (EVENT_IDX, bit 29)
    expect((BigInt(vm.features) >> 29n) & 1n).toBe(1n);
  }, 60_000);

  it('sends TCP with iperf3 to a namespace on its host and across VXLAN to host2', async () => {
    for (const [nic, addr] of [['contoso-sql', '10.1.1.11'], ['contoso-web', '10.1.1.12']] as const) {
      const ns = run!.ns(nic);
      const server = runIn(ns, 'iperf3', ['-s', '-1', '-p', '5201'], { allowFail: true, timeoutMs: 60_000 });
      await waitFor(async () => (await runIn(ns, 'ss', ['-ltn'], { allowFail: true })).stdout.includes(':5201'), 5000, 'iperf3 server');
      const r = await guest!.exec(`iperf3 -c ${addr} -t 2 -f m`, 40_000);
      await server;
      expect(r.code, r.out).toBe(0);
      expect(r.out).toMatch(/receiver/);
      console.log(`[vhost] guest -> ${nic}: ${/([\d.]+) Mbits\/sec.*receiver/.exec(r.out)?.[1] ?? '?'} Mbit/s (TCG)`);
    }
  }, 120_000);

  it("the VM port's ACL denies inbound TCP 7777 and allows 7778", async () => {
    for (const port of [7777, 7778]) await guest!.background(`while true; do echo hi${port} | nc -l -p ${port}; done`, `/tmp/nc${port}`);
    const listening = async () => (await guest!.exec('netstat -ltn')).out;
    for (let i = 0; i < 50; i++) {
      const o = await listening();
      if (o.includes(':7777') && o.includes(':7778')) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const ns = run!.ns('contoso-sql');
    const ok = await runIn(ns, 'bash', ['-c', `exec 3<>/dev/tcp/${VM.ip}/7778 && timeout 5 head -c 6 <&3`], { allowFail: true, timeoutMs: 10_000 });
    expect(ok.stdout).toContain('hi7778');
    const denied = await runIn(ns, 'timeout', ['4', 'bash', '-c', `exec 3<>/dev/tcp/${VM.ip}/7777 && head -c 6 <&3`], { allowFail: true, timeoutMs: 10_000 });
    expect(denied.stdout).not.toContain('hi7777');
    expect(denied.code).not.toBe(0);
  }, 60_000);

  it('the agent restarts; qemu reconnects and a TCP transfer that spans the restart completes', async () => {
    const ns = run!.ns('contoso-sql');
    const server = runIn(ns, 'iperf3', ['-s', '-1', '-p', '5202'], { allowFail: true, timeoutMs: 90_000 });
    await waitFor(async () => (await runIn(ns, 'ss', ['-ltn'], { allowFail: true })).stdout.includes(':5202'), 5000, 'iperf3 server');
    await guest!.background('iperf3 -c 10.1.1.11 -p 5202 -t 12 -f m', '/tmp/iperf-restart');
    await new Promise((r) => setTimeout(r, 3000));
    const old = run!.agents[0];
    await old.stop();
    const h = run!.lab.hosts[0];
    const again = await startAgent(h.ns, h.name, run!.policyFile, run!.dir, ['--workers', '1']);
    run!.agents[0] = again;
    await waitFor(async () => {
      const s = (await controlRequest(again.socket, { op: 'stats' }, 5000)) as { vhostUser: { connected: boolean; ringsReady: number }[] };
      return s.vhostUser[0]?.connected === true && s.vhostUser[0].ringsReady === 2;
    }, 20_000, 'qemu to reconnect to the new agent');
    await server;
    const out = await guest!.exec('cat /tmp/iperf-restart', 10_000);
    expect(out.out).toMatch(/receiver/);
    expect(out.out).not.toMatch(/error/i);
    const ping = await guest!.exec('ping -c 2 -W 2 10.1.1.12', 20_000);
    expect(ping.out).toMatch(/2 packets transmitted, [12] packets received/);
  }, 120_000);
});
