/**
 * Prerequisites of a suite or test: options that skip it, with the reason, where something it needs
 * is missing (root, a command, an opt-in switch). The reason travels in the tests' meta to the
 * summary above the closing line of scripts/run-tests.sh (test/harness/summary.ts).
 *
 *   describe('Figure 8 between two agents', ROOT_ONLY, () => { ... });
 *   it('tshark agrees', requires(haveTshark, 'tshark is not installed'), () => { ... });
 */
import type { TestOptions } from 'vitest';
import '../harness/summary.js';

export function requires(ok: boolean, reason: string): TestOptions {
  return ok ? {} : { skip: true, meta: { skipReason: reason } };
}

/** Network namespaces, TAP devices and raw sockets need root. */
export const ROOT_ONLY = requires(process.getuid?.() === 0, 'needs root (network namespaces, TAP devices)');
