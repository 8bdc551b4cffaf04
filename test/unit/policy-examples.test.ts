import { readFile } from 'node:fs/promises';
import { describe, expect, expectTypeOf, test } from 'vitest';
import type { z } from 'zod';
import { FIGURE8_YAML, figure8Policy } from '../../src/policy/figure8.js';
import { loadPolicyFile } from '../../src/policy/load.js';
import { PolicySchema } from '../../src/policy/schema.js';
import type { Policy } from '../../src/policy/types.js';
import { parsePolicy } from '../../src/policy/validate.js';

const EXAMPLES = ['figure8', 'figure8-acl', 'two-subnets', 'nvgre'];

describe('example policy files', () => {
  test.each(EXAMPLES)('examples/%s.yaml validates', async (name) => {
    const result = await loadPolicyFile(`examples/${name}.yaml`);
    expect(result.ok ? [] : result.errors).toEqual([]);
  });

  test('a validated policy validates again unchanged (normalised output is a fixed point)', async () => {
    for (const name of EXAMPLES) {
      const first = await loadPolicyFile(`examples/${name}.yaml`);
      if (!first.ok) throw new Error(name);
      const second = parsePolicy(JSON.parse(JSON.stringify(first.policy)));
      expect(second).toEqual(first);
    }
  });

  test('the embedded Figure 8 is the text of examples/figure8.yaml', async () => {
    expect(FIGURE8_YAML).toBe(await readFile('examples/figure8.yaml', 'utf8'));
  });

  test('Figure 8: same CAs in two virtual networks, two hosts', () => {
    const policy = figure8Policy();
    expect(policy.hosts.map((h) => [h.name, h.providerAddresses])).toEqual([
      ['host1', ['192.168.1.10']],
      ['host2', ['192.168.2.20']],
    ]);
    expect(policy.virtualNetworks.map((v) => [v.name, v.subnets[0]?.vsid, v.subnets[0]?.addressPrefix])).toEqual([
      ['contoso', 5001, '10.1.1.0/24'],
      ['fabrikam', 6001, '10.1.1.0/24'],
    ]);
    expect(policy.networkInterfaces.map((n) => [n.name, n.host, n.virtualNetwork, n.ipAddress, n.netns])).toEqual([
      ['contoso-sql', 'host1', 'contoso', '10.1.1.11', 'contoso-sql'],
      ['contoso-web', 'host2', 'contoso', '10.1.1.12', 'contoso-web'],
      ['fabrikam-sql', 'host1', 'fabrikam', '10.1.1.11', 'fabrikam-sql'],
      ['fabrikam-web', 'host2', 'fabrikam', '10.1.1.12', 'fabrikam-web'],
    ]);
    expect(new Set(policy.networkInterfaces.map((n) => n.macAddress)).size).toBe(4);
    expect(policy.accessControlLists).toEqual([]);
  });

  test('figure8Policy returns a fresh copy each call', () => {
    const a = figure8Policy();
    a.hosts.pop();
    expect(figure8Policy().hosts).toHaveLength(2);
  });

  test('nvgre example: nvgre subnets, flow id defaults to 0', async () => {
    const result = await loadPolicyFile('examples/nvgre.yaml');
    if (!result.ok) throw new Error('invalid');
    expect(result.policy.virtualNetworks.flatMap((v) => v.subnets.map((s) => [s.encapsulation, s.nvgreFlowId]))).toEqual([
      ['nvgre', 0],
      ['nvgre', 0],
    ]);
  });

  test('the schema produces exactly the types of types.ts', () => {
    expectTypeOf<z.output<typeof PolicySchema>>().toExtend<Policy>();
    expectTypeOf<Policy>().toExtend<z.input<typeof PolicySchema>>();
    expectTypeOf<z.output<typeof PolicySchema>['networkInterfaces'][number]>().toEqualTypeOf<Policy['networkInterfaces'][number]>();
    expectTypeOf<z.output<typeof PolicySchema>['hosts'][number]>().toEqualTypeOf<Policy['hosts'][number]>();
    expectTypeOf<z.output<typeof PolicySchema>['accessControlLists'][number]>().toEqualTypeOf<Policy['accessControlLists'][number]>();
  });
});
