// The subnet checks do not compare every subnet with every earlier one: with 2000 subnets in one
// network the old checks made about two million prefix comparisons (n^2/2); counted here through
// the comparison functions of addr.ts, the map-based checks make none.
import { describe, expect, it, vi } from 'vitest';

const calls = vi.hoisted(() => ({ count: 0 }));

vi.mock('../../src/policy/addr.js', async (importOriginal) => {
  const original = await importOriginal<typeof import('../../src/policy/addr.js')>();
  return {
    ...original,
    cidrsOverlap: (...args: Parameters<typeof original.cidrsOverlap>) => {
      calls.count++;
      return original.cidrsOverlap(...args);
    },
    cidrContains: (...args: Parameters<typeof original.cidrContains>) => {
      calls.count++;
      return original.cidrContains(...args);
    },
  };
});

const { semanticErrors } = await import('../../src/policy/semantic.js');

describe('subnet checks scale', () => {
  it('2000 subnets: prefix comparisons grow at most linearly', () => {
    const subnets = Array.from({ length: 2000 }, (_, i) => ({ name: `s${i}`, vsid: 10000 + i, addressPrefix: `10.${(i >> 8) & 255}.${i & 255}.0/24` }));
    calls.count = 0;
    const errors = semanticErrors({ hosts: [], networkInterfaces: [], virtualNetworks: [{ name: 'v', addressPrefixes: ['10.0.0.0/8'], subnets }] });
    expect(errors).toEqual([]);
    expect(calls.count).toBeLessThanOrEqual(33 * 2000);
  });
});
