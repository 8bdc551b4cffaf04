// ACLs end to end (examples/figure8-acl.yaml): contoso-sql admits TCP 1433 and ICMP from its
// subnet and denies other inbound; return traffic of its own outbound connections still gets in
// (stateful); `ctl trace` names the rule that decided; `ctl dump-flows` shows the cached flows;
// an ACL added by a policy reload (SIGHUP) stops a flow at its next frame.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { ping, tcpConnect, tcpServer } from '../../src/lab/probes.js';
import { run, sleep } from '../../src/lab/run.js';
import type { Policy } from '../../src/policy/types.js';
import { startFigure8, type Figure8Run } from './lab-helpers.js';
import { ROOT_ONLY } from '../helpers/prerequisites.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = path.join(ROOT, 'bin/switchyard.js');

function aclPolicy(): Policy {
  return parse(fs.readFileSync(path.join(ROOT, 'examples/figure8-acl.yaml'), 'utf8')) as Policy;
}

async function ctl(socket: string, args: string[]): Promise<unknown> {
  const r = await run(process.execPath, [BIN, 'ctl', '--socket', socket, '--json', ...args]);
  return JSON.parse(r.stdout) as unknown;
}

describe('ACLs end to end', ROOT_ONLY, () => {
  let r: Figure8Run;
  beforeAll(async () => {
    r = await startFigure8({ policy: aclPolicy() });
  }, 60_000);
  afterAll(async () => {
    await r?.teardown();
  });

  it('admits the allowed port and denies the others', async () => {
    const sql = r.ns('contoso-sql');
    const web = r.ns('contoso-web');
    const allowed = await tcpServer(sql, 1433);
    const denied = await tcpServer(sql, 5201);
    try {
      expect(await tcpConnect(web, '10.1.1.11', 1433)).toBe(true);
      expect(await tcpConnect(web, '10.1.1.11', 5201)).toBe(false);
      expect((await ping(web, '10.1.1.11', 2)).received).toBe(2);
    } finally {
      allowed.stop();
      denied.stop();
    }
  });

  it('lets the return traffic of an outbound connection in (stateful)', async () => {
    // sql -> web:8080: the SYN-ACK from web arrives inbound, where only 1433 and ICMP are admitted
    const srv = await tcpServer(r.ns('contoso-web'), 8080);
    try {
      expect(await tcpConnect(r.ns('contoso-sql'), '10.1.1.12', 8080)).toBe(true);
    } finally {
      srv.stop();
    }
  });

  it('explains the decision with trace', async () => {
    const socket = r.agents[0]!.socket;
    const denied = (await ctl(socket, ['trace', '--port', 'contoso-sql', '--in', 'tcp,src=10.1.1.12,dport=5201'])) as {
      verdict: string;
      steps: { layer: string; rule: string | null; action: string }[];
    };
    expect(denied.verdict).toBe('drop');
    expect(JSON.stringify(denied.steps)).toContain('deny-other-inbound');
    const allowed = (await ctl(socket, ['trace', '--port', 'contoso-sql', '--in', 'tcp,src=10.1.1.12,dport=1433'])) as {
      verdict: string;
      steps: unknown[];
    };
    expect(allowed.verdict).toBe('forward');
    expect(JSON.stringify(allowed.steps)).toContain('allow-sql');
  });

  it('shows the cached flows with dump-flows', async () => {
    await ping(r.ns('contoso-web'), '10.1.1.11', 2);
    const flows = (await ctl(r.agents[0]!.socket, ['dump-flows', '--port', 'contoso-sql'])) as { generation: number; counters: { frames: number } }[];
    expect(flows.length).toBeGreaterThan(0);
    expect(flows.every((f) => f.generation >= 1)).toBe(true);
    expect(flows.some((f) => f.counters.frames > 0)).toBe(true);
  });

  it('stops a running flow at its next frame when an ACL is added (SIGHUP reload)', async () => {
    const web = r.ns('contoso-web');
    expect((await ping(web, '10.1.1.11', 2)).received).toBe(2);
    const p = aclPolicy();
    const acl = p.accessControlLists.find((a) => a.name === 'contoso-sql-acl')!;
    acl.aclRules.push({
      name: 'deny-ping',
      protocol: 'ICMP',
      sourceAddressPrefix: '*',
      destinationAddressPrefix: '*',
      sourcePortRange: '*',
      destinationPortRange: '*',
      action: 'Deny',
      type: 'Inbound',
      priority: 105,
    });
    const policy = { ...p, networkInterfaces: r.policy.networkInterfaces };
    fs.writeFileSync(r.policyFile, stringify(policy));
    r.agents[0]!.child.kill('SIGHUP');
    await sleep(1000);
    expect((await ping(web, '10.1.1.11', 3)).received).toBe(0);
    // TCP 1433 still passes: the change did not break the rest
    const srv = await tcpServer(r.ns('contoso-sql'), 1433);
    try {
      expect(await tcpConnect(web, '10.1.1.11', 1433)).toBe(true);
    } finally {
      srv.stop();
    }
  });
});
