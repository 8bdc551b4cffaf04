// The two-VM run directory's fate (src/vms/run-dir.ts), without booting VMs: a pass removes it, a
// failure or an interruption keeps it and the last line names it.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { finishRunDir, keepRunDir, type RunOutcome } from '../../src/vms/run-dir.js';

const made: string[] = [];
function fakeRun(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-run-dir-test-'));
  fs.mkdirSync(path.join(dir, 'share'));
  fs.writeFileSync(path.join(dir, 'vm1-console.log'), 'booted\n');
  fs.writeFileSync(path.join(dir, 'share', 'agent-host1.log'), '{}\n');
  made.push(dir);
  return dir;
}

describe('two-VM run directories', () => {
  afterEach(() => {
    for (const d of made.splice(0)) fs.rmSync(d, { recursive: true, force: true });
  });

  it.each<[RunOutcome, Record<string, string>, boolean]>([
    ['passed', {}, false],
    ['failed', {}, true],
    ['interrupted', {}, true],
    ['passed', { SWITCHYARD_VM_KEEP_RUNS: '1' }, true],
    ['passed', { SWITCHYARD_VM_KEEP_RUNS: '0' }, false],
    ['failed', { SWITCHYARD_VM_KEEP_RUNS: '0' }, true],
  ])('%s with %j: keep = %s', (outcome, env, keep) => {
    expect(keepRunDir(outcome, env)).toBe(keep);
  });

  it('a pass removes the directory, logs and share included', () => {
    const dir = fakeRun();
    expect(finishRunDir(dir, 'passed', 'demo --vms', {})).toBe('demo --vms: OK');
    expect(fs.existsSync(dir)).toBe(false);
  });

  it('a failure keeps it and names it in the line to print last', () => {
    const dir = fakeRun();
    expect(finishRunDir(dir, 'failed', 'demo --vms', {})).toBe(`demo --vms: FAILED; logs kept in ${dir}`);
    expect(fs.existsSync(path.join(dir, 'share', 'agent-host1.log'))).toBe(true);
  });

  it('an interrupted run keeps it too; SWITCHYARD_VM_KEEP_RUNS=1 keeps a pass', () => {
    const a = fakeRun();
    expect(finishRunDir(a, 'interrupted', 'demo --vms', {})).toContain(`logs kept in ${a}`);
    expect(fs.existsSync(a)).toBe(true);
    const b = fakeRun();
    expect(finishRunDir(b, 'passed', 'demo --vms', { SWITCHYARD_VM_KEEP_RUNS: '1' })).toBe(`demo --vms: OK (logs kept in ${b}: SWITCHYARD_VM_KEEP_RUNS=1)`);
    expect(fs.existsSync(b)).toBe(true);
  });
});
