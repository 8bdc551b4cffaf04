/**
 * The server side of the sync protocol (see ../agent/controller-sync-protocol.ts): one session per
 * agent stream. After each acknowledged write `publish()` sends each session the delta between the
 * view it last sent and the new one: a host whose view did not change hears nothing. The protocol
 * is "deltas of per-host views", computed per change, not a replay of the change log.
 *
 * The policy is held in a PolicyIndex (policy-index.ts) that applies each write's changes; a write
 * drops only the cached views of the virtual networks it touched (all of them only when a host
 * resource changed, since every view lists every host), so the cost of a PUT follows the hosts it
 * affects, not the size of the fleet.
 *
 * Nothing a client does can make the hub work or hold memory without bound (issue 16):
 * - Views are computed once per set of virtual networks until a write touches one of them (a
 *   host's view depends on nothing else, so hosts with the same networks and every unknown host
 *   share one) and serialised once; snapshots and deltas are written as slices of those shared buffers, with only a small
 *   per-session prefix ("host") of the session's own.
 * - A session writes its current message one slice at a time and waits for 'drain' between slices;
 *   while it waits, later changes only mark it dirty and are sent as one coalesced delta when it
 *   has caught up. So a session never holds more than a slice plus the socket's high-water mark.
 *   A session that has not drained for `stallMs` is dropped (the agent reconnects and resumes).
 * - Sessions are capped per host and in total (`admit`); refused requests never reach the hub.
 * - A resume (`since`) reads at most `maxReplayChanges` changes and `maxReplayBytes` of the change
 *   log (the store stops reading past them) and is answered from the in-memory policy; past the
 *   limits, or when the client's digest disagrees, the stream starts with the shared snapshot.
 *   Attaches are served one per event-loop turn, so a burst of them does not hold the loop.
 * Heartbeats go out every `heartbeatMs` so either end notices a dead connection.
 */
import type { ServerResponse } from 'node:http';
import { diffViews, viewDigest } from '../agent/controller-sync-protocol.js';
import type { Policy } from '../policy/types.js';
import type { PolicyAt } from './changes.js';
import { hostVnets, networksView, policyBefore } from './host-view.js';
import { PolicyIndex } from './policy-index.js';
import type { PolicyStore } from './store.js';

/** Bytes of a shared message written per slice. */
const SLICE_BYTES = 64 * 1024;

interface View {
  view: Policy;
  digest: string;
  /** JSON of the view, made when the first snapshot of it is sent. */
  json?: Buffer;
}

interface Session {
  host: string;
  /** False once the session's credentials are gone (a revoked host token): checked each heartbeat. */
  valid?: () => boolean;
  res: ServerResponse;
  /** The view the client holds once the queued message is written (undefined until attached). */
  sent?: Policy;
  sentDigest?: string;
  /** The rest of the message being written. */
  pieces: Buffer[];
  next: number;
  /** Bytes of `pieces` that belong to this session alone (a resume delta), counted in `privateBytes`. */
  ownBytes: number;
  /** When a write last returned false without a 'drain' since. */
  blockedSince?: number;
  waitingDrain: boolean;
  dirty: boolean;
  closed: boolean;
}

export interface AttachRequest {
  host: string;
  /** Checked every heartbeat; the stream ends when it says false (e.g. its token was revoked). */
  valid?: () => boolean;
  since?: number;
  digest?: string;
}

export interface SyncLimits {
  /** Open sync streams in total (default 1024). */
  maxStreams?: number;
  /** Open sync streams per host name (default 4: an agent and its reconnect, with room). */
  maxPerHost?: number;
  /** A stream whose writes have not drained for this long is dropped (default 30000 ms). */
  stallMs?: number;
  /** A resume replays at most this many changes, else a snapshot (default 1000). */
  maxReplayChanges?: number;
  /** A resume reads at most this many characters of the change log, else a snapshot (default 4 MiB). */
  maxReplayBytes?: number;
  /** Resume deltas being written, all sessions together (not shared buffers); past it, snapshots (default 64 MiB). */
  maxPrivateBytes?: number;
}

export interface SyncHubOptions extends SyncLimits {
  heartbeatMs?: number;
}

export type Admission = { ok: true } | { ok: false; status: 429 | 503; message: string };

