/**
 * scripts/lib/progress.sh, which setup.sh and the VM image build (scripts/vm/build-image.sh) use
 * for their long steps: plain lines when the output is not a terminal (CI, the demo relaying the
 * image build), one progress line rewritten in place on a terminal (run under `script`, which
 * gives the step a pty), with STEP_STATUS's words in it. No timing is asserted: the step waits
 * until the ticker has asked for its status twice.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { requires } from '../helpers/prerequisites.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-progress-'));
const ESC = String.fromCharCode(27);
const HAVE_SCRIPT = spawnSync('sh', ['-c', 'command -v script'], { stdio: 'ignore' }).status === 0;

/** A bash program: a step that ends once the ticker has asked for its status twice (so the line
 * of the first time is out), or after 60 s. */
function program(tag: string): string {
  const marker = path.join(dir, `${tag}.asked`);
  return [
    'set -euo pipefail',
    `source ${JSON.stringify(path.join(ROOT, 'scripts/lib/progress.sh'))}`,
    `status_fn() { echo >>${JSON.stringify(marker)}; echo "I: Retrieving libc6"; }`,
    `wait_asked() { for _ in $(seq 600); do [ "$(wc -l <${JSON.stringify(marker)} 2>/dev/null || echo 0)" -ge 2 ] && return 0; sleep 0.1; done; return 1; }`,
    'STEP_STATUS=status_fn step "vm-image: stage 1/2: debootstrap" wait_asked',
    'step "vm-image: a step that fails" false || echo "rc=$?"',
  ].join('\n');
}

describe('scripts/lib/progress.sh', () => {
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('prints plain lines without a terminal: what runs, then done in N s or FAILED', () => {
    // in CI the status is asked only on the 30 s line: the step ends by its own timeout there, so
    // this run takes a step that ends at once instead
    const prog = program('plain').replace('STEP_STATUS=status_fn step "vm-image: stage 1/2: debootstrap" wait_asked', 'STEP_STATUS=status_fn step "vm-image: stage 1/2: debootstrap" true');
    const r = spawnSync('bash', ['-c', prog], { encoding: 'utf8', timeout: 60_000 });
    const lines = r.stdout.split('\n').filter(Boolean);
    expect(lines[0]).toBe('vm-image: stage 1/2: debootstrap ...');
    expect(lines[1]).toMatch(/^vm-image: stage 1\/2: debootstrap: done in \d+ s$/);
    expect(lines[2]).toBe('vm-image: a step that fails ...');
    expect(lines[3]).toBe('rc=1');
    expect(r.stderr).toMatch(/^vm-image: a step that fails: FAILED after \d+ s \(exit 1\)$/m);
    // no terminal control sequences in a log
    expect(r.stdout.includes('\r') || r.stdout.includes(ESC)).toBe(false);
  });

  it('rewrites one progress line in place on a terminal, with the status words', requires(HAVE_SCRIPT, 'no `script` (util-linux) for a pty'), () => {
    const file = path.join(dir, 'tty.sh');
    fs.writeFileSync(file, program('tty'));
    const r = spawnSync('script', ['-qfec', `bash ${file}`, '/dev/null'], { encoding: 'utf8', timeout: 90_000 });
    expect(r.status).toBe(0);
    // "\r", erase the line, then the step's name, seconds and status
    expect(r.stdout).toContain(`\r${ESC}[K  vm-image: stage 1/2: debootstrap: `);
    expect(r.stdout).toMatch(/ {2}vm-image: stage 1\/2: debootstrap: \d+ s \(I: Retrieving libc6\)/);
    expect(r.stdout).toMatch(/vm-image: stage 1\/2: debootstrap: done in \d+ s/);
  });

  it('is what the VM image build runs its long steps through', () => {
    const text = fs.readFileSync(path.join(ROOT, 'scripts/vm/build-image.sh'), 'utf8');
    expect(text).toContain('. scripts/lib/progress.sh');
    for (const cmd of ['run_debootstrap', 'update-initramfs', 'mkfs.ext4', 'install_host_pkgs']) {
      expect(text, cmd).toMatch(new RegExp(`\\bstep "vm-image: [^"]+" [^\\n]*${cmd}`));
    }
  });
});
