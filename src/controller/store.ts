/**
 * The controller's store, as an interface: the REST layer and the sync hub only use this, so a
 * distributed store (etcd, clustered OVSDB) can replace the embedded SQLite one
 * (`sqlite-store.ts`). Every write is one atomic step that bumps a store-wide revision; the change
 * log (with before-images) lets the sync hub rebuild the policy at an older revision and resume
 * an agent from it. Writes take optimistic preconditions (the revision the caller validated
 * against, the resource's etag), which is how a compare-and-swap store keeps "validate the whole
 * resulting policy, then write" correct without a lock.
 */
import type { PolicyKind } from '../agent/controller-sync-protocol.js';

export interface StoredResource {
  kind: PolicyKind;
  name: string;
  /** The normalised resource as `parsePolicy` produced it (e.g. a NetworkInterface). */
  resource: { name: string } & Record<string, unknown>;
  /** Opaque version of this resource: changes on every write of it. */
  etag: string;
  /** Store revision of the last write of this resource. */
  revision: number;
}

export interface StoreChange {
  revision: number;
  kind: PolicyKind;
  name: string;
  op: 'put' | 'delete';
  /** The resource before the change (absent when it was created). */
  before?: StoredResource['resource'];
  /** The resource after the change (absent when it was deleted). */
  after?: StoredResource['resource'];
}

export interface WriteConditions {
  /** Fail with `StoreConflictError` unless the store is still at this revision. */
  baseRevision?: number;
  /** Fail with `PreconditionFailedError` unless the resource's etag is this ('*': it must exist). */
  ifMatch?: string;
  /** '*': fail with `PreconditionFailedError` if the resource exists (create only). */
  ifNoneMatch?: string;
}

/** One resource of a many-resource write: put when `resource` is given, else delete. */
export interface StoreWrite {
  kind: PolicyKind;
  name: string;
  resource?: StoredResource['resource'];
}

/** How much of the change log one caller may read at once (a resume that needs more gets a snapshot). */
export interface ChangeLimits {
  /** At most this many changes. */
  maxChanges?: number;
  /** At most this many characters of before- and after-images together. */
  maxBytes?: number;
}

export interface PolicyStore {
  get(kind: PolicyKind, name: string): StoredResource | undefined;
  /** Resources of one kind, sorted by name. */
  list(kind: PolicyKind): StoredResource[];
  /** The revision of the last acknowledged write (0 for an empty store). */
  revision(): number;
  /**
   * Create or replace; returns the stored resource with its new etag and revision. A networked
   * store (etcd-store.ts) answers with a promise: callers await it.
   */
  put(kind: PolicyKind, name: string, resource: StoredResource['resource'], conditions?: WriteConditions): StoredResource | Promise<StoredResource>;
  /** Remove; returns the new store revision. Throws `NotFoundError` if absent. */
  delete(kind: PolicyKind, name: string, conditions?: WriteConditions): number | Promise<number>;
  /**
   * Several puts and deletes as one atomic step (a whole-policy PUT), if the store can; returns the
   * new revision. Fails with `StoreConflictError` unless the store is still at `baseRevision`.
   */
  writeMany?(writes: StoreWrite[], conditions?: Pick<WriteConditions, 'baseRevision'>): number | Promise<number>;
  /**
   * Changes after `revision`, oldest first; undefined when the log no longer reaches back that far,
   * or when they exceed `limits` (the store stops reading at the limit, so the cost is bounded).
   */
  changesSince(revision: number, limits?: ChangeLimits): StoreChange[] | undefined;
  /**
   * Register a callback for writes made elsewhere (another controller on a shared store); the
   * sync hub publishes on it. Absent on stores only this process writes.
   */
  onChange?(listener: () => void): void;
  close(): void | Promise<void>;
}

export class StoreConflictError extends Error {
  constructor(expected: number, actual: number) {
    super(`store moved from revision ${expected} to ${actual}`);
  }
}

export class PreconditionFailedError extends Error {}

export class NotFoundError extends Error {}

/** The store cannot take this write in one step (e.g. etcd's bound on one transaction); nothing was written. */
export class StoreLimitError extends Error {}
