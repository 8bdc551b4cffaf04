/**
 * scripts/run-tests.sh's closing line counts what vitest's JSON leaves out: a suite whose beforeAll
 * throws and a file that does not load are failures, skipped tests are counted with their reason,
 * and a vitest that dies before reporting still gives a line that says "failed". Runs the script
 * itself on the fixtures in test/fixtures/harness (outside the normal include glob).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CONFIG = 'test/fixtures/harness/vitest.config.ts';

function runTests(...args: string[]): { status: number | null; lines: string[] } {
  // the outer vitest's own variables must not leak into the run under test
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('VITEST') && k !== 'SWITCHYARD_TEST_SUMMARY'));
  const r = spawnSync('bash', ['scripts/run-tests.sh', ...args], { cwd: ROOT, env: { ...env, NO_COLOR: '1' }, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, lines: `${r.stdout}`.trimEnd().split('\n') };
}

describe('scripts/run-tests.sh closing line', () => {
  it('counts a suite whose beforeAll throws as one failure, not as skipped tests', () => {
    const r = runTests('--config', CONFIG, 'before-all-throws');
    expect(r.lines.at(-1)).toBe('tests: 1 passed, 1 failed, 0 skipped');
    expect(r.lines.at(-2)).toBe('failed: before-all-throws.fixture.ts > a suite with a broken prerequisite: fixture: the prerequisite could not be made');
    expect(r.status).toBe(1);
  });

  it('counts a file that does not load as failed and prints each skip reason', () => {
    const r = runTests('--config', CONFIG, 'load-error');
    expect(r.lines.at(-1)).toBe('tests: 1 passed, 1 failed, 3 skipped');
    expect(r.lines.slice(-4, -1)).toEqual([
      'skipped: load-error-and-skips.fixture.ts (2 tests): fixture: no such thing here',
      'skipped: load-error-and-skips.fixture.ts (1 test): fixture: decided while running',
      'failed: load-error.fixture.ts: fixture: this module does not load',
    ]);
    expect(r.status).toBe(1);
  });

  it('names a failed test with its first error line, and a test that passed only on a retry', () => {
    const r = runTests('--config', CONFIG, 'retry-and-fail');
    expect(r.lines.at(-1)).toBe('tests: 1 passed, 1 failed, 0 skipped');
    expect(r.lines.slice(-3, -1)).toEqual([
      'passed on retry 1: retry-and-fail.fixture.ts > passes on its second attempt (first attempt: fixture: lost 3 of 20 pings)',
      'failed: retry-and-fail.fixture.ts > always fails: fixture: one is not two',
    ]);
    expect(r.status).toBe(1);
  });

  it('says failed when vitest ends without a report', () => {
    const r = runTests('--config', 'test/fixtures/harness/no-such.config.ts');
    expect(r.lines.at(-1)).toBe('tests: 0 passed, 1 failed, 0 skipped');
    expect(r.lines.at(-2)).toMatch(/^failed: vitest exited with status [1-9]\d* before it reported$/);
    expect(r.status).not.toBe(0);
  });

  it('sums the runs of make test (the suite, then the unit tests under another Node), one line each', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-summary-'));
    try {
      const first = path.join(dir, 'first.json');
      fs.writeFileSync(first, JSON.stringify({ passed: 5, failed: 0, skipped: 2, notes: ['skipped: a.test.ts (2 tests): needs root'] }));
      const r = spawnSync(process.execPath, ['test/harness/print-summary.mjs', first, '0', 'node 20', path.join(dir, 'absent.json'), '1', 'node 22 (unit tests)'], {
        cwd: ROOT,
        encoding: 'utf8',
      });
      expect(r.stdout.trim().split('\n')).toEqual([
        'node 20: skipped: a.test.ts (2 tests): needs root',
        'node 22 (unit tests): failed: vitest exited with status 1 before it reported',
        '  under node 20: 5 passed, 0 failed, 2 skipped',
        '  under node 22 (unit tests): 0 passed, 1 failed, 0 skipped',
        'tests: 5 passed, 1 failed, 2 skipped',
      ]);
      expect(r.status).toBe(1);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
