// The agent as a process: a bad policy file is refused with every problem listed and nothing is
// created; a host missing from the policy or a PA that is not configured is a clear error; on
// SIGTERM the agent removes its TAPs and control socket.
import fs from 'node:fs';
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
    // contoso-sql gets a new MAC, and a new interface asks for a TAP named like the host's NIC
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
    await sleep(1500);
    expect(a.log.join('')).toMatch(/SIGHUP: policy refused/);
    const after = (await controlRequest(a.socket, { op: 'stats' })) as { generation: number };
    expect(after.generation).toBe(gen);
    const link = await runIn(r.ns('contoso-sql'), 'ip', ['-o', 'link', 'show']);
    expect(link.stdout).toContain(r.policy.networkInterfaces.find((n) => n.name === 'contoso-sql')!.macAddress);
    expect((await ping(r.ns('contoso-sql'), '10.1.1.1', 2)).received).toBe(2);
    fs.writeFileSync(r.policyFile, stringify(r.policy));
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
