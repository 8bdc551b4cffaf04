// The agent touches only what it made (issue 16). Victims made by the test: a namespace with its
// own devices, address and default route that a policy names (create and adopt), a persistent
// TAP a policy names as ifname, and ownership records of crashed and running agents. The agent
// must leave every victim as it found it, fail only the ports that would take something, keep
// the other ports forwarding, and restore on stop what it changed.
import { ROOT_ONLY } from '../helpers/prerequisites.js';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { figure8Policy } from '../../src/policy/figure8.js';
import type { NetworkInterface, Policy } from '../../src/policy/types.js';
import { createFigure8Lab, type Figure8Lab } from '../../src/lab/topology.js';
import { policyForLab } from '../../src/lab/policy.js';
import { createTenantNamespaces, makeRunDir, startAgent, writePolicy, type RunningAgent } from '../../src/lab/agents.js';
import { ping } from '../../src/lab/probes.js';
import { run, runIn } from '../../src/lab/run.js';
import { controlRequest } from '../../src/agent/control-client.js';
import { compileSnapshot } from '../../src/vfp/snapshot.js';
import { createTenantPort, PortConflictError } from '../../src/agent/ports.js';
import { Ownership } from '../../src/agent/ownership.js';
import { linkExists, netnsAdd, netnsDelete, netnsExists } from '../../src/io/netdev.js';

const BIN = path.resolve(import.meta.dirname, '../../bin/switchyard.js');
const log = { info: () => undefined, warn: () => undefined, error: () => undefined, debug: () => undefined } as never;

/** Everything about a namespace the agent could change: links, addresses, routes of every table. */
async function stateOf(ns: string): Promise<string> {
  const links = await run('ip', ['-n', ns, '-o', 'link', 'show']);
  const addrs = await run('ip', ['-n', ns, '-o', 'addr', 'show']);
  const routes = await run('ip', ['-n', ns, 'route', 'show', 'table', 'all']);
  return [links.stdout, addrs.stdout, routes.stdout].join('\n---\n');
}

