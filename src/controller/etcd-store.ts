/**
 * The distributed store: the policy kept in etcd (v3 API through the `etcd3` client), so several
 * controllers serve one policy and a write on one reaches agents synced to another.
 *
 * Keys, under `prefix` (default `/switchyard/v1/`):
 *   `revision`                 touched by every write: its mod_revision is the store's revision
 *   `resources/<kind>/<name>`  the normalised resource as JSON; its mod_revision is its etag
 * So revisions are etcd's own (store-wide, not dense, the same number on every controller), and an
 * agent that fails over from one controller to another resumes with the revision it holds.
 *
 * Each controller keeps a mirror of the prefix in memory (loaded once, then fed by one watch with
 * previous values), so the synchronous reads of the store interface (get, list, revision, the
 * change log for resumes) never wait on the network. A write is one etcd transaction: "if the
 * `revision` key's mod_revision is still the one the mirror holds, write the resource and touch
 * `revision`". Nothing else in the prefix can have moved since then, so the preconditions checked
 * against the mirror (the caller's base revision, If-Match, If-None-Match) hold at commit time:
 * the same "validate the whole resulting policy, then write" guarantee as SQLite's IMMEDIATE
 * transaction, without a lock. A failed compare waits for the watch to bring the mirror up to
 * the winner's revision and raises `StoreConflictError`, which the REST layer answers by
 * validating again.
 *
 * The change log for resumes holds the changes this controller saw since it loaded (with
 * before-images from the watch); a resume from before that gets a snapshot.
 */
import { Etcd3 } from 'etcd3';
import type { IWatchResponse, Watcher } from 'etcd3';
import { POLICY_KINDS } from '../agent/controller-sync-protocol.js';
import type { PolicyKind } from '../agent/controller-sync-protocol.js';
import { NotFoundError, PreconditionFailedError, StoreConflictError, StoreLimitError } from './store.js';
import type { ChangeLimits, PolicyStore, StoreChange, StoredResource, StoreWrite, WriteConditions } from './store.js';

export interface EtcdStoreOptions {
  /** Key prefix (default `/switchyard/v1/`). */
  prefix?: string;
  /** Change-log entries kept for resuming agents (default 10000). */
  keepChanges?: number;
  /** How long a write whose compare failed waits for the watch to catch up (default 5000 ms). */
  catchUpMs?: number;
  /** TLS to the members (etcds://): the CA that signed their certificates, and a client certificate if they ask for one. */
  tls?: { ca: Buffer; cert?: Buffer; key?: Buffer };
  /** etcd's own authentication (auth enable): a user and password. */
  auth?: { username: string; password: string };
}

interface Entry {
  body: string;
  revision: number;
}

const etagOf = (revision: number): string => `"${revision}"`;

