// `ctl apply / get / delete` command functions against a real controller on 127.0.0.1.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ctlApply, ctlDelete, ctlGet, parseKind } from '../../src/cli/apply-cmd.js';
import { parseListen } from '../../src/cli/controller-cmd.js';
import { parse } from 'yaml';
import { FIGURE8_YAML } from '../../src/policy/figure8.js';
import { parsePolicy } from '../../src/policy/validate.js';
import type { Policy } from '../../src/policy/types.js';
import type { Running } from './controller-fixture.js';
import { TOKEN, dumpStore, startController, tempDir } from './controller-fixture.js';

let tmp: ReturnType<typeof tempDir>;
let running: Running;
let tokenFile: string;
let out: string[];
let err: string[];
const io = { out: (text: string) => out.push(text), err: (text: string) => err.push(text) };

beforeEach(async () => {
  tmp = tempDir();
  running = await startController(path.join(tmp.dir, 'store.db'));
  tokenFile = path.join(tmp.dir, 'token');
  writeFileSync(tokenFile, `${TOKEN}\n`);
  out = [];
  err = [];
});

afterEach(async () => {
  await running.server.close();
  tmp.cleanup();
});

describe('ctl apply/get/delete', () => {
  it('applies a policy file, then reports it unchanged', async () => {
    const file = path.join(tmp.dir, 'figure8.yaml');
    writeFileSync(file, FIGURE8_YAML);
    const o = { controller: running.url, tokenFile, file };
    expect(await ctlApply(o, io)).toBe(0);
    expect(out).toContain('networkInterface/contoso-sql created');
    // one whole-policy PUT (validated once), and a line that says what it changed
    expect(running.server.validator.runs.inline + running.server.validator.runs.pool).toBe(1);
    expect(out).toHaveLength(9);
    expect(out[8]).toBe('applied in one transaction: revision 8: 8 created, 0 configured, 0 unchanged');
    out = [];
    expect(await ctlApply(o, io)).toBe(0);
    expect(out.slice(0, -1).every((line) => line.endsWith(' unchanged'))).toBe(true);
    expect(out.at(-1)).toBe('nothing to change (revision 8): 0 created, 0 configured, 8 unchanged');
    expect(running.server.validator.runs.inline + running.server.validator.runs.pool).toBe(1);

    out = [];
    expect(await ctlGet({ controller: running.url, tokenFile, kind: 'nic' }, io)).toBe(0);
    const lines = (out[0] as string).split('\n');
    expect(lines[0]).toMatch(/^NAME\s+HOST\s+VIRTUAL-NETWORK\s+SUBNET\s+MAC\s+IP\s+ACL\s+REVISION$/);
    expect(lines).toHaveLength(5);
    out = [];
    expect(await ctlGet({ controller: running.url, tokenFile, kind: 'hosts', name: 'host1', json: true }, io)).toBe(0);
    expect(JSON.parse(out[0] as string)).toMatchObject({ resourceId: 'host1', properties: { providerAddresses: ['192.168.1.10'] } });
  });

  it('a file of a few resources: those changed in one transaction, the others the controller holds kept', async () => {
    const file = path.join(tmp.dir, 'figure8.yaml');
    writeFileSync(file, FIGURE8_YAML);
    expect(await ctlApply({ controller: running.url, tokenFile, file }, io)).toBe(0);
    // a smaller, self-contained file: one host, its network, one changed interface
    const small = path.join(tmp.dir, 'small.json');
    const policy = parsePolicy(parse(FIGURE8_YAML)) as { ok: true; policy: Policy };
    const nic = policy.policy.networkInterfaces.find((n) => n.name === 'contoso-web')!;
    writeFileSync(small, JSON.stringify({ hosts: policy.policy.hosts, virtualNetworks: policy.policy.virtualNetworks, networkInterfaces: [{ ...nic, ipAddress: '10.1.1.77' }] }));
    out = [];
    expect(await ctlApply({ controller: running.url, tokenFile, file: small }, io)).toBe(0);
    expect(out).toContain('networkInterface/contoso-web configured');
    expect(out.at(-1)).toMatch(/^applied in one transaction: revision 9: 0 created, 1 configured, \d+ unchanged$/);
    // nothing was deleted: the other interfaces are still there
    expect(running.server.store.list('networkInterfaces').map((n) => n.name)).toEqual(policy.policy.networkInterfaces.map((n) => n.name).sort());
    expect(running.server.store.get('networkInterfaces', 'contoso-web')?.resource.ipAddress).toBe('10.1.1.77');
  });

  it('a policy the controller refuses with what it holds: the file\'s path and line, nothing applied', async () => {
    const file = path.join(tmp.dir, 'figure8.yaml');
    writeFileSync(file, FIGURE8_YAML);
    expect(await ctlApply({ controller: running.url, tokenFile, file }, io)).toBe(0);
    // valid alone; but contoso-sql2 takes contoso-sql's MAC, address and ifname, which the controller holds
    const clash = path.join(tmp.dir, 'clash.yaml');
    writeFileSync(clash, FIGURE8_YAML.replace('name: contoso-sql', 'name: contoso-sql2'));
    const before = dumpStore(running.server);
    err = [];
    expect(await ctlApply({ controller: running.url, tokenFile, file: clash }, io)).toBe(1);
    const text = err.join('\n');
    expect(text).toMatch(/clash\.yaml: refused by the controller, nothing applied/);
    expect(text).toMatch(/duplicate/);
    // each problem is named by the file's path (with its line) or, for the resource only the controller holds, by its name
    expect(text).toMatch(/clash\.yaml:\d+:\d+: networkInterfaces\[\d\]\.\w+: |networkInterfaces\/contoso-sql\.\w+ \(on the controller, not in the file\)/);
    expect(dumpStore(running.server)).toBe(before);
  });

  it('a controller without the whole-policy PUT (501) gets one PUT per resource', async () => {
    Object.defineProperty(running.server.store, 'writeMany', { value: undefined });
    const file = path.join(tmp.dir, 'figure8.yaml');
    writeFileSync(file, FIGURE8_YAML);
    expect(await ctlApply({ controller: running.url, tokenFile, file }, io)).toBe(0);
    expect(out).toContain('networkInterface/contoso-sql created');
    expect(out).toHaveLength(8);
    expect(running.server.store.list('networkInterfaces')).toHaveLength(4);
  });

  it('an invalid file: the file loader\'s messages with lines, nothing sent', async () => {
    const file = path.join(tmp.dir, 'bad.yaml');
    writeFileSync(file, FIGURE8_YAML.replace('vsid: 6001', 'vsid: 5001'));
    const before = dumpStore(running.server);
    expect(await ctlApply({ controller: running.url, tokenFile, file }, io)).toBe(2);
    expect(err[0]).toMatch(/virtualNetworks\[1\]\.subnets\[0\]\.vsid: duplicate vsid 5001/);
    expect(err[0]).toMatch(/bad\.yaml:\d+:\d+: /);
    expect(dumpStore(running.server)).toBe(before);
  });

  it('delete: in use is refused with the users listed; a wrong token is refused', async () => {
    const file = path.join(tmp.dir, 'figure8.yaml');
    writeFileSync(file, FIGURE8_YAML);
    await ctlApply({ controller: running.url, tokenFile, file }, io);
    expect(await ctlDelete({ controller: running.url, tokenFile, kind: 'host', name: 'host1' }, io)).toBe(1);
    expect(err.join('\n')).toContain('networkInterfaces/contoso-sql.host: unknown host host1');
    expect(await ctlDelete({ controller: running.url, tokenFile, kind: 'nic', name: 'contoso-sql' }, io)).toBe(0);
    expect(out).toContain('networkInterface/contoso-sql deleted');
    writeFileSync(tokenFile, 'wrong\n');
    expect(await ctlDelete({ controller: running.url, tokenFile, kind: 'nic', name: 'contoso-web' }, io)).toBe(1);
    expect(err.join('\n')).toContain('wrong token');
  });

  it('parses kinds and listen addresses', () => {
    expect(parseKind('VNet')).toBe('virtualNetworks');
    expect(() => parseKind('router')).toThrow(/unknown kind/);
    expect(parseListen('127.0.0.1:8080')).toEqual({ host: '127.0.0.1', port: 8080 });
    expect(parseListen('[::1]:0')).toEqual({ host: '::1', port: 0 });
    expect(() => parseListen('8080')).toThrow(/ADDR:PORT/);
  });
});

describe('controller limits flags', () => {
  it('each limit flag reaches the server options; absent flags leave the defaults', async () => {
    const { serverLimits } = await import('../../src/cli/controller-cmd.js');
    expect(serverLimits({ listen: 'x', store: 'y' })).toEqual({ sync: {} });
    expect(
      serverLimits({ listen: 'x', store: 'y', maxSyncStreams: 9, maxSyncPerHost: 2, syncStallMs: 500, maxReplayChanges: 7, maxReplayBytes: 1000, bodyLimit: 4096, maxBodyDepth: 16 }),
    ).toEqual({ sync: { maxStreams: 9, maxPerHost: 2, stallMs: 500, maxReplayChanges: 7, maxReplayBytes: 1000 }, bodyLimit: 4096, maxBodyDepth: 16 });
  });
});