/** A victim namespace with a veth pair, an address and (optionally) its own default route. */
async function makeVictimNs(ns: string, withDefault: boolean): Promise<void> {
  await run('ip', ['netns', 'add', ns]);
  // no IPv6: its addresses settle (DAD) on their own time and would make the before/after differ
  await runIn(ns, 'sysctl', ['-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
  await run('ip', ['-n', ns, 'link', 'add', 'va', 'type', 'veth', 'peer', 'name', 'vb']);
  await run('ip', ['-n', ns, 'addr', 'add', '172.31.0.1/24', 'dev', 'va']);
  await run('ip', ['-n', ns, 'link', 'set', 'va', 'up']);
  await run('ip', ['-n', ns, 'link', 'set', 'vb', 'up']);
  if (withDefault) await run('ip', ['-n', ns, 'route', 'add', 'default', 'via', '172.31.0.254', 'dev', 'va']);
}

function nic(name: string, ip: string, mac: string, extra: Partial<NetworkInterface>): NetworkInterface {
  return { name, host: 'host1', virtualNetwork: 'contoso', subnet: 's1', macAddress: mac, ipAddress: ip, ...extra };
}

describe('agent ownership: victims a policy names are left alone', ROOT_ONLY, () => {
  let lab: Figure8Lab;
  let agents: RunningAgent[] = [];
  let policy: Policy;
  let victimTap: string;
  const ns = { create: '', adopt: '', bare: '' };
  const before: Record<string, string> = {};
  let tapBefore = '';

  beforeAll(async () => {
    lab = await createFigure8Lab();
    try {
      ns.create = `${lab.tag}-vcreate`;
      ns.adopt = `${lab.tag}-vadopt`;
      ns.bare = `${lab.tag}-vbare`;
      victimTap = `${lab.tag}vt`;
      await makeVictimNs(ns.create, true);
      await makeVictimNs(ns.adopt, true);
      await makeVictimNs(ns.bare, false);
      // someone's persistent TAP in the host namespace the agent runs in
      const h1 = lab.hosts[0].ns;
      await runIn(h1, 'ip', ['tuntap', 'add', 'dev', victimTap, 'mode', 'tap']);
      await run('ip', ['-n', h1, 'link', 'set', victimTap, 'address', '02:aa:bb:cc:dd:ee']);
      for (const n of Object.values(ns)) before[n] = await stateOf(n);
      tapBefore = (await run('ip', ['-n', h1, '-o', 'link', 'show', victimTap])).stdout;
      policy = policyForLab(figure8Policy(), lab.tenantNs);
      policy.networkInterfaces.push(
        nic('vic-create', '10.1.1.61', '02:00:00:00:50:61', { netns: ns.create }),
        nic('vic-tap', '10.1.1.62', '02:00:00:00:50:62', { ifname: victimTap }),
        nic('adopter', '10.1.1.63', '02:00:00:00:50:63', { netns: ns.adopt, netnsMode: 'adopt' }),
        nic('adopter-bare', '10.1.1.64', '02:00:00:00:50:64', { netns: ns.bare, netnsMode: 'adopt' }),
      );
      const dir = makeRunDir(lab.tag);
      const file = writePolicy(dir, policy);
      await createTenantNamespaces(policyForLab(figure8Policy(), lab.tenantNs), ['host1', 'host2']);
      for (const h of lab.hosts) agents.push(await startAgent(h.ns, h.name, file, dir));
    } catch (err) {
      for (const a of agents) await a.stop().catch(() => undefined);
      await lab.destroy();
      throw err;
    }
  }, 120_000);

  afterAll(async () => {
    for (const a of agents) await a.stop().catch(() => undefined);
    agents = [];
    await lab?.destroy();
  });

  it('fails only the ports that would take something; the others forward', async () => {
    const ports = (await controlRequest(agents[0]!.socket, { op: 'ports' })) as { name: string; error?: string; netnsMode?: string }[];
    const byName = new Map(ports.map((p) => [p.name, p]));
    expect(byName.get('vic-create')!.error).toMatch(new RegExp(`netns ${ns.create} exists and was not created by this agent`));
    expect(byName.get('vic-tap')!.error).toMatch(new RegExp(`a network device named ${victimTap} exists already`));
    expect(byName.get('adopter')!.error).toBeUndefined();
    expect(byName.get('adopter')!.netnsMode).toBe('adopt');
    expect(byName.get('contoso-sql')!.error).toBeUndefined();
    const stats = (await controlRequest(agents[0]!.socket, { op: 'stats' })) as { failedPorts: number };
    expect(stats.failedPorts).toBe(2);
    expect((await ping(lab.tenantNs('contoso-web'), '10.1.1.11', 2)).received).toBe(2);
    expect((await ping(lab.tenantNs('fabrikam-web'), '10.1.1.11', 2)).received).toBe(2);    const ctl = await run(process.execPath, [BIN, 'ctl', '--socket', agents[0]!.socket, 'ports']);
    expect(ctl.stdout).toMatch(/vic-tap .* FAILED: port vic-tap/);
    expect(ctl.stdout).toMatch(new RegExp(`adopter .*${ns.adopt} \\(adopt\\) .* up`));
  });

  it('leaves a namespace it did not create, and a TAP it did not open, as they were', async () => {
    expect(await stateOf(ns.create)).toBe(before[ns.create]);
    expect((await run('ip', ['-n', lab.hosts[0].ns, '-o', 'link', 'show', victimTap])).stdout).toBe(tapBefore);
  });

  it('adopt: adds its port and address, keeps the owner\'s default route, adds one only where none is', async () => {
    const routes = (await run('ip', ['-n', ns.adopt, 'route', 'show', 'default'])).stdout.trim();
    expect(routes).toBe('default via 172.31.0.254 dev va');
    expect((await run('ip', ['-n', ns.adopt, '-o', 'addr', 'show'])).stdout).toContain('10.1.1.63/24');
    // the adopted port forwards: the subnet is on-link through the agent's TAP
    expect((await ping(ns.adopt, '10.1.1.12', 2)).received).toBe(2);
    const bare = (await run('ip', ['-n', ns.bare, 'route', 'show', 'default'])).stdout.trim();
    expect(bare).toMatch(/^default via 10\.1\.1\.1 dev sy-adopter-bare/);
  });

  it('on stop, every victim namespace is exactly as before', async () => {
    const a = agents[0]!;
    await a.stop();
    expect(a.child.exitCode).toBe(0);
    for (const n of Object.values(ns)) expect(await stateOf(n), n).toBe(before[n]);
    expect((await run('ip', ['-n', lab.hosts[0].ns, '-o', 'link', 'show', victimTap])).stdout).toBe(tapBefore);
    // a clean stop leaves no ownership record
    const stateDir = path.join(path.dirname(a.socket), 'host1.state');
    expect(fs.readdirSync(stateDir)).toEqual([]);
  });
});

describe('ports in create mode, and a restarted agent\'s leftovers', ROOT_ONLY, () => {
  const tag = `syo${process.pid.toString(36)}${Math.random().toString(36).slice(2, 5)}`;
  const made: string[] = [];
  let dir = '';

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), `${tag}-`));
  });
  afterAll(async () => {
    for (const n of made) await netnsDelete(n, true).catch(() => undefined);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function portInfo(netns: string, ifname: string) {
    const p = figure8Policy();
    const sql = p.networkInterfaces.find((n) => n.name === 'contoso-sql')!;
    sql.netns = netns;
    sql.ifname = ifname;
    return compileSnapshot(p, 'host1', 1).ports.find((x) => x.name === 'contoso-sql')!;
  }
  const mode = { offload: false, multiQueue: false };

  it('create: makes the namespace, records it, and removes both with the port', async () => {
    const owned = await Ownership.open(path.join(dir, 'a'), log);
    const ns = `${tag}-c`;
    made.push(ns);
    const port = await createTenantPort(portInfo(ns, `${tag}t`), 1500, log, mode, { fallbacks: 0 }, { netnsMode: 'create', owned });
    expect(await netnsExists(ns)).toBe(true);
    const record = JSON.parse(fs.readFileSync(path.join(dir, 'a', `owned-${process.pid}.json`), 'utf8')) as { namespaces: string[]; taps: string[] };
    expect(record).toMatchObject({ namespaces: [ns], taps: [`${tag}t`] });
    expect((await run('ip', ['-n', ns, 'route', 'show', 'default'])).stdout.trim()).toBe(`default via 10.1.1.1 dev ${tag}t`);
    await port.remove();
    expect(await netnsExists(ns)).toBe(false);
    await owned.close();
    expect(fs.readdirSync(path.join(dir, 'a'))).toEqual([]);
  });

  it('create on a namespace someone else made, adopt of one that is missing: errors of that port, nothing made', async () => {
    const owned = await Ownership.open(path.join(dir, 'b'), log);
    const victim = `${tag}-v`;
    made.push(victim);
    await netnsAdd(victim);
    const before = await stateOf(victim);
    const attempt = createTenantPort(portInfo(victim, `${tag}u`), 1500, log, mode, { fallbacks: 0 }, { netnsMode: 'create', owned });
    await expect(attempt).rejects.toThrow(PortConflictError);
    await expect(attempt).rejects.toThrow(`netns ${victim} exists and was not created by this agent`);
    expect(await linkExists(`${tag}u`)).toBe(false);
    expect(await stateOf(victim)).toBe(before);
    const missing = createTenantPort(portInfo(`${tag}-none`, `${tag}u`), 1500, log, mode, { fallbacks: 0 }, { netnsMode: 'adopt', owned });
    await expect(missing).rejects.toThrow(`netns ${tag}-none does not exist`);
    expect(await netnsExists(`${tag}-none`)).toBe(false);
    await owned.close();
  });

  it('a restarted agent removes what a dead agent of its host recorded, and nothing of a live one or of others', async () => {
    const stateDir = path.join(dir, 'c');
    fs.mkdirSync(stateDir, { mode: 0o700 });
    const [leftover, others, livesOn] = [`${tag}-l`, `${tag}-o`, `${tag}-r`];
    made.push(leftover, others, livesOn);
    for (const n of [leftover, others, livesOn]) await netnsAdd(n);
    // a crashed agent: its process is gone
    const dead = spawn('true');
    await new Promise((r) => dead.once('exit', r));
    fs.writeFileSync(path.join(stateDir, `owned-${dead.pid}.json`), JSON.stringify({ pid: dead.pid, namespaces: [leftover], taps: ['gone0'] }));
    // a running agent of the same host (here: a live process)
    const live = spawn('sleep', ['30']);
    try {
      fs.writeFileSync(path.join(stateDir, `owned-${live.pid}.json`), JSON.stringify({ pid: live.pid, namespaces: [livesOn], taps: [] }));
      const owned = await Ownership.open(stateDir, log);
      expect(await netnsExists(leftover)).toBe(false);
      expect(await netnsExists(others)).toBe(true);
      expect(await netnsExists(livesOn)).toBe(true);
      expect(fs.existsSync(path.join(stateDir, `owned-${dead.pid}.json`))).toBe(false);
      expect(fs.existsSync(path.join(stateDir, `owned-${live.pid}.json`))).toBe(true);
      await owned.close();
    } finally {
      live.kill('SIGKILL');
    }
  });
});
