// Malformed input at both edges, crafted by scapy: frames written into a TAP and datagrams put on
// the underlay are counted drops by reason, and the agent keeps forwarding afterwards.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { controlRequest } from '../../src/agent/control-client.js';
import { ping } from '../../src/lab/probes.js';
import { runIn, sleep } from '../../src/lab/run.js';
import { startFigure8, type Figure8Run } from './lab-helpers.js';
import { ROOT_ONLY } from '../helpers/prerequisites.js';

const SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'scapy', 'malformed.py');

interface Stats {
  drops: Record<string, number>;
  counters: Record<string, number>;
}

describe('malformed frames are counted drops, never crashes', ROOT_ONLY, () => {
  let r: Figure8Run;
  beforeAll(async () => {
    r = await startFigure8();
  }, 60_000);
  afterAll(async () => {
    await r?.teardown();
  });
  const stats = async (i: number) => (await controlRequest(r.agents[i]!.socket, { op: 'stats' })) as Stats;

  it('drops bad frames from a tenant TAP', async () => {
    const ports = (await controlRequest(r.agents[1]!.socket, { op: 'ports' })) as { name: string; ifname: string }[];
    const ifname = ports.find((p) => p.name === 'contoso-web')!.ifname;
    const before = await stats(1);
    const out = await runIn(r.ns('contoso-web'), '/usr/bin/python3', [SCRIPT, 'tap', ifname], { timeoutMs: 60_000 });
    expect(Number(out.stdout.trim())).toBe(5);
    await sleep(300);
    const after = await stats(1);
    expect(after.drops['malformed']! - (before.drops['malformed'] ?? 0)).toBeGreaterThanOrEqual(5);
    expect(r.agents[1]!.child.exitCode).toBeNull();
  });

  it('drops bad VXLAN from the underlay by reason', async () => {
    const before = await stats(0);
    // from host2's PA (known): I flag clear, header cut, inner cut, unknown VNI
    await runIn(r.lab.hosts[1].ns, '/usr/bin/python3', [SCRIPT, 'underlay', '192.168.1.10', '192.168.2.20'], { timeoutMs: 60_000 });
    // from the router's address: not a provider address of any host
    await runIn(r.lab.router, '/usr/bin/python3', [SCRIPT, 'underlay', '192.168.1.10', '192.168.1.1'], { timeoutMs: 60_000 });
    await sleep(300);
    const after = await stats(0);
    const d = (k: string) => (after.drops[k] ?? 0) - (before.drops[k] ?? 0);
    expect(d('malformed')).toBe(3);
    expect(d('unknown-vni')).toBe(1);
    expect(d('unknown-src-pa')).toBe(4);
    expect(r.agents[0]!.child.exitCode).toBeNull();
  });

  it('keeps forwarding afterwards', async () => {
    const p = await ping(r.ns('contoso-web'), '10.1.1.11', 3);
    expect(p.received).toBe(3);
  });
});
