/**
 * The agent's link to the network controller: one long-lived sync stream for one host (protocol in
 * ./controller-sync-protocol.ts). It holds the host's view of the policy and emits
 * `'policy' (policy, revision)` each time that view changes; a view loaded from the cache file at
 * start is emitted first, so the agent can forward while the controller is away. Each new view is
 * written to the cache file (exclusive temp file, fsync, rename: safe-file.ts) after it is emitted. A dropped stream, or one
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
  /** Bearer token (needed when the controller is not on loopback). */
  token?: string;
  /** First reconnect delay (default 100 ms); doubles per failure up to `maxBackoffMs` (default 5000). */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /**
   * Longest line (one message: a snapshot is one line) taken from the stream, in characters
   * (default 64 MiB). A longer one drops the stream (counted in `counters.lineTooLong`) and the
   * client reconnects: a controller, or something posing as one, cannot make it buffer without end.
   */
  maxLineLength?: number;
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
  /** Problems worth a log line (bad answers, digest mismatches, cache write failures); never fatal. */
  error: [error: Error];
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
    const request = client.get(url, { headers });
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
    request.on('error', (error) => finish(error.message));
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
    const valid = parsePolicy(next);
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
    }
    if (changed) {
      this.emit('policy', valid.policy, message.revision);
      this.persist();
    }
    return undefined;
  }

  /** Write the held view to the cache file; writes are serialised and coalesced. */
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
    if (this.view === undefined) return;
    const file = this.options.cacheFile;
    const cache: CacheFile = { host: this.options.host, revision: this.rev, digest: this.digest, policy: this.view };
    // a random, exclusively created temp file in a directory only we can write (safe-file.ts)
    await writeFileSafely(file, JSON.stringify(cache));
  }
}
