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

/**
 * A namespace test carries real traffic through real kernels, on a machine whose two cores it
 * shares with iperf3, qemu and the other suites: a ping lost to a stalled scheduler is not a
 * defect. Such a test gets one retry. It still fails when it fails twice (a real defect fails every
 * time), and a test that passed only on its retry is named above the closing line of
 * scripts/run-tests.sh with its first attempt's error (test/harness/summary.ts), so it is seen.
 */
export const NAMESPACE_RETRY = { retry: 1 } as const satisfies TestOptions;

/** Network namespaces, TAP devices and raw sockets need root. */
export const ROOT_ONLY: TestOptions = { ...requires(process.getuid?.() === 0, 'needs root (network namespaces, TAP devices)'), ...NAMESPACE_RETRY };
