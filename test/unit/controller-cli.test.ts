// `ctl apply / get / delete` command functions against a real controller on 127.0.0.1.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ctlApply, ctlDelete, ctlGet, parseKind } from '../../src/cli/apply-cmd.js';
import { parseListen } from '../../src/cli/controller-cmd.js';
import { FIGURE8_YAML } from '../../src/policy/figure8.js';
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
    expect(out).toHaveLength(8);
    out = [];
    expect(await ctlApply(o, io)).toBe(0);
    expect(out.every((line) => line.endsWith(' unchanged'))).toBe(true);

    out = [];
    expect(await ctlGet({ controller: running.url, tokenFile, kind: 'nic' }, io)).toBe(0);
    const lines = (out[0] as string).split('\n');
    expect(lines[0]).toMatch(/^NAME\s+HOST\s+VIRTUAL-NETWORK\s+SUBNET\s+MAC\s+IP\s+ACL\s+REVISION$/);
    expect(lines).toHaveLength(5);
    out = [];
    expect(await ctlGet({ controller: running.url, tokenFile, kind: 'hosts', name: 'host1', json: true }, io)).toBe(0);
    expect(JSON.parse(out[0] as string)).toMatchObject({ resourceId: 'host1', properties: { providerAddresses: ['192.168.1.10'] } });
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
