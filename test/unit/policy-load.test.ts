import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { formatErrors, loadPolicyFile, parsePolicyText } from '../../src/policy/load.js';
import { FIGURE8_YAML } from '../../src/policy/figure8.js';
import { figure8Raw } from './policy-fixture.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'policy-load-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('loading policy text and files', () => {
  test('YAML syntax error is reported with line and column', () => {
    const result = parsePolicyText('hosts:\n  - name: host1\n    providerAddresses: [192.168.1.10\nvirtualNetworks: []\n');
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors).toHaveLength(1);
    const [error] = result.errors;
    expect(error?.path).toBe('(root)');
    expect(error?.message).toMatch(/^yaml syntax error at line \d+, column \d+: /);
    expect(error?.line).toBeGreaterThanOrEqual(3);
  });

  test('a duplicate YAML key is a syntax error', () => {
    const result = parsePolicyText('hosts: []\nhosts: []\nvirtualNetworks: []\nnetworkInterfaces: []\n');
    expect(result.ok ? '' : formatErrors(result.errors)).toMatch(/^\(root\): yaml syntax error at line 2, column 1: map keys must be unique/);
  });

  test('JSON is accepted, and a JSON syntax error has line and column', () => {
    expect(parsePolicyText(JSON.stringify(figure8Raw(), null, 2)).ok).toBe(true);
    const result = parsePolicyText('{\n  "hosts": [],\n  "virtualNetworks": [] x\n}');
    expect(result.ok ? '' : formatErrors(result.errors)).toMatch(/^\(root\): json syntax error at line 3, column 25: expected/);
  });

  test('schema errors from text carry the line of the offending node', () => {
    const text = FIGURE8_YAML.replace('macAddress: "02:00:00:00:60:11"', 'macAddress: "01:00:00:00:60:11"');
    const result = parsePolicyText(text);
    if (result.ok) throw new Error('expected errors');
    const line = text.split('\n').findIndex((l) => l.includes('01:00:00:00:60:11')) + 1;
    expect(result.errors).toEqual([
      { path: 'networkInterfaces[2].macAddress', message: 'not a unicast MAC: 01:00:00:00:60:11', line, column: 17 },
    ]);
    expect(formatErrors(result.errors)).toBe('networkInterfaces[2].macAddress: not a unicast MAC: 01:00:00:00:60:11');
    expect(formatErrors(result.errors, { file: 'f.yaml' })).toBe(
      `f.yaml:${line}:17: networkInterfaces[2].macAddress: not a unicast MAC: 01:00:00:00:60:11`,
    );
  });

  test('an empty file is not a policy', () => {
    const result = parsePolicyText('');
    expect(result.ok ? '' : formatErrors(result.errors)).toBe(
      '(root): expected a policy document (an object with hosts, virtualNetworks, networkInterfaces), got null',
    );
  });

  test('a missing file is a clear error', async () => {
    const path = join(dir, 'missing.yaml');
    const result = await loadPolicyFile(path);
    expect(result.ok ? '' : formatErrors(result.errors)).toBe(`(root): cannot read ${path}: no such file`);
  });

  test('a directory is a clear error', async () => {
    const result = await loadPolicyFile(dir);
    expect(result.ok ? '' : formatErrors(result.errors)).toBe(`(root): cannot read ${dir}: is a directory`);
  });

  test('files: YAML and JSON by content', async () => {
    const json = join(dir, 'policy.conf');
    await writeFile(json, JSON.stringify(figure8Raw()));
    const yaml = join(dir, 'policy.json'); // the name does not matter, the content does
    await writeFile(yaml, FIGURE8_YAML);
    const a = await loadPolicyFile(json);
    const b = await loadPolicyFile(yaml);
    expect(a.ok && b.ok).toBe(true);
    expect(a).toEqual(b);
  });
});

describe('misspelt keys', () => {
  test('names the field the user meant', () => {
    const r = parsePolicyText(`
hosts:
  - name: host1
    providerAddresses: [192.168.1.10]
virtualNetworks:
  - name: contoso
    addressPrefixes: [10.1.0.0/16]
    subnets:
      - name: s1
        vsid: 5001
        adressPrefix: 10.1.1.0/24
        colour: blue
networkInterfaces: []
`);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const msgs = r.errors.map((e) => `${e.path}: ${e.message}`);
    expect(msgs).toContain('virtualNetworks[0].subnets[0].adressPrefix: unknown field (did you mean addressPrefix?)');
    expect(msgs).toContain('virtualNetworks[0].subnets[0].colour: unknown field');
  });
});
