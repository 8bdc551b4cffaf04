/* global process, console */
// Prints what scripts/run-tests.sh ran: for each vitest run (a summary file that
// test/harness/summary-reporter.ts wrote, the run's exit status and a label), its notes, and, when
// there was more than one run, one line of counts per run; then the closing line with the sums.
// A run that ended without a summary, or failed with nothing counted as failed, counts one failed:
// the closing line never says 0 failed when a run did not succeed. Exits 1 when anything failed.
//
//   node print-summary.mjs SUMMARY RC LABEL [SUMMARY RC LABEL ...]
import fs from 'node:fs';

const args = process.argv.slice(2);
const runs = [];
for (let i = 0; i < args.length; i += 3) {
  const [file, rcText, label] = args.slice(i, i + 3);
  const rc = Number(rcText);
  let s;
  try {
    s = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    s = { passed: 0, failed: 1, skipped: 0, notes: [`failed: vitest exited with status ${rc} before it reported`] };
  }
  if (rc !== 0 && s.failed === 0) {
    s.failed = 1;
    s.notes.push(`failed: vitest exited with status ${rc} though no test or suite failed`);
  }
  runs.push({ ...s, label });
}
const many = runs.length > 1;
console.log('');
for (const r of runs) for (const n of r.notes) console.log(many ? `${r.label}: ${n}` : n);
const counts = (r) => `${r.passed} passed, ${r.failed} failed, ${r.skipped} skipped`;
if (many) for (const r of runs) console.log(`  under ${r.label}: ${counts(r)}`);
const sum = (k) => runs.reduce((n, r) => n + r[k], 0);
const total = { passed: sum('passed'), failed: sum('failed'), skipped: sum('skipped') };
console.log(`tests: ${counts(total)}`);
process.exitCode = total.failed > 0 ? 1 : 0;
