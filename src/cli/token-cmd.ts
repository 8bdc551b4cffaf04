/**
 * `switchyard controller token create|list|revoke --store STORE`: host-scoped API tokens, kept
 * hashed in the controller's store file. `create --host NAME` prints the new token once (to
 * stdout, alone on its line, so `> host1.token` captures it); the controller accepts it at once,
 * running or not. `revoke ID` removes it; open sync streams using it end at their next heartbeat.
 */
import { existsSync } from 'node:fs';
import { SqliteTokenStore } from '../controller/sqlite-token-store.js';
import { isEtcdSpec } from '../controller/etcd-store.js';
import { table } from './ctl.js';

export interface TokenCommandOptions {
  store: string;
  json?: boolean;
}

export interface TokenOutput {
  out(text: string): void;
  err(text: string): void;
}

const consoleOutput: TokenOutput = { out: (text) => console.log(text), err: (text) => console.error(text) };

function open(o: TokenCommandOptions, create: boolean, io: TokenOutput): SqliteTokenStore | undefined {
  if (isEtcdSpec(o.store)) {
    io.err(`switchyard controller token: host tokens are kept in a SQLite file, not in etcd: give the controller's --token-store FILE as --store`);
    return undefined;
  }
  if (!create && !existsSync(o.store)) {
    io.err(`switchyard controller token: no store at ${o.store}`);
    return undefined;
  }
  return new SqliteTokenStore(o.store);
}

export function tokenCreate(o: TokenCommandOptions & { host: string }, io: TokenOutput = consoleOutput): number {
  const store = open(o, true, io);
  if (store === undefined) return 2;
  try {
    const made = store.create(o.host);
    io.out(o.json ? JSON.stringify(made, null, 2) : made.token);
    io.err(`token ${made.id} for host ${made.host} created; it is shown only now`);
    return 0;
  } catch (error) {
    io.err(`switchyard controller token create: ${(error as Error).message}`);
    return 2;
  } finally {
    store.close();
  }
}

export function tokenList(o: TokenCommandOptions, io: TokenOutput = consoleOutput): number {
  const store = open(o, false, io);
  if (store === undefined) return 2;
  try {
    const tokens = store.list();
    if (o.json) io.out(JSON.stringify(tokens, null, 2));
    else io.out(tokens.length === 0 ? 'no host tokens' : table(['ID', 'HOST', 'CREATED'], tokens.map((t) => [t.id, t.host, t.createdAt])));
    return 0;
  } finally {
    store.close();
  }
}

export function tokenRevoke(o: TokenCommandOptions & { id: string }, io: TokenOutput = consoleOutput): number {
  const store = open(o, false, io);
  if (store === undefined) return 2;
  try {
    if (!store.revoke(o.id)) {
      io.err(`switchyard controller token revoke: no token ${o.id} (see token list)`);
      return 1;
    }
    io.out(`token ${o.id} revoked`);
    return 0;
  } finally {
    store.close();
  }
}
