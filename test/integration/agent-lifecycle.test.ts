// The agent as a process: a bad policy file is refused with every problem listed and nothing is
// created; a host missing from the policy or a PA that is not configured is a clear error; a port
// that would take a device that is not the agent's fails alone; a control client that never reads
// does not grow the agent; on SIGTERM the agent removes its TAPs and control socket.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { runIn, sleep } from '../../src/lab/run.js';
import { ping } from '../../src/lab/probes.js';
import { controlRequest } from '../../src/agent/control-client.js';
import { figure8Policy } from '../../src/policy/figure8.js';
import { startFigure8, type Figure8Run } from './lab-helpers.js';
import { ROOT_ONLY } from '../helpers/prerequisites.js';

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/switchyard.js');

describe('agent lifecycle', ROOT_ONLY, () => {
  let r: Figure8Run;
  beforeAll(async () => {
    r = await startFigure8({ agentHosts: ['host1'] });
  }, 60_000);
  afterAll(async () => {
    await r?.teardown();
  });
  const agentIn = (ns: string, file: string, host: string) =>
    runIn(ns, process.execPath, [BIN, 'agent', '--policy', file, '--host', host, '--control', path.join(r.dir, `x-${host}.sock`)], {
      allowFail: true,
      timeoutMs: 20_000,
    });

  it('refuses a bad policy file, lists every problem, creates nothing', async () => {
    const bad = figure8Policy();
    bad.networkInterfaces[0]!.macAddress = '01:00:5e:00:00:01';
    bad.virtualNetworks[1]!.subnets[0]!.vsid = 12;
    const file = path.join(r.dir, 'bad.yaml');
    fs.writeFileSync(file, stringify(bad));
    const out = await agentIn(r.lab.hosts[1].ns, file, 'host2');
    expect(out.code).toBe(2);
    expect(out.stderr).toContain('agent not started');
    expect(out.stderr).toMatch(/networkInterfaces\[0\]\.macAddress: not a unicast MAC/);
    expect(out.stderr).toMatch(/virtualNetworks\[1\]\.subnets\[0\]\.vsid: vsid 12 out of range/);
    const links = await runIn(r.lab.hosts[1].ns, 'ip', ['-o', 'link', 'show', 'type', 'tun']);
    expect(links.stdout.trim()).toBe('');
  });

  it('says which host or provider address is wrong', async () => {
    const wrongHost = await agentIn(r.lab.hosts[1].ns, r.policyFile, 'host9');
    expect(wrongHost.code).not.toBe(0);
    expect(wrongHost.stderr).toContain('host "host9" is not in the policy');
    // host1's PA is not configured in host2's namespace
    const wrongPa = await agentIn(r.lab.hosts[1].ns, r.policyFile, 'host1');
    expect(wrongPa.code).not.toBe(0);
    expect(wrongPa.stderr).toContain('provider address 192.168.1.10 is not configured');
  });

  it('refuses a second agent for the same host and leaves the first one reachable', async () => {
    const a = r.agents[0]!;
    const second = await runIn(r.lab.hosts[0].ns, process.execPath, [BIN, 'agent', '--policy', r.policyFile, '--host', 'host1', '--control', a.socket], {
      allowFail: true,
      timeoutMs: 20_000,
    });
    expect(second.code).not.toBe(0);
    expect(second.stderr).toMatch(/4789|already serves/);
    expect(await controlRequest(a.socket, { op: 'ping' })).toBe('pong');
  });

  it('keeps the running policy whole when a reload cannot be applied', async () => {
    const a = r.agents[0]!;
    const gen = ((await controlRequest(a.socket, { op: 'stats' })) as { generation: number }).generation;
    expect((await ping(r.ns('contoso-sql'), '10.1.1.1', 2)).received).toBe(2);
    // contoso-sql gets a new MAC, and host1 a provider address it does not have
    const next = structuredClone(r.policy);
    next.networkInterfaces.find((n) => n.name === 'contoso-sql')!.macAddress = '02:00:00:00:50:99';
    next.hosts.find((h) => h.name === 'host1')!.providerAddresses = ['192.168.1.99'];
    fs.writeFileSync(r.policyFile, stringify(next));
    a.child.kill('SIGHUP');
    await sleep(1500);
    expect(a.log.join('')).toMatch(/SIGHUP: policy refused/);
    const after = (await controlRequest(a.socket, { op: 'stats' })) as { generation: number };
    expect(after.generation).toBe(gen);
    const link = await runIn(r.ns('contoso-sql'), 'ip', ['-o', 'link', 'show']);
    expect(link.stdout).toContain(r.policy.networkInterfaces.find((n) => n.name === 'contoso-sql')!.macAddress);
    expect((await ping(r.ns('contoso-sql'), '10.1.1.1', 2)).received).toBe(2);
    fs.writeFileSync(r.policyFile, stringify(r.policy));
  });

  it('a new interface named like the host\'s NIC fails alone: the NIC is untouched, the rest of the reload applies', async () => {
    const a = r.agents[0]!;
    const h1 = r.lab.hosts[0].ns;
    const eth0Before = (await runIn(h1, 'ip', ['-o', 'addr', 'show', 'dev', 'eth0'])).stdout;
    const gen = ((await controlRequest(a.socket, { op: 'stats' })) as { generation: number }).generation;
    const next = structuredClone(r.policy);
    next.networkInterfaces.find((n) => n.name === 'contoso-sql')!.macAddress = '02:00:00:00:50:99';
    next.networkInterfaces.push({
      name: 'extra',
      host: 'host1',
      virtualNetwork: 'contoso',
      subnet: 's1',
      macAddress: '02:00:00:00:50:77',
      ipAddress: '10.1.1.77',
      ifname: 'eth0',
    });
    fs.writeFileSync(r.policyFile, stringify(next));
    a.child.kill('SIGHUP');
    for (let i = 0; i < 50; i++) {
      if (((await controlRequest(a.socket, { op: 'stats' })) as { generation: number }).generation > gen) break;
      await sleep(100);
    }
    const ports = (await controlRequest(a.socket, { op: 'ports' })) as { name: string; error?: string }[];
    expect(ports.find((p) => p.name === 'extra')?.error).toMatch(/a network device named eth0 exists already/);
    expect((await runIn(h1, 'ip', ['-o', 'addr', 'show', 'dev', 'eth0'])).stdout).toBe(eth0Before);
    const link = await runIn(r.ns('contoso-sql'), 'ip', ['-o', 'link', 'show']);
    expect(link.stdout).toContain('02:00:00:00:50:99');
    expect((await ping(r.ns('contoso-sql'), '10.1.1.1', 2)).received).toBe(2);
    // back to the lab's policy (the next test checks the TAPs are gone on SIGTERM)
    fs.writeFileSync(r.policyFile, stringify(r.policy));
    const applied = ((await controlRequest(a.socket, { op: 'stats' })) as { generation: number }).generation;
    a.child.kill('SIGHUP');
    for (let i = 0; i < 50; i++) {
      if (((await controlRequest(a.socket, { op: 'stats' })) as { generation: number }).generation > applied) break;
      await sleep(100);
    }
  });

  it('a client that pipelines trace requests and never reads does not grow the agent', async () => {
    const a = r.agents[0]!;
    const rss = () => Number(/VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${a.child.pid}/status`, 'utf8'))![1]) / 1024;
    const before = rss();
    const conn = net.createConnection(a.socket);
    await new Promise<void>((res) => conn.once('connect', () => res()));
    conn.pause();
    const line = JSON.stringify({ op: 'trace', port: 'contoso-sql', direction: 'out', spec: { proto: 'tcp', dst: '10.1.1.12', sport: 1234, dport: 80 } }) + '\n';
    let written = 0;
    let peak = before;
    const total = 50_000;
    try {
      while (written < total) {
        if (!conn.write(line)) {
          const drained = await new Promise<boolean>((res) => {
            const t = setTimeout(() => res(false), 1000);
            conn.once('drain', () => {
              clearTimeout(t);
              res(true);
            });
          });
          peak = Math.max(peak, rss());
          if (!drained) break;
        }
        written++;
      }
      for (let i = 0; i < 10; i++) {
        await sleep(100);
        peak = Math.max(peak, rss());
      }
      console.log(`agent RSS ${before.toFixed(1)} MB before, peak ${peak.toFixed(1)} MB; ${written} of ${total} pipelined traces taken`);
      expect(written).toBeLessThan(total);
      expect(peak - before).toBeLessThan(50);
      expect(await controlRequest(a.socket, { op: 'ping' })).toBe('pong');
    } finally {
      conn.destroy();
    }
  });

  it('removes its TAPs and control socket on SIGTERM', async () => {
    const a = r.agents[0]!;
    const sql = r.ns('contoso-sql');
    expect((await runIn(sql, 'ip', ['-o', 'link', 'show', 'type', 'tun'])).stdout).toContain('sy-contoso-sql');
    await a.stop();
    expect(a.child.exitCode).toBe(0);
    expect((await runIn(sql, 'ip', ['-o', 'link', 'show', 'type', 'tun'])).stdout.trim()).toBe('');
    expect(fs.existsSync(a.socket)).toBe(false);
  });
});
