/** The executable README's markers (test/harness/readme-blocks.ts): parsing, and README.md's own. */
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { markerProblems, shellBlocks } from '../harness/readme-blocks.js';

describe('README shell blocks', () => {
  it('finds shell blocks with their markers and leaves other fences alone', () => {
    const md = [
      'text',
      '<!-- readme-test: run -->',
      '```sh',
      'echo one',
      '```',
      '```yaml',
      'a: 1',
      '```',
      '<!-- readme-test: skip needs qemu -->',
      '```bash',
      'make demo-vms',
      '```',
      '```',
      '$ switchyard validate -f bad.yaml',
      '```',
      '```shell',
      'unmarked',
      '```',
      '<!-- readme-test: skip -->',
      '```sh',
      'no reason',
      '```',
    ].join('\n');
    const b = shellBlocks(md);
    expect(b.map((x) => [x.line, x.marker, x.reason, x.code])).toEqual([
      [3, 'run', '', 'echo one'],
      [10, 'skip', 'needs qemu', 'make demo-vms'],
      [16, undefined, '', 'unmarked'],
      [20, 'skip', '', 'no reason'],
    ]);
    expect(markerProblems(b)).toEqual([
      'line 16: shell block without <!-- readme-test: run --> or <!-- readme-test: skip REASON -->',
      'line 20: skip without a reason',
    ]);
  });

  it('README.md: every shell block is run by the README test or says why not', () => {
    const blocks = shellBlocks(fs.readFileSync('README.md', 'utf8'));
    expect(markerProblems(blocks)).toEqual([]);
    expect(blocks.filter((b) => b.marker === 'run').length).toBeGreaterThan(0);
  });
});
