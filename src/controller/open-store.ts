/**
 * `--store SPEC` -> a PolicyStore: `etcd://HOST:PORT[,HOST:PORT...]` (or `etcds://` for TLS) is the
 * shared etcd store (several controllers on one policy), anything else a SQLite file (its
 * directory made if missing, mode 0700: the store holds every tenant's policy). For etcd: the CA of
 * the members' certificates (`--etcd-ca`), a client certificate (`--etcd-cert`/`--etcd-key`) when
 * they require one, and a user and password (`--etcd-user-file`: `USER:PASSWORD` on its first line,
 * as etcdctl's --user) when etcd's authentication is enabled.
 */
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { EtcdStore, isEtcdSpec, parseEtcdUrl } from './etcd-store.js';
import type { EtcdStoreOptions } from './etcd-store.js';
import { SqliteStore } from './sqlite-store.js';
import type { PolicyStore } from './store.js';

export interface EtcdAccess {
  ca?: string;
  cert?: string;
  key?: string;
  userFile?: string;
}

async function readOrSay(file: string, what: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (err) {
    throw new Error(`cannot read the ${what} ${file}: ${(err as Error).message}`, { cause: err });
  }
}

/** The etcd client options the flags give; a clear error for flags that do not fit together. */
export async function etcdOptions(spec: string, access: EtcdAccess): Promise<EtcdStoreOptions> {
  const options: EtcdStoreOptions = {};
  const tlsFlags = access.ca !== undefined || access.cert !== undefined || access.key !== undefined;
  if (tlsFlags && !spec.startsWith('etcds://')) throw new Error('--etcd-ca/--etcd-cert/--etcd-key are for TLS: write the store as etcds://HOST:PORT[,...]');
  if ((access.cert === undefined) !== (access.key === undefined)) throw new Error('give both --etcd-cert FILE and --etcd-key FILE');
  if (tlsFlags && access.ca === undefined) throw new Error("give --etcd-ca FILE: the CA of the etcd members' certificates");
  if (access.ca !== undefined) {
    options.tls = { ca: await readOrSay(access.ca, 'etcd CA') };
    if (access.cert !== undefined && access.key !== undefined) {
      options.tls.cert = await readOrSay(access.cert, 'etcd client certificate');
      options.tls.key = await readOrSay(access.key, 'etcd client key');
    }
  }
  if (access.userFile !== undefined) {
    const line = (await readOrSay(access.userFile, 'etcd user file')).toString('utf8').split('\n')[0]?.trim() ?? '';
    const colon = line.indexOf(':');
    if (colon <= 0 || colon === line.length - 1) throw new Error(`${access.userFile}: expected USER:PASSWORD on the first line`);
    options.auth = { username: line.slice(0, colon), password: line.slice(colon + 1) };
  }
  return options;
}

export async function openStore(spec: string, access: EtcdAccess = {}): Promise<PolicyStore> {
  if (isEtcdSpec(spec)) return EtcdStore.open(parseEtcdUrl(spec), await etcdOptions(spec, access));
  if (Object.values(access).some((value) => value !== undefined)) throw new Error('--etcd-* options need an etcd:// or etcds:// store');
  try {
    await mkdir(path.dirname(path.resolve(spec)), { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new Error(`cannot make the store's directory for ${spec}: ${(err as Error).message}`, { cause: err });
  }
  return new SqliteStore(spec);
}
