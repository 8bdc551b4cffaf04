/**
 * The executable README: every shell block marked `<!-- readme-test: run -->` runs, in order, as
 * a user would type it (bash -e, from the checkout, `switchyard` on PATH), against a lab of this
 * run's own: SWITCHYARD_LAB names it, and the README's default lab name (`sylab-` in namespace
 * names) is replaced by it, so a user's lab or another test run is never touched. Blocks marked
 * `skip` say why in the README (test/harness/readme-blocks.ts).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT_ONLY } from '../helpers/prerequisites.js';
import { shellBlocks } from '../harness/readme-blocks.js';
import { newTag } from '../../src/lab/topology.js';
import { labDown } from '../../src/lab/standing-lab.js';
import { DEFAULT_LAB } from '../../src/lab/lab-state.js';

const ROOT = path.resolve('.');
const LAB = newTag('syr');
const shim = fs.mkdtempSync(path.join(os.tmpdir(), 'syreadme-'));
fs.writeFileSync(path.join(shim, 'switchyard'), `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(path.join(ROOT, 'bin/switchyard.js'))} "$@"\n`, { mode: 0o755 });

afterAll(async () => {
  await labDown(LAB).catch(() => undefined);
  fs.rmSync(shim, { recursive: true, force: true });
});

function bash(code: string): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(
      'bash',
      ['-e', '-o', 'pipefail', '-c', code],
      { cwd: ROOT, env: { ...process.env, PATH: `${shim}:${process.env.PATH ?? ''}`, SWITCHYARD_LAB: LAB }, timeout: 240_000 },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, out: stdout + stderr }),
    );
  });
}

describe('README.md: the runnable shell blocks', ROOT_ONLY, () => {
  const blocks = shellBlocks(fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8')).filter((b) => b.marker === 'run');
  for (const b of blocks) {
    it(`block at README.md:${b.line} (${b.code.split('\n')[0]!.replace(/\s*#.*$/, '')} ...)`, { timeout: 300_000 }, async () => {
      const code = b.code.replaceAll(`${DEFAULT_LAB}-`, `${LAB}-`);
      const r = await bash(code);
      expect(r.code, `README.md:${b.line} failed:\n${code}\n--- output:\n${r.out}`).toBe(0);
    });
  }
});
