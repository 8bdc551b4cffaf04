/**
 * `--store SPEC` -> a PolicyStore: `etcd://HOST:PORT[,HOST:PORT...]` is the shared etcd store
 * (several controllers on one policy), anything else a SQLite file (its directory made if missing,
 * mode 0700: the store holds every tenant's policy).
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { EtcdStore, isEtcdSpec, parseEtcdUrl } from './etcd-store.js';
import { SqliteStore } from './sqlite-store.js';
import type { PolicyStore } from './store.js';

export async function openStore(spec: string): Promise<PolicyStore> {
  if (isEtcdSpec(spec)) return EtcdStore.open(parseEtcdUrl(spec));
  try {
    await mkdir(path.dirname(path.resolve(spec)), { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new Error(`cannot make the store's directory for ${spec}: ${(err as Error).message}`, { cause: err });
  }
  return new SqliteStore(spec);
}
