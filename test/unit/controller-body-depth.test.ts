// REST clients as the attacker: bodies nested far deeper than any policy (400 000 levels) are
// refused with 400 and a clear message before anything recursive sees them; the store is unchanged
// and the controller keeps answering. The depth scan itself is checked against JSON.parse.
import path from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_MAX_DEPTH, jsonDepthProblem } from '../../src/controller/body-depth.js';
import type { Running } from './controller-fixture.js';
import { api, dumpStore, seedFigure8, startController, tempDir } from './controller-fixture.js';

let tmp: ReturnType<typeof tempDir>;
let running: Running;
let client: ReturnType<typeof api>;

beforeEach(async () => {
  tmp = tempDir();
  running = await startController(path.join(tmp.dir, 'store.db'), { bodyLimit: 4 * 1024 * 1024 });
  client = api(running.url);
  await seedFigure8(running.url);
});

afterEach(async () => {
  await running.server.close();
  tmp.cleanup();
});

const nested = (depth: number, open = '[', close = ']'): string => open.repeat(depth) + close.repeat(depth);

describe('body nesting depth', () => {
  it('400 000 levels of arrays or objects: 400 BodyTooDeep, store unchanged, controller answering', async () => {
    const before = dumpStore(running.server);
    const deepObject = `${'{"a":'.repeat(400_000)}1${'}'.repeat(400_000)}`;
    // The last one was a 500 "Maximum call stack size exceeded" (the name is shown in a message).
    const cases = [nested(400_000), deepObject, `{"name":"host3","providerAddresses":${nested(400_000)}}`, `{"providerAddresses":["192.168.3.30"],"name":${deepObject}}`];
    for (const raw of cases) {
      const reply = await client.call('PUT', '/networking/v1/hosts/host3', undefined, { raw });
      expect(reply.status).toBe(400);
      expect(reply.body.code).toBe('BodyTooDeep');
      expect(reply.body.message).toMatch(/nests deeper than 64 levels/);
    }
    expect(dumpStore(running.server)).toBe(before);
    expect((await client.get('hosts')).status).toBe(200);
  });

  it('one level past the limit is refused; at the limit it reaches validation', async () => {
    const past = await client.call('PUT', '/networking/v1/hosts/host3', undefined, { raw: `{"name":"host3","x":${nested(DEFAULT_MAX_DEPTH)}}` });
    expect(past.status).toBe(400);
    expect(past.body.code).toBe('BodyTooDeep');
    const at = await client.call('PUT', '/networking/v1/hosts/host3', undefined, { raw: `{"name":"host3","x":${nested(DEFAULT_MAX_DEPTH - 1)}}` });
    expect(at.status).toBe(400);
    expect(at.body.code).toBe('InvalidResource');
  });

  it('brackets inside strings do not count', async () => {
    const reply = await client.put('hosts', 'host3', { providerAddresses: ['192.168.3.30'], note: nested(1000) });
    expect(reply.body.code).toBe('InvalidResource'); // the unknown field, not the depth
    const ok = await client.call('PUT', '/networking/v1/hosts/host3', undefined, { raw: `{"providerAddresses":["192.168.3.30"]}` });
    expect(ok.status).toBe(201);
  });

  it('a YAML body is not accepted (415), deep or not', async () => {
    const reply = await client.call('PUT', '/networking/v1/hosts/host3', undefined, { raw: nested(100_000), headers: { 'content-type': 'application/yaml' } });
    expect(reply.status).toBe(415);
  });
});

describe('jsonDepthProblem', () => {
  /** Depth of a parsed JSON value, iteratively. */
  function depthOf(value: unknown): number {
    let max = 0;
    const stack: [unknown, number][] = [[value, 0]];
    while (stack.length > 0) {
      const [node, depth] = stack.pop() as [unknown, number];
      if (node !== null && typeof node === 'object') {
        max = Math.max(max, depth + 1);
        for (const child of Object.values(node as object)) stack.push([child, depth + 1]);
      }
    }
    return max;
  }

  it('agrees with the parsed depth on random JSON (strings with brackets, quotes and escapes included)', () => {
    const text = fc.string({ unit: fc.constantFrom('[', ']', '{', '}', '"', '\\', 'a', ',', ':') });
    const tree = fc.letrec((tie) => ({
      node: fc.oneof({ depthSize: 'small' }, text, fc.integer(), fc.array(tie('node'), { maxLength: 3 }), fc.dictionary(text, tie('node'), { maxKeys: 3 })),
    })).node;
    fc.assert(
      fc.property(tree, fc.integer({ min: 0, max: 6 }), (value, limit) => {
        const json = JSON.stringify(value);
        const depth = depthOf(value);
        expect(jsonDepthProblem(json, limit) !== undefined).toBe(depth > limit);
      }),
      { numRuns: 500 },
    );
  });
});
