/**
 * The workers' TAP I/O mode (`--tap-io`): io_uring batches by default, read()/write() per frame
 * where the kernel refuses io_uring (EPERM: kernel.io_uring_disabled or a container's seccomp
 * filter; ENOSYS: a kernel without it), decided once here on the main thread and logged, so every
 * worker gets a mode that works (io/uring.ts).
 */
import { uringUnavailable, type TapIoMode } from '../io/uring.js';
import type { Logger } from './logger.js';

/** bench/profile.ts cost with `--no-offload`, interleaved: see README "TAP I/O through io_uring". */
export const DEFAULT_TAP_IO: TapIoMode = 'uring';

export const TAP_IO_MODES: readonly TapIoMode[] = ['uring', 'syscall'];

/** The mode the workers get for the one asked (`want`, default DEFAULT_TAP_IO). */
export function resolveTapIo(want: TapIoMode | undefined, log: Logger, probe: () => string | undefined = uringUnavailable): TapIoMode {
  const mode = want ?? DEFAULT_TAP_IO;
  if (mode !== 'uring') return mode;
  const why = probe();
  if (why === undefined) return 'uring';
  log.warn({ reason: why }, 'io_uring unavailable: TAP I/O falls back to read()/write() per frame (as --tap-io syscall)');
  return 'syscall';
}
