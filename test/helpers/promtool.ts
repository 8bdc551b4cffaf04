/**
 * Prometheus's own checker (`promtool`, Debian's prometheus package; make setup installs it):
 * `check metrics` lints an exposition (names, suffixes, units, HELP), `check rules` parses PromQL.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { run, type RunResult } from '../../src/lab/run.js';
import { requires } from './prerequisites.js';

export const HAVE_PROMTOOL = spawnSync('sh', ['-c', 'command -v promtool'], { stdio: 'ignore' }).status === 0;
export const NEEDS_PROMTOOL = requires(HAVE_PROMTOOL, 'promtool is not installed (Debian prometheus package; make setup installs it)');

/** `promtool check metrics` on an exposition: code 0 and no output when it is by the book. */
export function promtoolCheckMetrics(text: string): Promise<RunResult> {
  return run('promtool', ['check', 'metrics'], { allowFail: true, input: text });
}

/** `promtool check rules` on recording rules made of `exprs`: parses each PromQL expression. */
export async function promtoolCheckExprs(exprs: readonly string[]): Promise<RunResult> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-promtool-'));
  try {
    const file = path.join(dir, 'rules.json');
    // YAML is a superset of JSON: promtool reads this as a rules file
    const rules = exprs.map((expr, i) => ({ record: `switchyard:dashboard_expr_${i}`, expr }));
    fs.writeFileSync(file, JSON.stringify({ groups: [{ name: 'dashboard', rules }] }));
    return await run('promtool', ['check', 'rules', file], { allowFail: true });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