function matches(header: string, etag: string): boolean {
  return header
    .split(',')
    .map((tag) => tag.trim().replace(/^W\//, ''))
    .some((tag) => tag === '*' || tag === etag);
}

/** `etcd://h1:2379,h2:2379` (or `etcds://`) -> client URLs; throws a clear error on anything else. */
export function parseEtcdUrl(spec: string): string[] {
  const match = /^etcd(s?):\/\/([^/?#]+)\/?$/.exec(spec);
  if (match === null) throw new Error(`--store: expected etcd://HOST:PORT[,HOST:PORT...], got ${spec}`);
  const scheme = match[1] === 's' ? 'https' : 'http';
  return (match[2] as string).split(',').map((member) => {
    const hostPort = /^(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(member);
    if (hostPort === null || Number(hostPort[1]) > 65535) throw new Error(`--store: etcd member ${JSON.stringify(member)} is not HOST:PORT`);
    return `${scheme}://${member}`;
  });
}

export const isEtcdSpec = (spec: string): boolean => /^etcds?:\/\//.test(spec);

export class EtcdStore implements PolicyStore {
  private readonly client: Etcd3;
  private readonly prefix: string;
  private readonly metaKey: string;
  private readonly keepChanges: number;
  private readonly catchUpMs: number;
  private readonly entries = new Map<string, Entry>();
  private log: StoreChange[] = [];
  /** Revision below which the log no longer reaches (the load revision, or the last dropped change). */
  private floor = 0;
  private rev = 0;
  private watcher: Watcher | undefined;
  private readonly listeners = new Set<() => void>();
  private readonly waiters = new Set<{ revision: number; resolve: () => void }>();
  private closed = false;

  private constructor(hosts: string[], options: EtcdStoreOptions) {
    this.prefix = options.prefix ?? '/switchyard/v1/';
    this.metaKey = `${this.prefix}revision`;
    this.keepChanges = options.keepChanges ?? 10000;
    this.catchUpMs = options.catchUpMs ?? 5000;
    // etcd3's own fault handling: three attempts per request on shuffled members, a circuit
    // breaker per member. (A per-request deadline would make a slow write fail with
    // DEADLINE_EXCEEDED, which it does not retry; so a request that lands on a killed member can
    // take seconds: 6 s measured once here, 40 ms when the shuffle picks a live one first.)
    this.client = new Etcd3({
      hosts,
      ...(options.tls === undefined
        ? {}
        : { credentials: { rootCertificate: options.tls.ca, ...(options.tls.key === undefined ? {} : { privateKey: options.tls.key }), ...(options.tls.cert === undefined ? {} : { certChain: options.tls.cert }) } }),
      ...(options.auth === undefined ? {} : { auth: { username: options.auth.username, password: options.auth.password } }),
    });
  }

  /** Connect, load the prefix and start watching it. */
  static async open(hosts: string[], options: EtcdStoreOptions = {}): Promise<EtcdStore> {
    const store = new EtcdStore(hosts, options);
    try {
      await store.load();
    } catch (error) {
      store.client.close();
      throw new Error(`etcd ${hosts.join(',')}: ${(error as Error).message}`, { cause: error });
    }
    return store;
  }

  private resourceKey(kind: PolicyKind, name: string): string {
    return `${this.prefix}resources/${kind}/${name}`;
  }

  /** kind/name of a resource key, or undefined for any other key under the prefix. */
  private parseKey(key: string): { kind: PolicyKind; name: string } | undefined {
    const rest = key.slice(`${this.prefix}resources/`.length);
    if (!key.startsWith(`${this.prefix}resources/`)) return undefined;
    const slash = rest.indexOf('/');
    const kind = rest.slice(0, slash) as PolicyKind;
    if (slash <= 0 || !POLICY_KINDS.includes(kind)) return undefined;
    return { kind, name: rest.slice(slash + 1) };
  }

  private async load(): Promise<void> {
    const response = await this.client.getAll().prefix(this.prefix).exec();
    this.entries.clear();
    this.rev = 0;
    for (const kv of response.kvs) {
      const key = kv.key.toString();
      if (key === this.metaKey) this.rev = Number(kv.mod_revision);
      const id = this.parseKey(key);
      if (id !== undefined) this.entries.set(`${id.kind}/${id.name}`, { body: kv.value.toString(), revision: Number(kv.mod_revision) });
    }
    this.log = [];
    this.floor = this.rev;
    const watcher = await this.client
      .watch()
      .prefix(this.prefix)
      .withPreviousKV()
      .startRevision(String(Number(response.header.revision) + 1))
      .create();
    if (this.closed) {
      await watcher.cancel();
      return;
    }
    this.watcher = watcher;
    watcher.on('data', (res: IWatchResponse) => this.onWatch(res));
    // A cancelled watch (e.g. its start revision was compacted away while etcd was unreachable):
    // load the prefix afresh; the log starts again there, so older resumes get a snapshot.
    watcher.on('error', () => {
      if (this.closed || this.watcher !== watcher) return;
      this.watcher = undefined;
      void watcher.cancel().catch(() => undefined);
      const before = this.rev;
      this.load().then(
        () => {
          if (this.rev !== before) this.notify();
        },
        () => undefined,
      );
    });
  }

  /** Apply watch events (grouped by revision; our own writes are already in the mirror). */
  private onWatch(res: IWatchResponse): void {
    // Every event at or below the mirror's revision is in it already: our writes commit only when
    // the mirror is current, and one transaction's events arrive in one response.
    const applied = this.rev;
    let moved = false;
    for (const event of res.events) {
      const kv = event.kv;
      const revision = Number(kv.mod_revision);
      if (revision <= applied) continue;
      const id = this.parseKey(kv.key.toString());
      if (id !== undefined) {
        const key = `${id.kind}/${id.name}`;
        const before = this.entries.get(key)?.body ?? event.prev_kv?.value.toString();
        if (event.type === 'Delete') this.entries.delete(key);
        else this.entries.set(key, { body: kv.value.toString(), revision });
        this.record(revision, id.kind, id.name, before, event.type === 'Delete' ? undefined : kv.value.toString());
      }
      if (revision > this.rev) {
        this.rev = revision;
        moved = true;
      }
    }
    if (moved) this.notify();
  }

  private record(revision: number, kind: PolicyKind, name: string, before: string | undefined, after: string | undefined): void {
    const change: StoreChange = { revision, kind, name, op: after === undefined ? 'delete' : 'put' };
    if (before !== undefined) change.before = JSON.parse(before) as StoreChange['before'];
    if (after !== undefined) change.after = JSON.parse(after) as StoreChange['after'];
    this.log.push(change);
    if (this.log.length > this.keepChanges + 100) {
      const dropped = this.log.splice(0, this.log.length - this.keepChanges);
      this.floor = (dropped[dropped.length - 1] as StoreChange).revision;
    }
  }

  private notify(): void {
    for (const waiter of [...this.waiters]) {
      if (this.rev >= waiter.revision) {
        this.waiters.delete(waiter);
        waiter.resolve();
      }
    }
    for (const listener of this.listeners) listener();
  }

  /** Called after the mirror moves because of a write anywhere (this controller or another). */
  onChange(listener: () => void): void {
    this.listeners.add(listener);
  }

  get(kind: PolicyKind, name: string): StoredResource | undefined {
    const entry = this.entries.get(`${kind}/${name}`);
    if (entry === undefined) return undefined;
    return { kind, name, resource: JSON.parse(entry.body) as StoredResource['resource'], etag: etagOf(entry.revision), revision: entry.revision };
  }

  list(kind: PolicyKind): StoredResource[] {
    const names: string[] = [];
    for (const key of this.entries.keys()) if (key.startsWith(`${kind}/`)) names.push(key.slice(kind.length + 1));
    return names.sort().map((name) => this.get(kind, name) as StoredResource);
  }

  revision(): number {
    return this.rev;
  }

  private check(current: Entry | undefined, conditions: WriteConditions): void {
    if (conditions.baseRevision !== undefined && conditions.baseRevision !== this.rev) {
      throw new StoreConflictError(conditions.baseRevision, this.rev);
    }
    if (conditions.ifMatch !== undefined && (current === undefined || !matches(conditions.ifMatch, etagOf(current.revision)))) {
      throw new PreconditionFailedError(current === undefined ? 'resource does not exist' : `etag is ${etagOf(current.revision)}`);
    }
    if (conditions.ifNoneMatch !== undefined && current !== undefined && matches(conditions.ifNoneMatch, etagOf(current.revision))) {
      throw new PreconditionFailedError('resource already exists');
    }
  }

  /** One resource put (a body) or deleted (undefined), under the caller's conditions. */
  private write(kind: PolicyKind, name: string, body: string | undefined, conditions: WriteConditions): Promise<number> {
    return this.transact(conditions, () => {
      const current = this.entries.get(`${kind}/${name}`);
      if (body === undefined && current === undefined) throw new NotFoundError(`${kind}/${name} not found`);
      this.check(current, conditions);
      return [{ kind, name, body, before: current?.body }];
    });
  }

  /**
   * The one way the store writes: a transaction of every put and delete `prepare` returns,
   * conditioned on the mirror being current (the `revision` key unchanged), so all of it lands at
   * one etcd revision or none does; on success the mirror takes the change at once (the watch's
   * copy of it is skipped). `prepare` checks the caller's conditions against the mirror and runs
   * again after a lost race, once the mirror has caught up; with a base revision the caller
   * re-validates instead (StoreConflictError).
   */
  private async transact(conditions: Pick<WriteConditions, 'baseRevision'>, prepare: () => PreparedWrite[]): Promise<number> {
    for (let attempt = 0; ; attempt++) {
      if (this.closed) throw new Error('etcd store is closed');
      const writes = prepare();
      const base = this.rev;
      const ops = writes.map((w) => {
        const key = this.resourceKey(w.kind, w.name);
        return w.body === undefined ? this.client.delete().key(key) : this.client.put(key).value(w.body);
      });
      let result;
      try {
        result = await this.client
          .if(this.metaKey, 'Mod', '==', base)
          .then(...ops, this.client.put(this.metaKey).value(''))
          .else(this.client.get(this.metaKey))
          .commit();
      } catch (error) {
        throw limitError(error, writes.length) ?? error;
      }
      if (result.succeeded) {
        const revision = Number(result.header.revision);
        if (this.rev === base) {
          for (const w of writes) {
            const key = `${w.kind}/${w.name}`;
            if (w.body === undefined) this.entries.delete(key);
            else this.entries.set(key, { body: w.body, revision });
            this.record(revision, w.kind, w.name, w.before, w.body);
          }
          this.rev = revision;
          this.notify();
        }
        return revision;
      }
      const winner = Number(result.responses[0]?.response_range.kvs[0]?.mod_revision ?? 0);
      await this.catchUp(winner);
      if (conditions.baseRevision !== undefined || attempt >= 5) throw new StoreConflictError(base, this.rev);
    }
  }

  /** Wait until the watch has brought the mirror to `revision` (bounded by `catchUpMs`). */
  private catchUp(revision: number): Promise<void> {
    if (this.rev >= revision) return Promise.resolve();
    return new Promise((resolve) => {
      const waiter = {
        revision,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        resolve();
      }, this.catchUpMs);
      this.waiters.add(waiter);
    });
  }

  async put(kind: PolicyKind, name: string, resource: StoredResource['resource'], conditions: WriteConditions = {}): Promise<StoredResource> {
    const body = JSON.stringify(resource);
    const revision = await this.write(kind, name, body, conditions);
    return { kind, name, resource: JSON.parse(body) as StoredResource['resource'], etag: etagOf(revision), revision };
  }

  delete(kind: PolicyKind, name: string, conditions: WriteConditions = {}): Promise<number> {
    return this.write(kind, name, undefined, conditions);
  }

  /**
   * A whole-policy PUT: every put and delete in one transaction, on the same compare as a single
   * write (the mirror is current), so the policy changes at one etcd revision or not at all. Each
   * resource written gets that revision as its etag; the change log has one entry per resource,
   * all at that revision. etcd bounds a transaction (`--max-txn-ops`, default 128 operations, one
   * of them the `revision` key; `--max-request-bytes`, default 1.5 MiB): past them the write is
   * refused whole with a `StoreLimitError` that says which bound.
   */
  writeMany(writes: StoreWrite[], conditions: Pick<WriteConditions, 'baseRevision'> = {}): Promise<number> {
    const bodies = writes.map((w) => (w.resource === undefined ? undefined : JSON.stringify(w.resource)));
    return this.transact(conditions, () => {
      this.check(undefined, conditions);
      return writes.map((w, i) => {
        const before = this.entries.get(`${w.kind}/${w.name}`);
        if (w.resource === undefined && before === undefined) throw new NotFoundError(`${w.kind}/${w.name} not found`);
        return { kind: w.kind, name: w.name, body: bodies[i], before: before?.body };
      });
    });
  }

  changesSince(revision: number, limits: ChangeLimits = {}): StoreChange[] | undefined {
    if (revision < this.floor || revision > this.rev) return undefined;
    const changes = this.log.filter((change) => change.revision > revision);
    if (limits.maxChanges !== undefined && changes.length > limits.maxChanges) return undefined;
    if (limits.maxBytes !== undefined) {
      let bytes = 0;
      for (const change of changes) {
        bytes += (change.before === undefined ? 0 : JSON.stringify(change.before).length) + (change.after === undefined ? 0 : JSON.stringify(change.after).length);
        if (bytes > limits.maxBytes) return undefined;
      }
    }
    return changes;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const waiter of this.waiters) waiter.resolve();
    this.waiters.clear();
    await this.watcher?.cancel().catch(() => undefined);
    this.client.close();
  }
}

/** etcd's refusal of a too-large transaction as a `StoreLimitError` (undefined for other errors). */
/** A write of `transact`: the body to put (undefined: delete) and the body it replaces (for the change log). */
interface PreparedWrite {
  kind: PolicyKind;
  name: string;
  body: string | undefined;
  before: string | undefined;
}

function limitError(error: unknown, writes: number): StoreLimitError | undefined {
  const message = (error as Error).message ?? '';
  if (/too many operations in txn request/.test(message)) {
    return new StoreLimitError(`the policy changes ${writes} resources; etcd takes at most --max-txn-ops operations in one transaction (default 128, one of them the store's revision key): raise --max-txn-ops on every etcd member, or change the policy in smaller steps`);
  }
  if (/request is too large|message larger than max|ResourceExhausted|RESOURCE_EXHAUSTED/i.test(message)) {
    return new StoreLimitError(`the changed resources are too large for one etcd request (--max-request-bytes, default 1.5 MiB): raise it on every etcd member, or change the policy in smaller steps`);
  }
  return undefined;
}
