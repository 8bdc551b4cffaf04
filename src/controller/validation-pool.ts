/**
 * Where a whole-policy PUT is validated: in a piscina pool (the user's named package) of one
 * worker thread, or inline on the event loop. Full validation of a 100,000-port policy takes
 * seconds of CPU; on the event loop that is seconds in which no agent stream is written and no
 * other request answered (bench/controller-convergence.ts measures the event-loop delay both
 * ways). Small documents are validated inline: below `inlineBelow` bytes the hop to the thread
 * costs more than it saves. Per-resource REST writes are not sent here: change-scoped validation
 * (change-scope.ts) makes them cheap.
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
