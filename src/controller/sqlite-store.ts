/**
 * The embedded store: SQLite through better-sqlite3, WAL journal, synchronous=FULL so that a write
 * acknowledged to a client survives a crash. Each `put`/`delete` is one IMMEDIATE transaction that
 * checks its preconditions, writes the resource, appends to the change log and bumps the revision
 * (kept in `meta`, so compacting the log never loses it). The log keeps the last `keepChanges`
 * entries.
 */
import Database from 'better-sqlite3';
import type { PolicyKind } from '../agent/controller-sync-protocol.js';
import { NotFoundError, PreconditionFailedError, StoreConflictError } from './store.js';
import type { ChangeLimits, PolicyStore, StoreChange, StoredResource, StoreWrite, WriteConditions } from './store.js';

export interface SqliteStoreOptions {
  /** Change-log entries kept for resuming agents (default 10000). */
  keepChanges?: number;
}

interface ResourceRow {
  kind: string;
  name: string;
  body: string;
  revision: number;
}

interface ChangeRow {
  revision: number;
  kind: string;
  name: string;
  op: string;
  before: string | null;
  after: string | null;
}

const etagOf = (revision: number): string => `"${revision}"`;

function matches(header: string, etag: string): boolean {
  return header
    .split(',')
    .map((tag) => tag.trim().replace(/^W\//, ''))
    .some((tag) => tag === '*' || tag === etag);
}

export class SqliteStore implements PolicyStore {
  private readonly db: Database.Database;
  private readonly keepChanges: number;
  private readonly stmts;

  constructor(file: string, options: SqliteStoreOptions = {}) {
    this.keepChanges = options.keepChanges ?? 10000;
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
      INSERT OR IGNORE INTO meta (key, value) VALUES ('revision', 0), ('compacted', 0);
      CREATE TABLE IF NOT EXISTS resources (
        kind TEXT NOT NULL, name TEXT NOT NULL, body TEXT NOT NULL, revision INTEGER NOT NULL,
        PRIMARY KEY (kind, name));
      CREATE TABLE IF NOT EXISTS changes (
        revision INTEGER PRIMARY KEY, kind TEXT NOT NULL, name TEXT NOT NULL, op TEXT NOT NULL,
        before TEXT, after TEXT);
    `);
    this.stmts = {
      get: this.db.prepare<[string, string], ResourceRow>('SELECT kind, name, body, revision FROM resources WHERE kind = ? AND name = ?'),
      list: this.db.prepare<[string], ResourceRow>('SELECT kind, name, body, revision FROM resources WHERE kind = ? ORDER BY name'),
      meta: this.db.prepare<[string], { value: number }>('SELECT value FROM meta WHERE key = ?'),
      setMeta: this.db.prepare<[number, string]>('UPDATE meta SET value = ? WHERE key = ?'),
      upsert: this.db.prepare<[string, string, string, number]>(
        'INSERT INTO resources (kind, name, body, revision) VALUES (?, ?, ?, ?) ON CONFLICT (kind, name) DO UPDATE SET body = excluded.body, revision = excluded.revision',
      ),
      remove: this.db.prepare<[string, string]>('DELETE FROM resources WHERE kind = ? AND name = ?'),
      log: this.db.prepare<[number, string, string, string, string | null, string | null]>(
        'INSERT INTO changes (revision, kind, name, op, before, after) VALUES (?, ?, ?, ?, ?, ?)',
      ),
      since: this.db.prepare<[number], ChangeRow>('SELECT revision, kind, name, op, before, after FROM changes WHERE revision > ? ORDER BY revision'),
      compact: this.db.prepare<[number]>('DELETE FROM changes WHERE revision <= ?'),
    };
  }

  private row(row: ResourceRow | undefined): StoredResource | undefined {
    if (row === undefined) return undefined;
    return {
      kind: row.kind as PolicyKind,
      name: row.name,
      resource: JSON.parse(row.body) as StoredResource['resource'],
      etag: etagOf(row.revision),
      revision: row.revision,
    };
  }

  get(kind: PolicyKind, name: string): StoredResource | undefined {
    return this.row(this.stmts.get.get(kind, name));
  }

  list(kind: PolicyKind): StoredResource[] {
    return this.stmts.list.all(kind).map((row) => this.row(row) as StoredResource);
  }

  revision(): number {
    return this.stmts.meta.get('revision')?.value ?? 0;
  }

  private check(current: ResourceRow | undefined, conditions: WriteConditions): void {
    const revision = this.revision();
    if (conditions.baseRevision !== undefined && conditions.baseRevision !== revision) {
      throw new StoreConflictError(conditions.baseRevision, revision);
    }
    if (conditions.ifMatch !== undefined && (current === undefined || !matches(conditions.ifMatch, etagOf(current.revision)))) {
      throw new PreconditionFailedError(current === undefined ? 'resource does not exist' : `etag is ${etagOf(current.revision)}`);
    }
    if (conditions.ifNoneMatch !== undefined && current !== undefined && matches(conditions.ifNoneMatch, etagOf(current.revision))) {
      throw new PreconditionFailedError('resource already exists');
    }
  }

  /** Log the change, bump the revision and compact the log; returns the new revision. */
  private record(kind: PolicyKind, name: string, before: string | null, after: string | null): number {
    const revision = this.revision() + 1;
    this.stmts.log.run(revision, kind, name, after === null ? 'delete' : 'put', before, after);
    this.stmts.setMeta.run(revision, 'revision');
    const drop = revision - this.keepChanges;
    if (drop > 0 && drop % 100 === 0) {
      this.stmts.compact.run(drop);
      this.stmts.setMeta.run(drop, 'compacted');
    }
    return revision;
  }

  put(kind: PolicyKind, name: string, resource: StoredResource['resource'], conditions: WriteConditions = {}): StoredResource {
    return this.db
      .transaction(() => {
        const current = this.stmts.get.get(kind, name);
        this.check(current, conditions);
        const body = JSON.stringify(resource);
        const revision = this.record(kind, name, current?.body ?? null, body);
        this.stmts.upsert.run(kind, name, body, revision);
        return { kind, name, resource: JSON.parse(body) as StoredResource['resource'], etag: etagOf(revision), revision };
      })
      .immediate();
  }

  delete(kind: PolicyKind, name: string, conditions: WriteConditions = {}): number {
    return this.db
      .transaction(() => {
        const current = this.stmts.get.get(kind, name);
        if (current === undefined) throw new NotFoundError(`${kind}/${name} not found`);
        this.check(current, conditions);
        const revision = this.record(kind, name, current.body, null);
        this.stmts.remove.run(kind, name);
        return revision;
      })
      .immediate();
  }

  /** Run `fn` (e.g. many puts) as one transaction: one fsync instead of one per write (bulk loads, benches). */
  batch<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate();
  }

  /** Puts and deletes in one transaction (each its own revision in the log); returns the last revision. */
  writeMany(writes: StoreWrite[], conditions: Pick<WriteConditions, 'baseRevision'> = {}): number {
    return this.batch(() => {
      let revision = this.revision();
      if (conditions.baseRevision !== undefined && conditions.baseRevision !== revision) throw new StoreConflictError(conditions.baseRevision, revision);
      for (const write of writes) revision = write.resource === undefined ? this.delete(write.kind, write.name) : this.put(write.kind, write.name, write.resource).revision;
      return revision;
    });
  }

  changesSince(revision: number, limits: ChangeLimits = {}): StoreChange[] | undefined {
    const compacted = this.stmts.meta.get('compacted')?.value ?? 0;
    const current = this.revision();
    if (revision < compacted || revision > current) return undefined;
    // Revisions are dense, so the count is known before reading a row.
    if (limits.maxChanges !== undefined && current - revision > limits.maxChanges) return undefined;
    const maxBytes = limits.maxBytes ?? Number.POSITIVE_INFINITY;
    const rows: ChangeRow[] = [];
    let bytes = 0;
    // Rows are read one at a time and reading stops at the byte limit: nothing past it is parsed.
    for (const row of this.stmts.since.iterate(revision)) {
      bytes += (row.before?.length ?? 0) + (row.after?.length ?? 0);
      if (bytes > maxBytes) return undefined;
      rows.push(row);
    }
    return rows.map((row) => {
      const change: StoreChange = { revision: row.revision, kind: row.kind as PolicyKind, name: row.name, op: row.op as StoreChange['op'] };
      if (row.before !== null) change.before = JSON.parse(row.before) as StoreChange['before'];
      if (row.after !== null) change.after = JSON.parse(row.after) as StoreChange['after'];
      return change;
    });
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
