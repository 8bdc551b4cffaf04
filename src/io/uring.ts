/**
 * TAP I/O through io_uring (native-bindings/src/uring.cc): a batch of frames read or written with
 * one io_uring_enter instead of one read()/write() per frame. On this paravirtualised guest every
 * syscall pays the interrupt-enable hypercall, and for MTU-sized frames (`--no-offload`, a VM NIC
 * without offloads) that is most of the I/O cost: bench/tap-uring measured 2.0-2.5 us of CPU per
 * frame read against 2.6-3.8 with read(), and 2.0-2.1 per frame written against 3.9-4.4 with write()
 * (README "Where the time goes").
 *
 * The calls stay synchronous (RWF_NOWAIT: each request completes inside the enter that submitted
 * it), so a TapQueue behaves the same in either mode and the slab is never written behind the
 * caller's back. One ring per thread: a worker's queues share it (module state is per thread under
 * worker_threads).
 */
import { errnoName } from './errno.js';
import { loadNative, type NativeAddon } from './native.js';

/** How a worker does its TAP I/O: `uring` (io_uring batches) or `syscall` (read()/write() per
 * frame, the fallback). */
export type TapIoMode = 'uring' | 'syscall';

/** Slots of TapRing.stats (native-bindings/src/uring.cc enum Stat). */
export const enum UringStat {
  /** io_uring_enter calls (each carries a whole batch). */
  Enters = 0,
  RxFrames,
  TxFrames,
  /** Queues that went back to read()/write() because the kernel refused a ring read or write. */
  Fallbacks,
}

type RingCalls = Required<Pick<NativeAddon, 'uringCreate' | 'uringDestroy' | 'uringReadBatch' | 'uringWriteBatch'>>;

/** One io_uring of this thread. */
export class TapRing {
  private closed = false;

  private constructor(
    private readonly n: RingCalls,
    readonly id: number,
    /** Counters (UringStat order); the native side adds to the first three. */
    readonly stats: Float64Array,
  ) {}

  /** Makes a ring. Throws an Error with `.code`: EPERM (kernel.io_uring_disabled, a seccomp
   * filter), ENOSYS (no io_uring), EINVAL (a kernel before 5.18), ENATIVE (an addon without
   * io_uring). */
  static create(): TapRing {
    const n = loadNative();
    if (!n.uringCreate || !n.uringDestroy || !n.uringReadBatch || !n.uringWriteBatch) {
      const err = new Error('the native addon was built without io_uring (rebuild it)') as NodeJS.ErrnoException;
      err.code = 'ENATIVE';
      throw err;
    }
    const calls: RingCalls = { uringCreate: n.uringCreate, uringDestroy: n.uringDestroy, uringReadBatch: n.uringReadBatch, uringWriteBatch: n.uringWriteBatch };
    const stats = new Float64Array(4);
    return new TapRing(calls, calls.uringCreate(stats), stats);
  }

  read(fd: number, slab: Uint8Array, start: Int32Array, len: Int32Array, slotSize: number, headroom: number, max: number, hint: number): number {
    return this.n.uringReadBatch(this.id, fd, slab, start, len, slotSize, headroom, max, hint);
  }

  write(fd: number, slab: Uint8Array, start: Int32Array, len: Int32Array, idx: Int32Array, count: number, prefix: number): number {
    return this.n.uringWriteBatch(this.id, fd, slab, start, len, idx, count, prefix);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.n.uringDestroy(this.id);
  }
}

let threadRing: TapRing | Error | undefined;

/** This thread's ring, made on first use; the Error when the kernel (or the addon) refuses io_uring. */
export function threadTapRing(): TapRing | Error {
  if (threadRing === undefined) {
    try {
      threadRing = TapRing.create();
    } catch (e) {
      threadRing = e as Error;
    }
  }
  return threadRing;
}

/**
 * Whether io_uring works here (the agent asks once at start, to log and pick the workers' mode):
 * undefined when it does, else why not ("EPERM: io_uring_setup: Operation not permitted (EPERM)").
 */
export function uringUnavailable(): string | undefined {
  try {
    TapRing.create().close();
    return undefined;
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    return `${err.code ?? errnoName(Number(err.errno ?? 0))}: ${err.message}`;
  }
}
