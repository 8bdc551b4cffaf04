/**
 * How the VM code reports: progress lines go to a `Say` callback (the demo prints them, the test
 * prefixes them); failures quote the last lines of the log that explains them.
 */
import fs from 'node:fs';

export type Say = (line: string) => void;

/** The last `lines` lines of a log file ('' when it does not exist). */
export function tail(file: string, lines = 15): string {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/** Terminal escape sequences in the serial console log. */
const ESC_SEQ = new RegExp(`${String.fromCharCode(27)}\\[[0-9;?]*[A-Za-z]`, 'g');

/** The last printable line of a serial console log, for "booting, 30 s (...)" progress. */
export function lastConsoleLine(file: string): string | undefined {
  return tail(file, 30)
    .split('\n')
    .map((l) => l.replace(ESC_SEQ, '').replace(/[^ -~]/g, '').trim())
    .filter(Boolean)
    .pop();
}
