/**
 * The agent's link to the network controller: one long-lived sync stream for one host (protocol in
 * ./controller-sync-protocol.ts). It holds the host's view of the policy and emits
 * `'policy' (policy, revision)` each time that view changes; a view loaded from the cache file at
 * start is emitted first, so the agent can forward while the controller is away. The agent answers
 * each view with `accepted(revision)` or `refused(revision, error)`: both are reported to the
 * controller (`PUT /networking/v1/hostStates/HOST`, again on every new stream, so a restarted
 * controller learns them), and only an accepted view is written to the cache file (exclusive temp
 * file, fsync, rename: safe-file.ts): a refused one is never what the agent restarts from. A
 * refused view stays the base of later deltas (it is the controller's view), so the next revision
 * is emitted and tried as usual. A dropped stream, or one
 * silent for longer than three heartbeats, is reconnected with exponential backoff and jitter,
 * asking to resume from the held revision and digest; the controller answers with a delta or a
 * fresh snapshot. A message whose result does not match the controller's digest makes the client
 * drop its revision and ask for a snapshot.
 */
import { EventEmitter } from 'node:events';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { Policy } from '../policy/types.js';
import { parsePolicy } from '../policy/validate.js';
import { writeFileSafely } from './safe-file.js';
import { controllerRequest, describeConnectError, tlsOptions } from './controller-http.js';
import { SYNC_PATH, applyDelta, sortView, viewDigest } from './controller-sync-protocol.js';
import type { SyncMessage } from './controller-sync-protocol.js';

export interface ControllerSyncOptions {
  /**
   * Base URL of the controller, e.g. http://127.0.0.1:8080, or several separated by commas
   * (controllers sharing one store): a lost stream reconnects to the next one in turn.
   */
  controller: string;
  /** This host's name, as in the policy. */
  host: string;
  /** Where the last policy is kept (JSON: host, revision, digest, policy). */
  cacheFile: string;
  /** Bearer token: this host's token (`switchyard controller token create --host NAME`). */
  token?: string;
  /** CA certificate(s) (PEM) that sign an https controller's certificate (default: system roots). */
  ca?: string | Buffer;
  /** First reconnect delay (default 100 ms); doubles per failure up to `maxBackoffMs` (default 5000). */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /**
   * Longest line (one message: a snapshot is one line) taken from the stream, in characters
   * (default 64 MiB). A longer one drops the stream (counted in `counters.lineTooLong`) and the
   * client reconnects: a controller, or something posing as one, cannot make it buffer without end.
   */
  maxLineLength?: number;
  /**
   * Check each view against the policy schema before handing it on (default true). Only simulated
   * agents (bench/controller-convergence.ts, hundreds in one process) turn it off; the digest is
   * checked either way.
   */
  validateViews?: boolean;
  /** Silence after which the stream is taken for dead (default 3 heartbeat periods, at least 1 s). */
  idleTimeoutMs?: number;
  log?: { info(obj: object, msg?: string): void; warn(obj: object, msg?: string): void };
}

export interface ControllerSyncEvents {
  /** The host's view changed (or was loaded from the cache file at start). */
  policy: [policy: Policy, revision: number];
  /** A stream's first message was applied: the view is now the controller's. */
  synced: [revision: number, how: 'snapshot' | 'resumed'];
  disconnected: [reason: string];
  /** The controller took a report of what the agent did with a view. */
  reported: [outcome: ViewOutcome];
  /** Problems worth a log line (bad answers, digest mismatches, cache write failures); never fatal. */
  error: [error: Error];
}

/** What the agent did with a view, as reported to the controller. */
export interface ViewOutcome {
  provisioningState: 'Succeeded' | 'Failed';
  revision: number;
  error?: string;
}

interface CacheFile {
  host: string;
  revision: number;
  digest: string;
  policy: Policy;
}

export const DEFAULT_MAX_SYNC_LINE = 64 << 20;

