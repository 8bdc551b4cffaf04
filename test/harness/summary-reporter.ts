/**
 * A vitest reporter that adds nothing to the screen: at the end of the run it writes the counts of
 * summary.ts as JSON to $SWITCHYARD_TEST_SUMMARY, for scripts/run-tests.sh to print last (it also
 * notices when vitest died before this ran). Without that variable it prints the lines itself.
 */
import fs from 'node:fs';
import type { Reporter, SerializedError, TestModule } from 'vitest/node';
import { closingLine, summarise } from './summary.js';

export default class SummaryReporter implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>, unhandled: ReadonlyArray<SerializedError>): void {
    const s = summarise(modules, unhandled);
    const out = process.env.SWITCHYARD_TEST_SUMMARY;
    if (out) fs.writeFileSync(out, JSON.stringify(s));
    else console.log([...s.notes, closingLine(s)].join('\n'));
  }
}