export interface SyncStats {
  sessions: number;
  /** Bytes written to sessions' sockets and not yet taken by the kernel (node's queue). */
  queuedBytes: number;
  /** Largest such queue of one session. */
  maxSessionQueue: number;
  refusedPerHost: number;
  refusedTotal: number;
  droppedStalled: number;
  resumed: number;
  /** Resumes answered with a snapshot because they were past the limits or the digest disagreed. */
  resumeSnapshots: number;
  /** Host views built (once per revision per set of virtual networks, however many streams). */
  viewsBuilt: number;
  /** Streams ended because their token was revoked. */
  revoked: number;
}

export class SyncHub {
  readonly heartbeatMs: number;
  readonly limits: Required<SyncLimits>;
  private readonly sessions = new Set<Session>();
  private readonly perHost = new Map<string, number>();
  private readonly attachQueue: { session: Session; request: AttachRequest }[] = [];
  private attachScheduled = false;
  private revision: number;
  private readonly index: PolicyIndex;
  /** Views by their set of virtual networks (kept until a write touches one), and which keys hold each network. */
  private views = new Map<string, View>();
  private keysByVnet = new Map<string, Set<string>>();
  /** Serialised deltas by digest pair, per revision. */
  private deltas = new Map<string, Buffer>();
  private privateBytes = 0;
  private readonly counters = { refusedPerHost: 0, refusedTotal: 0, droppedStalled: 0, resumed: 0, resumeSnapshots: 0, viewsBuilt: 0, revoked: 0 };
  private readonly timer: NodeJS.Timeout;
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly store: PolicyStore,
    options: SyncHubOptions = {},
  ) {
    this.heartbeatMs = options.heartbeatMs ?? 5000;
    this.limits = {
      maxStreams: options.maxStreams ?? 1024,
      maxPerHost: options.maxPerHost ?? 4,
      stallMs: options.stallMs ?? 30_000,
      maxReplayChanges: options.maxReplayChanges ?? 1000,
      maxReplayBytes: options.maxReplayBytes ?? 4 * 1024 * 1024,
      maxPrivateBytes: options.maxPrivateBytes ?? 64 * 1024 * 1024,
    };
    this.index = new PolicyIndex(store);
    this.revision = this.index.revision;
    this.timer = setInterval(() => this.heartbeat(), this.heartbeatMs);
    this.timer.unref();
    this.sweeper = setInterval(() => this.sweep(), Math.max(10, Math.min(1000, this.limits.stallMs / 4)));
    this.sweeper.unref();
  }

  /** Number of open agent streams (attached or waiting for their first message). */
  get sessionCount(): number {
    return this.sessions.size;
  }

  stats(): SyncStats {
    let queuedBytes = 0;
    let maxSessionQueue = 0;
    for (const session of this.sessions) {
      const queued = session.res.writableLength;
      queuedBytes += queued;
      maxSessionQueue = Math.max(maxSessionQueue, queued);
    }
    return { sessions: this.sessions.size, queuedBytes, maxSessionQueue, ...this.counters };
  }

  /** May one more stream for `host` open? (Call before sending any header.) */
  admit(host: string): Admission {
    if (this.sessions.size >= this.limits.maxStreams) {
      this.counters.refusedTotal++;
      return { ok: false, status: 503, message: `too many sync streams (limit ${this.limits.maxStreams}, --max-sync-streams)` };
    }
    if ((this.perHost.get(host) ?? 0) >= this.limits.maxPerHost) {
      this.counters.refusedPerHost++;
      return { ok: false, status: 429, message: `too many sync streams for host ${host} (limit ${this.limits.maxPerHost}, --max-sync-per-host)` };
    }
    return { ok: true };
  }

  /** The whole policy at `revision` (shared: never change it). */
  private get policy(): Policy {
    return this.index.policy();
  }

  /**
   * The policy and revision as of the store's latest write, for validating a change against: the
   * scope finds what a change touches; the whole policy is only made if read.
   */
  current(): PolicyAt {
    if (this.store.revision() !== this.revision) this.publish();
    const index = this.index;
    return {
      get policy(): Policy {
        return index.policy();
      },
      revision: this.revision,
      scope: index.scope,
    };
  }

  /** Open streams of one host. */
  streamsOf(host: string): number {
    return this.perHost.get(host) ?? 0;
  }

  /** The view `host` gets now, at the store's latest revision. */
  viewOf(host: string): { view: Policy; digest: string; revision: number } {
    if (this.store.revision() !== this.revision) this.publish();
    const { view, digest } = this.viewFor(host);
    return { view, digest, revision: this.revision };
  }

  private viewFor(host: string): View {
    const vnets = this.index.vnetsOf(host).sort();
    const key = vnets.join('\n');
    let entry = this.views.get(key);
    if (entry === undefined) {
      const view = this.index.view(vnets);
      entry = { view, digest: viewDigest(view) };
      this.counters.viewsBuilt++;
      this.views.set(key, entry);
      for (const vnet of vnets) {
        let keys = this.keysByVnet.get(vnet);
        if (keys === undefined) this.keysByVnet.set(vnet, (keys = new Set()));
        keys.add(key);
      }
    }
    return entry;
  }

  /**
   * Start a stream on `res` (headers already sent, `admit` said yes). The first message is made on
   * a later turn of the event loop, one attach per turn.
   */
  attach(request: AttachRequest, res: ServerResponse): void {
    const session: Session = { host: request.host, ...(request.valid === undefined ? {} : { valid: request.valid }), res, pieces: [], next: 0, ownBytes: 0, waitingDrain: false, dirty: false, closed: false };
    this.sessions.add(session);
    this.perHost.set(request.host, (this.perHost.get(request.host) ?? 0) + 1);
    res.on('close', () => {
      this.forget(session);
      // The client went away (or half-closed): nothing more will be written, free the socket now.
      res.destroy();
    });
    this.attachQueue.push({ session, request });
    this.scheduleAttach();
  }

  private forget(session: Session): void {
    if (session.closed) return;
    session.closed = true;
    this.sessions.delete(session);
    const count = (this.perHost.get(session.host) ?? 1) - 1;
    if (count > 0) this.perHost.set(session.host, count);
    else this.perHost.delete(session.host);
    this.release(session);
    session.pieces = [];
  }

  private release(session: Session): void {
    this.privateBytes -= session.ownBytes;
    session.ownBytes = 0;
  }

  private scheduleAttach(): void {
    if (this.attachScheduled || this.attachQueue.length === 0) return;
    this.attachScheduled = true;
    setImmediate(() => {
      this.attachScheduled = false;
      const next = this.attachQueue.shift();
      if (next !== undefined && !next.session.closed) this.first(next.session, next.request);
      this.scheduleAttach();
    });
  }

  /** The first message of a session: a resume delta when cheap and consistent, else the snapshot. */
  private first(session: Session, request: AttachRequest): void {
    if (this.store.revision() !== this.revision) this.publish();
    const current = this.viewFor(session.host);
    session.sent = current.view;
    session.sentDigest = current.digest;
    if (request.since !== undefined && request.since > 0) {
      const delta = this.resumeDelta(request, current);
      if (delta !== undefined) {
        this.counters.resumed++;
        session.ownBytes = delta.length;
        this.privateBytes += delta.length;
        this.send(session, [Buffer.from(`{"type":"delta","host":${JSON.stringify(session.host)},`), delta]);
        return;
      }
      this.counters.resumeSnapshots++;
    }
    current.json ??= Buffer.from(JSON.stringify(current.view));
    const head = { type: 'snapshot', host: session.host, revision: this.revision, digest: current.digest, heartbeatMs: this.heartbeatMs };
    this.send(session, [Buffer.from(`${JSON.stringify(head).slice(0, -1)},"policy":`), current.json, Buffer.from('}\n')]);
  }

  /** The rest of a resume delta message (after `"host":...,`), or undefined for a snapshot. */
  private resumeDelta(request: AttachRequest, current: View): Buffer | undefined {
    const since = request.since as number;
    if (since > this.revision) return undefined;
    const changes = this.store.changesSince(since, { maxChanges: this.limits.maxReplayChanges, maxBytes: this.limits.maxReplayBytes });
    if (changes === undefined) return undefined;
    const old = policyBefore(this.policy, changes);
    const vnets = hostVnets(old, request.host);
    const oldView = networksView(old, vnets);
    if (request.digest !== undefined && request.digest !== viewDigest(oldView)) return undefined;
    const { upsert, remove } = diffViews(oldView, current.view);
    const rest = Buffer.from(`${JSON.stringify({ revision: this.revision, digest: current.digest, heartbeatMs: this.heartbeatMs, upsert, remove }).slice(1)}\n`);
    if (this.privateBytes + rest.length > this.limits.maxPrivateBytes) return undefined;
    return rest;
  }

  /** Tell every stream about the store's latest state (call after each acknowledged write). */
  publish(): void {
    if (this.store.revision() === this.revision) return;
    const touched = this.index.refresh();
    this.revision = this.index.revision;
    if (touched.all || touched.hosts) {
      this.views = new Map();
      this.keysByVnet = new Map();
    } else {
      for (const vnet of touched.vnets) {
        for (const key of this.keysByVnet.get(vnet) ?? []) this.views.delete(key);
        this.keysByVnet.delete(vnet);
      }
    }
    this.deltas = new Map();
    for (const session of this.sessions) this.push(session);
  }

  private push(session: Session): void {
    if (session.sent === undefined) return; // its first message is still to come, from the newest state
    if (session.next < session.pieces.length || session.blockedSince !== undefined) {
      session.dirty = true;
      return;
    }
    const current = this.viewFor(session.host);
    if (current.digest === session.sentDigest) return;
    const key = `${session.sentDigest as string} ${current.digest}`;
    let rest = this.deltas.get(key);
    if (rest === undefined) {
      const { upsert, remove, empty } = diffViews(session.sent, current.view);
      if (empty) {
        session.sent = current.view;
        session.sentDigest = current.digest;
        return;
      }
      rest = Buffer.from(`${JSON.stringify({ revision: this.revision, digest: current.digest, upsert, remove }).slice(1)}\n`);
      this.deltas.set(key, rest);
    }
    session.sent = current.view;
    session.sentDigest = current.digest;
    this.send(session, [Buffer.from(`{"type":"delta","host":${JSON.stringify(session.host)},`), rest]);
  }

  /** Queue one message (its parts, shared buffers sliced without copying) and start writing it. */
  private send(session: Session, parts: Buffer[]): void {
    const pieces: Buffer[] = [];
    for (const part of parts) {
      for (let offset = 0; offset < part.length; offset += SLICE_BYTES) pieces.push(part.subarray(offset, offset + SLICE_BYTES));
    }
    session.pieces = pieces;
    session.next = 0;
    this.pump(session);
  }

  /** Write slices until the socket pushes back; resume on 'drain'. */
  private pump(session: Session): void {
    const res = session.res;
    while (session.next < session.pieces.length) {
      if (session.closed || res.destroyed || res.writableEnded) return;
      const piece = session.pieces[session.next++] as Buffer;
      if (!res.write(piece)) {
        this.waitDrain(session);
        return;
      }
    }
    session.pieces = [];
    session.next = 0;
    this.release(session);
    if (res.writableNeedDrain) {
      this.waitDrain(session);
      return;
    }
    session.blockedSince = undefined;
    if (session.dirty) {
      session.dirty = false;
      this.push(session);
    }
  }

  private waitDrain(session: Session): void {
    session.blockedSince ??= Date.now();
    if (session.waitingDrain) return;
    session.waitingDrain = true;
    session.res.once('drain', () => {
      session.waitingDrain = false;
      session.blockedSince = undefined;
      this.pump(session);
    });
  }

  private heartbeat(): void {
    const line = Buffer.from(`${JSON.stringify({ type: 'heartbeat', revision: this.revision })}\n`);
    for (const session of [...this.sessions]) {
      if (session.valid !== undefined && !session.valid()) {
        this.counters.revoked++;
        this.forget(session);
        session.res.end();
        continue;
      }
      if (session.sent === undefined || session.next < session.pieces.length || session.blockedSince !== undefined) continue;
      if (session.res.destroyed || session.res.writableEnded) continue;
      if (!session.res.write(line)) this.waitDrain(session);
    }
  }

  /** Drop streams whose client has not taken what was written for `stallMs`. */
  private sweep(): void {
    const now = Date.now();
    for (const session of this.sessions) {
      if (session.blockedSince !== undefined && now - session.blockedSince > this.limits.stallMs) {
        this.counters.droppedStalled++;
        this.forget(session);
        session.res.destroy();
      }
    }
  }

  /** End every stream: gracefully (agents reconnect) or by destroying the sockets (a crash). */
  close(abrupt = false): void {
    clearInterval(this.timer);
    clearInterval(this.sweeper);
    this.attachQueue.length = 0;
    for (const session of [...this.sessions]) {
      this.forget(session);
      if (abrupt) session.res.destroy();
      else session.res.end();
    }
  }
}