export class ControllerSync extends EventEmitter<ControllerSyncEvents> {
  /** Streams dropped, by reason (for logs and tests). */
  readonly counters = { lineTooLong: 0 };
  private view: Policy | undefined;
  private digest = '';
  private rev = 0;
  private request: http.ClientRequest | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private failures = 0;
  private idleMs: number;
  private stopped = true;
  private isConnected = false;
  private writing: Promise<void> | undefined;
  private writeAgain = false;
  /** Views emitted and not yet accepted or refused, by revision. */
  private readonly emitted = new Map<number, { view: Policy; digest: string }>();
  /** The view last accepted (what the cache file holds or is about to). */
  private good: { view: Policy; digest: string; revision: number } | undefined;
  private outcome: ViewOutcome | undefined;
  private reportDirty = false;
  private reporting = false;
  private reportAbort = new AbortController();
  private readonly controllers: string[];
  private controllerIndex = 0;

  constructor(private readonly options: ControllerSyncOptions) {
    super();
    this.idleMs = options.idleTimeoutMs ?? 15_000;
    this.controllers = options.controller.split(',').map((url) => url.trim()).filter((url) => url !== '');
    if (this.controllers.length === 0) throw new Error('controller sync: no controller URL');
  }

  /** The controller the current (or next) stream goes to. */
  get controller(): string {
    return this.controllers[this.controllerIndex] as string;
  }

  /** The view held now (undefined before the cache or the controller gave one). */
  get policy(): Policy | undefined {
    return this.view;
  }

  get revision(): number {
    return this.rev;
  }

  get connected(): boolean {
    return this.isConnected;
  }

  /** Load the cache file (emitting its policy), then connect; resolves with the cached view, if any. */
  async start(): Promise<{ policy: Policy; revision: number } | undefined> {
    this.stopped = false;
    if (this.reportAbort.signal.aborted) this.reportAbort = new AbortController();
    const cached = await this.loadCache();
    if (cached !== undefined) this.emit('policy', cached.policy, cached.revision);
    this.connect();
    return cached;
  }

  /** Close the stream, stop reconnecting, and wait for the cache file to be written. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearTimeout(this.idleTimer);
    this.request?.destroy();
    this.request = undefined;
    this.reportAbort.abort();
    while (this.writing !== undefined) await this.writing;
  }

  private async loadCache(): Promise<{ policy: Policy; revision: number } | undefined> {
    let cache: CacheFile;
    try {
      cache = JSON.parse(await readFile(this.options.cacheFile, 'utf8')) as CacheFile;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') this.options.log?.warn({ err: String(error) }, 'unreadable policy cache ignored');
      return undefined;
    }
    if (cache.host !== this.options.host || !parsePolicy(cache.policy).ok) {
      this.options.log?.warn({ file: this.options.cacheFile }, 'policy cache of another host or invalid: ignored');
      return undefined;
    }
    this.view = sortView(cache.policy);
    this.digest = viewDigest(this.view);
    // A cache whose digest disagrees is still a valid policy to forward on, but not one to resume from.
    this.rev = this.digest === cache.digest && Number.isInteger(cache.revision) ? cache.revision : 0;
    this.good = { view: this.view, digest: this.digest, revision: this.rev };
    this.emitted.set(this.rev, { view: this.view, digest: this.digest });
    return { policy: this.view, revision: this.rev };
  }

  private connect(): void {
    if (this.stopped) return;
    const url = new URL(SYNC_PATH, this.controller);
    url.searchParams.set('host', this.options.host);
    if (this.view !== undefined && this.rev > 0) {
      url.searchParams.set('since', String(this.rev));
      url.searchParams.set('digest', this.digest);
    }
    const headers: Record<string, string> = { accept: 'application/x-ndjson' };
    if (this.options.token !== undefined) headers.authorization = `Bearer ${this.options.token}`;
    const client = url.protocol === 'https:' ? https : http;
    const request = client.get(url, { headers, ...tlsOptions(url, this.options.ca) });
    this.request = request;
    let done = false;
    const finish = (reason: string): void => {
      if (done) return;
      done = true;
      clearTimeout(this.idleTimer);
      request.destroy();
      if (this.request === request) this.request = undefined;
      if (this.isConnected) this.emit('disconnected', reason);
      this.isConnected = false;
      // fail over: the next stream goes to the next controller (round robin, so back again too)
      this.controllerIndex = (this.controllerIndex + 1) % this.controllers.length;
      this.scheduleReconnect(reason);
    };
    this.armIdle(request);
    request.on('error', (error) => finish(describeConnectError(error)));
    request.on('response', (response) => {
      if (response.statusCode !== 200) {
        response.resume();
        const error = new Error(`controller answered ${response.statusCode ?? '?'} to the sync request`);
        this.report(error);
        finish(error.message);
        return;
      }
      this.isConnected = true;
      response.setEncoding('utf8');
      let buffer = '';
      let first = true;
      response.on('data', (chunk: string) => {
        if (done) return;
        this.armIdle(request);
        buffer += chunk;
        const maxLine = this.options.maxLineLength ?? DEFAULT_MAX_SYNC_LINE;
        if (buffer.length > maxLine && buffer.lastIndexOf('\n') < buffer.length - 1 - maxLine) {
          // the unfinished line alone is past the cap: drop the stream before it grows further
          this.counters.lineTooLong++;
          const problem = `controller sent a line longer than ${maxLine} characters: stream dropped`;
          buffer = '';
          this.report(new Error(problem));
          finish(problem);
          return;
        }
        let newline: number;
        while ((newline = buffer.indexOf('\n')) >= 0) {
          const line = buffer.slice(0, newline);
          buffer = buffer.slice(newline + 1);
          if (line.trim() === '') continue;
          let problem: string | undefined;
          try {
            problem = this.handle(line, first);
          } catch (error) {
            // a malformed message must never take the agent down: drop the stream, resync
            this.rev = 0;
            problem = `controller sent a message that cannot be applied: ${(error as Error).message}`;
          }
          first = false;
          if (problem !== undefined) {
            this.report(new Error(problem));
            finish(problem);
            return;
          }
        }
      });
      response.on('end', () => finish('stream ended'));
      response.on('close', () => finish('stream closed'));
    });
  }

  /** 'error' events only reach listeners that asked for them (an unheard 'error' would throw). */
  private report(error: Error): void {
    if (this.listenerCount('error') > 0) this.emit('error', error);
    else this.options.log?.warn({ err: error.message }, 'controller sync');
  }

