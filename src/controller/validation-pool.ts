/**
 * Where a whole-policy PUT is validated: in a piscina pool (the user's named package) of one
 * worker thread, or inline on the event loop. Full validation of a 100,000-port policy takes
 * seconds of CPU; on the event loop that is seconds in which no agent stream is written and no
 * other request answered. Measured (bench/controller-convergence.ts, fleet1000, 12.5 MB document,
 * shared 2-core machine at load 11-15, two runs): inline, the PUT took 32-41 s and the loop was
 * held for all of it; in the pool, 11-24 s with the loop's delay p99 62-279 ms (max 1.4-4 s:
 * receiving the body and diffing 100,000 resources stay on the loop). Small documents are validated inline: below
 * `inlineBelow` bytes the hop to the thread costs more than it saves. Per-resource REST writes
 * are not sent here: change-scoped validation (change-scope.ts) makes them cheap. Per-host views
 * are not built here either: each is milliseconds to about a second of loop time at start, and a
 * worker would first need the whole policy copied to it (structuredClone of 100,000 ports: 0.7-1.2 s)
 * and each view copied back.
 */
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import validatePolicyText from './validate-worker.js';
import type { PolicyVerdict } from './validate-worker.js';

export interface PolicyValidatorOptions {
  /** Validate on a worker thread (default true). */
  pool?: boolean;
  /** Documents shorter than this (characters of JSON) are validated inline (default 256 KiB). */
  inlineBelow?: number;
}

/** The worker module: the compiled .js, or under tsx (tests, tsx runs) a boot file that loads the .ts. */
function workerFile(): string {
  const here = import.meta.url;
  return fileURLToPath(new URL(here.endsWith('.ts') ? './validate-worker-boot.mjs' : './validate-worker.js', here));
}

export class PolicyValidator {
  private pool: Piscina | undefined;
  private readonly inlineBelow: number;
  /** Large documents go to the pool (a bench switches it to measure both ways). */
  pooled: boolean;
  /** Documents validated each way. */
  readonly runs = { inline: 0, pool: 0 };

  constructor(options: PolicyValidatorOptions = {}) {
    this.pooled = options.pool ?? true;
    this.inlineBelow = options.inlineBelow ?? 256 * 1024;
  }

  /** Validate a whole policy given as JSON text. */
  async validate(text: string): Promise<PolicyVerdict> {
    if (!this.pooled || text.length < this.inlineBelow) {
      this.runs.inline++;
      return validatePolicyText(text);
    }
    this.runs.pool++;
    // started on first use and kept (idleTimeout): a controller that never gets a large whole-policy PUT has no extra thread
    this.pool ??= new Piscina({ filename: workerFile(), minThreads: 0, maxThreads: 1, idleTimeout: 60_000 });
    return (await this.pool.run(text)) as PolicyVerdict;
  }

  async close(): Promise<void> {
    await this.pool?.destroy();
    this.pool = undefined;
  }
}
