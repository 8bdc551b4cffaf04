/**
 * Negative errno values from the native batch calls, turned into Errors off the hot path.
 *
 * The table is this platform's own (os.constants.errno), so names and numbers always agree with
 * the kernel the addon runs on; a number not in it is named "E<number>".
 */
import { constants } from 'node:os';

const NAMES = new Map<number, string>();
for (const [name, num] of Object.entries(constants.errno)) {
  if (!NAMES.has(num)) NAMES.set(num, name); // first wins: EAGAIN before EWOULDBLOCK
}

/** Errno numbers the wrappers test for by name. */
export const Errno = {
  EPERM: constants.errno.EPERM,
  ENOENT: constants.errno.ENOENT,
  EINTR: constants.errno.EINTR,
  EIO: constants.errno.EIO,
  EBADF: constants.errno.EBADF,
  /** Linux: file descriptor in bad state (a TAP queue whose device is detached); not in os.constants. */
  EBADFD: 77,
  EAGAIN: constants.errno.EAGAIN,
  EBUSY: constants.errno.EBUSY,
  EEXIST: constants.errno.EEXIST,
  ENODEV: constants.errno.ENODEV,
  EINVAL: constants.errno.EINVAL,
  EMSGSIZE: constants.errno.EMSGSIZE,
  EADDRINUSE: constants.errno.EADDRINUSE,
  ENOBUFS: constants.errno.ENOBUFS,
  ENOSYS: constants.errno.ENOSYS,
  EOPNOTSUPP: constants.errno.EOPNOTSUPP,
  ENETUNREACH: constants.errno.ENETUNREACH,
} as const;

/** "EAGAIN" for 11 or -11. */
export function errnoName(errno: number): string {
  const n = Math.abs(errno);
  return NAMES.get(n) ?? `E${n}`;
}

/** An Error like Node's own system errors: message "<what>: <code>", `.code`, `.errno` (negative), `.syscall`. */
export function errnoError(errno: number, what: string, syscall?: string): NodeJS.ErrnoException {
  const code = errnoName(errno);
  const err = new Error(`${what}: ${code}`) as NodeJS.ErrnoException;
  err.code = code;
  err.errno = -Math.abs(errno);
  if (syscall !== undefined) err.syscall = syscall;
  return err;
}

/** Returns `ret` when it is a count (>= 0), else throws errnoError(ret, what). */
export function checkCount(ret: number, what: string, syscall?: string): number {
  if (ret >= 0) return ret;
  throw errnoError(ret, what, syscall);
}
