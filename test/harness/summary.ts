/**
 * The counts behind the closing line of scripts/run-tests.sh, taken from vitest's own task tree
 * rather than its JSON report: the JSON counts tests only, so a file that fails to load or a suite
 * whose beforeAll throws (its tests then show as skipped) vanished from "N failed". Here:
 * - a test counts passed, failed or skipped by its result;
 * - a module that failed to load, or a suite or module whose hook threw (beforeAll, afterAll,
 *   a hook timeout), counts one failed, and the tests it kept from running count nothing;
 * - a module that never finished (an interrupted run) counts one failed;
 * - an error vitest caught outside any test counts one failed;
 * - a skipped test names its reason: the `skipReason` a prerequisite put in its meta
 *   (test/helpers/prerequisites.ts), or the note of `ctx.skip(note)`.
 * - a failed test names itself and its first error line, so the tail of a CI log says what failed;
 * - a test that passed only on a retry (integration tests get one: test/helpers/prerequisites.ts)
 *   counts passed, and names itself with its first attempt's error, so a flaky test stays visible.
 * Each failed test or suite, each retried test and each group of skipped tests gets a line, printed
 * above the closing line.
 */
import type { SerializedError, TestCase, TestModule, TestSuite } from 'vitest/node';

declare module 'vitest' {
  interface TaskMeta {
    /** Why a test or suite was skipped: a missing prerequisite (root, a command, an env switch). */
    skipReason?: string;
  }
}

export interface RunSummary {
  passed: number;
  failed: number;
  skipped: number;
  /** One line per group of skipped tests, then one per test that passed on a retry, then one per
   * failure, in file order. */
  notes: string[];
}

export function closingLine(s: Pick<RunSummary, 'passed' | 'failed' | 'skipped'>): string {
  return `tests: ${s.passed} passed, ${s.failed} failed, ${s.skipped} skipped`;
}

function firstLine(e: SerializedError | undefined): string {
  const text = (e?.message ?? String(e ?? 'unknown error')).split('\n')[0] ?? '';
  return text.length > 240 ? `${text.slice(0, 240)}...` : text;
}

/** True when this suite, or one around it, failed on its own (load error, hook error). */
function blockedBy(t: TestCase, failedSuites: ReadonlySet<TestSuite | TestModule>): boolean {
  for (let p: TestSuite | TestModule = t.parent; ; p = p.parent) {
    if (failedSuites.has(p)) return true;
    if (p.type === 'module') return false;
  }
}

export function summarise(modules: ReadonlyArray<TestModule>, unhandled: ReadonlyArray<SerializedError>): RunSummary {
  const s: RunSummary = { passed: 0, failed: 0, skipped: 0, notes: [] };
  // skips first, failures last: what went wrong stands right above the closing line
  const failures: string[] = [];
  const retried: string[] = [];
  for (const m of modules) {
    const file = m.relativeModuleId;
    const failedSuites = new Set<TestSuite | TestModule>();
    if (m.errors().length) {
      failedSuites.add(m);
      s.failed++;
      failures.push(`failed: ${file}: ${firstLine(m.errors()[0])}`);
    } else if (m.state() === 'queued' || m.state() === 'pending') {
      failedSuites.add(m);
      s.failed++;
      failures.push(`failed: ${file}: did not finish`);
    }
    for (const suite of m.children.allSuites()) {
      if (!suite.errors().length) continue;
      failedSuites.add(suite);
      s.failed++;
      failures.push(`failed: ${file} > ${suite.fullName}: ${firstLine(suite.errors()[0])}`);
    }
    const skips = new Map<string, number>();
    for (const t of m.children.allTests()) {
      const r = t.result();
      if (r.state === 'passed') {
        s.passed++;
        const retries = t.diagnostic()?.retryCount ?? 0;
        if (retries > 0) retried.push(`passed on retry ${retries}: ${file} > ${t.fullName} (first attempt: ${firstLine(r.errors?.[0])})`);
      } else if (r.state === 'failed') {
        s.failed++;
        failures.push(`failed: ${file} > ${t.fullName}: ${firstLine(r.errors[0])}`);
      }
      else if (blockedBy(t, failedSuites)) continue;
      else if (r.state === 'skipped') {
        s.skipped++;
        const reason = t.meta().skipReason ?? r.note ?? (t.options.mode === 'todo' ? 'todo' : 'no reason given');
        skips.set(reason, (skips.get(reason) ?? 0) + 1);
      } else {
        // pending in a module that finished: vitest never ran it, so it did not pass
        s.failed++;
        failures.push(`failed: ${file} > ${t.fullName}: did not run`);
      }
    }
    for (const [reason, n] of skips) s.notes.push(`skipped: ${file} (${n} ${n === 1 ? 'test' : 'tests'}): ${reason}`);
  }
  for (const e of unhandled) {
    s.failed++;
    failures.push(`failed: error outside any test: ${firstLine(e)}`);
  }
  s.notes.push(...retried, ...failures);
  return s;
}
