import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { parsePolicyText } from '../../src/policy/load.js';
import type { PolicyResult } from '../../src/policy/errors.js';
import type { Policy } from '../../src/policy/types.js';
import { parsePolicy } from '../../src/policy/validate.js';
import { figure8Raw, withAclRaw } from './policy-fixture.js';
import type { Raw } from './policy-fixture.js';

type Path = (string | number)[];

/** Every path in a JSON tree (containers included, the root excluded). */
function pathsOf(value: Raw, prefix: Path = []): Path[] {
  if (typeof value !== 'object' || value === null) return [];
  const keys: (string | number)[] = Array.isArray(value) ? value.map((_, i) => i) : Object.keys(value);
  return keys.flatMap((key) => [[...prefix, key], ...pathsOf(value[key], [...prefix, key])]);
}

function parentOf(doc: Raw, path: Path): Raw {
  return path.slice(0, -1).reduce((node: Raw, key) => node[key], doc);
}

/** Values that are near misses of valid ones, to reach the semantic checks as well as the schema. */
const interesting = fc.constantFrom(
  'host1', 'host2', 'contoso', 'fabrikam', 's1', 'sql-acl', 'contoso-sql', '10.1.1.11', '10.1.1.1', '10.1.1.0/24',
  '10.1.0.0/16', '192.168.1.10', '02:00:00:00:50:11', '01:00:00:00:00:00', 5001, 6001, 4096, 100, '*', '80-90', 'TCP',
  'nvgre', 'hash', '', ' ', 'sy-contoso-sql', null, [], {}, -1, 1e30, Number.NaN, '__proto__', 'constructor',
);

const mutation = fc.record({
  target: fc.nat(),
  kind: fc.constantFrom('set', 'delete', 'duplicate', 'copy'),
  source: fc.nat(),
  value: fc.oneof(interesting, fc.jsonValue({ maxDepth: 2 })),
});

function mutate(doc: Raw, m: { target: number; kind: string; source: number; value: unknown }): void {
  const paths = pathsOf(doc);
  if (paths.length === 0) return;
  const path = paths[m.target % paths.length] as Path;
  const key = path[path.length - 1] as string | number;
  const parent = parentOf(doc, path);
  const source = paths[m.source % paths.length] as Path;
  const sourceValue = structuredClone(parentOf(doc, source)[source[source.length - 1] as string | number]);
  if (m.kind === 'set') parent[key] = m.value;
  else if (m.kind === 'copy') parent[key] = sourceValue;
  else if (m.kind === 'delete') {
    if (Array.isArray(parent)) parent.splice(key as number, 1);
    else delete parent[key];
  } else if (Array.isArray(parent)) parent.push(structuredClone(parent[key as number]));
}

function checkResult(result: PolicyResult<Policy>): void {
  if (result.ok) {
    // A valid result validates again to itself.
    expect(parsePolicy(JSON.parse(JSON.stringify(result.policy)))).toEqual(result);
  } else {
    expect(result.errors.length).toBeGreaterThan(0);
    for (const error of result.errors) {
      expect(typeof error.path).toBe('string');
      expect(error.message).toMatch(/\S/);
    }
  }
}

describe('fuzz: random mutations of valid documents', () => {
  test('parsePolicy never throws; it returns a policy or a non-empty list of errors', () => {
    fc.assert(
      fc.property(fc.boolean(), fc.array(mutation, { minLength: 1, maxLength: 4 }), (acl, mutations) => {
        const doc = acl ? withAclRaw() : figure8Raw();
        for (const m of mutations) mutate(doc, m);
        checkResult(parsePolicy(doc));
      }),
      { numRuns: 1500 },
    );
  });

  test('any input value at all', () => {
    fc.assert(
      fc.property(fc.anything(), (value) => {
        checkResult(parsePolicy(value));
      }),
      { numRuns: 300 },
    );
  });

  test('any text: YAML/JSON loading never throws', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' })), (text) => {
        checkResult(parsePolicyText(text));
      }),
      { numRuns: 500 },
    );
  });
});
