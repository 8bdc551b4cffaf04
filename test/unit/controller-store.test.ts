// The store (SQLite, revisions, change log, preconditions), the host-view filter and the
// protocol's diff/apply/digest, without HTTP.
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { applyDelta, diffViews, sortView, viewDigest } from '../../src/agent/controller-sync-protocol.js';
import { hostView, policyAt, storedPolicy } from '../../src/controller/host-view.js';
import { SqliteStore } from '../../src/controller/sqlite-store.js';
import { NotFoundError, PreconditionFailedError, StoreConflictError } from '../../src/controller/store.js';
import { figure8Policy } from '../../src/policy/figure8.js';
import { tempDir } from './controller-fixture.js';

let tmp: ReturnType<typeof tempDir>;
let store: SqliteStore;
let file: string;

beforeEach(() => {
  tmp = tempDir();
  file = path.join(tmp.dir, 'store.db');
  store = new SqliteStore(file, { keepChanges: 100 });
});

afterEach(() => {
  store.close();
  tmp.cleanup();
});

const host = (name: string, pa: string) => ({ name, providerAddresses: [pa] });

describe('SqliteStore', () => {
  it('numbers every change, keeps etags per resource and survives reopening', () => {
    expect(store.revision()).toBe(0);
    const a = store.put('hosts', 'a', host('a', '10.0.0.1'));
    const b = store.put('hosts', 'b', host('b', '10.0.0.2'));
    expect([a.revision, b.revision]).toEqual([1, 2]);
    expect(store.delete('hosts', 'a')).toBe(3);
    expect(store.list('hosts').map((r) => r.name)).toEqual(['b']);
    expect(store.changesSince(0)?.map((c) => `${c.revision} ${c.op} ${c.name}`)).toEqual(['1 put a', '2 put b', '3 delete a']);
    expect(store.changesSince(2)?.[0]?.before).toEqual(host('a', '10.0.0.1'));
    store.close();
    store = new SqliteStore(file);
    expect(store.revision()).toBe(3);
    expect(store.get('hosts', 'b')?.etag).toBe(b.etag);
    expect(store.put('hosts', 'c', host('c', '10.0.0.3')).revision).toBe(4);
  });

  it('checks preconditions inside the transaction and writes nothing when they fail', () => {
    const a = store.put('hosts', 'a', host('a', '10.0.0.1'));
    expect(() => store.put('hosts', 'a', host('a', '10.0.0.9'), { baseRevision: 0 })).toThrow(StoreConflictError);
    expect(() => store.put('hosts', 'a', host('a', '10.0.0.9'), { ifMatch: '"7"' })).toThrow(PreconditionFailedError);
    expect(() => store.put('hosts', 'a', host('a', '10.0.0.9'), { ifNoneMatch: '*' })).toThrow(PreconditionFailedError);
    expect(() => store.delete('hosts', 'zz')).toThrow(NotFoundError);
    expect(store.revision()).toBe(1);
    expect(store.get('hosts', 'a')?.resource).toEqual(host('a', '10.0.0.1'));
    expect(store.put('hosts', 'a', host('a', '10.0.0.9'), { ifMatch: a.etag, baseRevision: 1 }).revision).toBe(2);
  });

  it('compacts the change log; too old a revision gives undefined', () => {
    for (let i = 0; i < 250; i++) store.put('hosts', 'a', host('a', `10.0.${i >> 8}.${(i & 255) + 1}`));
    expect(store.changesSince(10)).toBeUndefined();
    expect(store.changesSince(240)).toHaveLength(10);
    expect(store.changesSince(251)).toBeUndefined();
  });
});

describe('host views', () => {
  function seed(): void {
    const policy = figure8Policy();
    for (const kind of ['hosts', 'virtualNetworks', 'networkInterfaces'] as const) {
      for (const item of policy[kind]) store.put(kind, item.name, item as unknown as { name: string } & Record<string, unknown>);
    }
  }

  it('a host sees every host, and only the networks with a port on it', () => {
    seed();
    store.put('hosts', 'host3', host('host3', '192.168.3.30'));
    const view = hostView(storedPolicy(store), 'host3');
    expect(view.hosts).toHaveLength(3);
    expect(view.virtualNetworks).toEqual([]);
    expect(view.networkInterfaces).toEqual([]);
    expect(hostView(storedPolicy(store), 'host1').networkInterfaces).toHaveLength(4);
  });

  it('policyAt rebuilds an older revision from the change log', () => {
    seed();
    const at = store.revision();
    const before = storedPolicy(store);
    store.put('hosts', 'host3', host('host3', '192.168.3.30'));
    store.delete('networkInterfaces', 'fabrikam-web');
    expect(policyAt(store, at)).toEqual(sortView(before));
  });

  it('diff then apply gives the new view, with the same digest', () => {
    seed();
    const old = hostView(storedPolicy(store), 'host1');
    store.delete('networkInterfaces', 'contoso-web');
    store.put('hosts', 'host3', host('host3', '192.168.3.30'));
    const next = hostView(storedPolicy(store), 'host1');
    const delta = diffViews(old, next);
    expect(delta.remove).toEqual({ networkInterfaces: ['contoso-web'] });
    expect(delta.upsert.hosts?.map((h) => h.name)).toEqual(['host3']);
    const applied = applyDelta(JSON.parse(JSON.stringify(old)), JSON.parse(JSON.stringify(delta)));
    expect(viewDigest(applied)).toBe(viewDigest(next));
    expect(diffViews(next, applied).empty).toBe(true);
    expect(viewDigest(old)).not.toBe(viewDigest(next));
  });
});
