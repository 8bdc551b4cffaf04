/**
 * The server side of the sync protocol (see ../agent/controller-sync-protocol.ts): one session per
 * agent stream. After each acknowledged write `publish()` recomputes the view of every host that
 * has a session (once per host, not per session) and sends each session the delta between the view
 * it last sent and the new one: a host whose view did not change hears nothing. The protocol is
 * therefore "deltas of per-host views", computed per change, not a replay of the change log.
 * A session whose socket buffer is full is marked dirty and sent one coalesced delta on 'drain'.
 * Heartbeats go out every `heartbeatMs` so either end notices a dead connection. On attach with
 * `since`, the view at that revision is rebuilt from the change log and the stream resumes with a
 * delta; when the log is too short (or the client's digest disagrees) it starts with a snapshot.
 */
import type { ServerResponse } from 'node:http';
import { POLICY_KINDS, diffViews, emptyPolicy, viewDigest } from '../agent/controller-sync-protocol.js';
import type { DeltaMessage, SnapshotMessage, SyncMessage } from '../agent/controller-sync-protocol.js';
import type { Policy } from '../policy/types.js';
import { hostView, policyAt } from './host-view.js';
import type { PolicyStore, StoredResource } from './store.js';

interface Session {
  host: string;
  res: ServerResponse;
  sent: Policy;
  sentDigest: string;
  blocked: boolean;
  dirty: boolean;
}

export interface AttachRequest {
  host: string;
  since?: number;
  digest?: string;
}

export interface SyncHubOptions {
  heartbeatMs?: number;
}

export class SyncHub {
  readonly heartbeatMs: number;
  private readonly sessions = new Set<Session>();
  private revision: number;
  private policy: Policy;
  private views = new Map<string, { view: Policy; digest: string }>();
  /** Resource objects by kind/name and revision: unchanged resources keep their identity across publishes. */
  private resources = new Map<string, StoredResource>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly store: PolicyStore,
    options: SyncHubOptions = {},
  ) {
    this.heartbeatMs = options.heartbeatMs ?? 5000;
    this.revision = store.revision();
    this.policy = this.load();
    this.timer = setInterval(() => this.heartbeat(), this.heartbeatMs);
    this.timer.unref();
  }

  /** Number of open agent streams. */
  get sessionCount(): number {
    return this.sessions.size;
  }

  /** The stored policy, reusing the objects of resources that did not change. */
  private load(): Policy {
    const policy = emptyPolicy() as unknown as Record<string, unknown[]>;
    const resources = new Map<string, StoredResource>();
    for (const kind of POLICY_KINDS) {
      policy[kind] = this.store.list(kind).map((item) => {
        const key = `${kind}/${item.name}`;
        const known = this.resources.get(key);
        const kept = known !== undefined && known.revision === item.revision ? known : item;
        resources.set(key, kept);
        return kept.resource;
      });
    }
    this.resources = resources;
    return policy as unknown as Policy;
  }

  private viewFor(host: string): { view: Policy; digest: string } {
    let entry = this.views.get(host);
    if (entry === undefined) {
      const view = hostView(this.policy, host);
      entry = { view, digest: viewDigest(view) };
      this.views.set(host, entry);
    }
    return entry;
  }

  /** Start a stream on `res` (headers already sent): the first message, then deltas. */
  attach(request: AttachRequest, res: ServerResponse): void {
    const current = this.viewFor(request.host);
    const session: Session = { host: request.host, res, sent: current.view, sentDigest: current.digest, blocked: false, dirty: false };
    this.sessions.add(session);
    res.on('close', () => this.sessions.delete(session));

    const old = request.since !== undefined && request.since > 0 ? policyAt(this.store, request.since) : undefined;
    const oldView = old === undefined ? undefined : hostView(old, request.host);
    if (oldView !== undefined && (request.digest === undefined || request.digest === viewDigest(oldView))) {
      const { upsert, remove } = diffViews(oldView, current.view);
      const delta: DeltaMessage = { type: 'delta', host: request.host, revision: this.revision, digest: current.digest, heartbeatMs: this.heartbeatMs, upsert, remove };
      this.write(session, delta);
    } else {
      const snapshot: SnapshotMessage = { type: 'snapshot', host: request.host, revision: this.revision, digest: current.digest, heartbeatMs: this.heartbeatMs, policy: current.view };
      this.write(session, snapshot);
    }
  }

  /** Tell every stream about the store's latest state (call after each acknowledged write). */
  publish(): void {
    const revision = this.store.revision();
    if (revision === this.revision) return;
    this.revision = revision;
    this.policy = this.load();
    this.views = new Map();
    for (const session of this.sessions) this.push(session);
  }

  private push(session: Session): void {
    if (session.blocked) {
      session.dirty = true;
      return;
    }
    const current = this.viewFor(session.host);
    if (current.digest === session.sentDigest) return;
    const { upsert, remove, empty } = diffViews(session.sent, current.view);
    session.sent = current.view;
    session.sentDigest = current.digest;
    if (empty) return;
    this.write(session, { type: 'delta', host: session.host, revision: this.revision, digest: current.digest, upsert, remove });
  }

  private write(session: Session, message: SyncMessage): void {
    if (session.res.destroyed || session.res.writableEnded) return;
    if (session.res.write(`${JSON.stringify(message)}\n`)) return;
    session.blocked = true;
    session.res.once('drain', () => {
      session.blocked = false;
      if (session.dirty) {
        session.dirty = false;
        this.push(session);
      }
    });
  }

  private heartbeat(): void {
    for (const session of this.sessions) {
      if (!session.blocked) this.write(session, { type: 'heartbeat', revision: this.revision });
    }
  }

  /** End every stream: gracefully (agents reconnect) or by destroying the sockets (a crash). */
  close(abrupt = false): void {
    clearInterval(this.timer);
    for (const session of this.sessions) {
      if (abrupt) session.res.destroy();
      else session.res.end();
    }
    this.sessions.clear();
  }
}