  private armIdle(request: http.ClientRequest): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => request.destroy(new Error(`no message for ${this.idleMs} ms`)), this.idleMs);
  }

  private scheduleReconnect(reason: string): void {
    if (this.stopped) return;
    const min = this.options.minBackoffMs ?? 100;
    const max = this.options.maxBackoffMs ?? 5000;
    const delay = Math.min(max, min * 2 ** this.failures) * (0.5 + Math.random() * 0.5);
    this.failures++;
    this.options.log?.info({ reason, delayMs: Math.round(delay) }, 'controller stream lost; reconnecting');
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  /** Apply one message; returns a problem text when the stream must be dropped. */
  private handle(line: string, first: boolean): string | undefined {
    let message: SyncMessage;
    try {
      message = JSON.parse(line) as SyncMessage;
    } catch {
      return 'controller sent a line that is not JSON';
    }
    if (typeof message !== 'object' || message === null || typeof message.revision !== 'number') return 'controller sent a message without a type and revision';
    if (message.type === 'snapshot' && (typeof message.policy !== 'object' || message.policy === null)) return 'controller sent a snapshot without a policy';
    if (message.type === 'delta' && (typeof message.upsert !== 'object' || typeof message.remove !== 'object' || message.upsert === null || message.remove === null)) {
      return 'controller sent a delta without upsert/remove';
    }
    if (message.type === 'heartbeat') {
      // Deltas are sent before later heartbeats, so the held view is the one at this revision.
      if (!first && message.revision > this.rev) this.rev = message.revision;
      return undefined;
    }
    if (message.heartbeatMs !== undefined && this.options.idleTimeoutMs === undefined) this.idleMs = Math.max(1000, 3 * message.heartbeatMs);
    let next: Policy;
    if (message.type === 'snapshot') {
      next = sortView(message.policy);
    } else if (message.type === 'delta' && this.view !== undefined) {
      next = applyDelta(this.view, message);
    } else {
      return `unexpected sync message ${String((message as { type?: unknown }).type)}`;
    }
    const digest = viewDigest(next);
    if (digest !== message.digest) {
      this.rev = 0; // ask for a snapshot next time
      return `view digest mismatch at revision ${message.revision}`;
    }
    // the same schema as every other door: a view that does not validate is never handed on
    const valid = this.options.validateViews === false ? { ok: true as const, policy: next } : parsePolicy(next);
    if (!valid.ok) {
      this.rev = 0;
      return `controller view at revision ${message.revision} is invalid: ${valid.errors.slice(0, 3).map((e) => `${e.path}: ${e.message}`).join('; ')}`;
    }
    const changed = digest !== this.digest;
    this.view = next;
    this.digest = digest;
    this.rev = message.revision;
    if (first) {
      this.failures = 0;
      this.emit('synced', message.revision, message.type === 'snapshot' ? 'snapshot' : 'resumed');
      // a new stream (perhaps a restarted controller): tell it again what we last did
      if (this.outcome !== undefined) {
        this.reportDirty = true;
        this.sendReport();
      }
    }
    if (changed) {
      this.emitted.set(message.revision, { view: next, digest });
      this.emit('policy', valid.policy, message.revision);
    }
    return undefined;
  }

  /** The agent applied the view of `revision`: cache it as good and report Succeeded. */
  accepted(revision: number): void {
    const entry = this.emitted.get(revision);
    for (const held of [...this.emitted.keys()]) if (held <= revision) this.emitted.delete(held);
    if (entry !== undefined && entry.digest !== this.good?.digest) {
      this.good = { ...entry, revision };
      this.persist();
    }
    this.setOutcome({ provisioningState: 'Succeeded', revision });
  }

  /** The agent refused the view of `revision` (it keeps forwarding on the last good one): report Failed. */
  refused(revision: number, error: string): void {
    this.emitted.delete(revision);
    this.setOutcome({ provisioningState: 'Failed', revision, error: error.slice(0, 4000) || 'refused' });
  }

  /** What was last reported (or is being reported). */
  get lastOutcome(): ViewOutcome | undefined {
    return this.outcome;
  }

  private setOutcome(outcome: ViewOutcome): void {
    // an older view's outcome arriving late does not overwrite a newer one's
    if (this.outcome !== undefined && outcome.revision < this.outcome.revision) return;
    this.outcome = outcome;
    this.reportDirty = true;
    this.sendReport();
  }

  /** Send the latest outcome; one request at a time; a failure waits for the next stream. */
  private sendReport(): void {
    if (this.reporting || !this.reportDirty || this.outcome === undefined || this.stopped) return;
    this.reporting = true;
    this.reportDirty = false;
    const outcome = this.outcome;
    // to whichever controller the stream is on (--controller URL1,URL2)
    const url = new URL(`/networking/v1/hostStates/${encodeURIComponent(this.options.host)}`, this.controller);
    controllerRequest(url, 'PUT', outcome, { ...(this.options.token === undefined ? {} : { token: this.options.token }), ...(this.options.ca === undefined ? {} : { ca: this.options.ca }), timeoutMs: 10_000, signal: this.reportAbort.signal })
      .then((reply) => {
        if (reply.status >= 300) throw new Error(`controller answered ${reply.status}: ${reply.text.slice(0, 200)}`);
        this.emit('reported', outcome);
      })
      .catch((error: unknown) => {
        this.reportDirty = this.outcome === outcome || this.reportDirty;
        this.report(new Error(`cannot report the view's state to the controller: ${(error as Error).message}`));
      })
      .finally(() => {
        this.reporting = false;
        if (this.reportDirty && this.isConnected) this.sendReport();
      });
  }

  /** Write the last accepted view to the cache file; writes are serialised and coalesced. */
  private persist(): void {
    if (this.writing !== undefined) {
      this.writeAgain = true;
      return;
    }
    this.writing = this.writeCache()
      .catch((error: unknown) => {
        this.report(new Error(`cannot write policy cache ${this.options.cacheFile}: ${String(error)}`));
      })
      .finally(() => {
        this.writing = undefined;
        if (this.writeAgain) {
          this.writeAgain = false;
          this.persist();
        }
      });
  }

  private async writeCache(): Promise<void> {
    if (this.good === undefined) return;
    const file = this.options.cacheFile;
    const cache: CacheFile = { host: this.options.host, revision: this.good.revision, digest: this.good.digest, policy: this.good.view };
    // a random, exclusively created temp file in a directory only we can write (safe-file.ts)
    await writeFileSafely(file, JSON.stringify(cache));
  }
}
