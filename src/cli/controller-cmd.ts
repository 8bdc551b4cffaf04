/**
 * `switchyard controller --listen ADDR:PORT --store FILE|etcd://H:P[,H:P] (--tls-cert F --tls-key F |
 * --insecure-http) [--token-file F] [--token-store FILE] [limits]`: open the store (SQLite, or etcd
 * shared by several controllers), serve the REST API and the agents' sync streams, stop cleanly on
 * SIGTERM/SIGINT. The admin token comes from --token-file or SWITCHYARD_TOKEN; host tokens from the
 * token store (`controller token create`): the SQLite store file itself, or with etcd a SQLite file
 * named by --token-store. The rule for transport: HTTPS always, unless --insecure-http is given,
 * which excludes the certificate options; without either the controller does not start (nothing
 * is served in cleartext by default, and a certificate is never silently ignored).
 */
import { readFile } from 'node:fs/promises';
import { parseListen, readToken } from './cli-args.js';
import { SqliteTokenStore } from '../controller/sqlite-token-store.js';
import { isEtcdSpec } from '../controller/etcd-store.js';
import { createLogger } from '../agent/logger.js';
import { ControllerServer } from '../controller/server.js';
import type { ControllerOptions } from '../controller/server.js';
import type { SyncLimits } from '../controller/sync-hub.js';
import { openStore } from '../controller/open-store.js';
// the tests and older callers import these from here
export { parseListen, readToken };

export interface ControllerCommandOptions {
  listen?: string;
  store?: string;
  tokenFile?: string;
  /** SQLite file of the host tokens (default: the store file; needed for host tokens with etcd). */
  tokenStore?: string;
  tlsCert?: string;
  tlsKey?: string;
  insecureHttp?: boolean;
  heartbeatMs?: number;
  maxSyncStreams?: number;
  maxSyncPerHost?: number;
  syncStallMs?: number;
  maxReplayChanges?: number;
  maxReplayBytes?: number;
  bodyLimit?: number;
  maxBodyDepth?: number;
  /** etcd over TLS and with authentication (open-store.ts). */
  etcdCa?: string;
  etcdCert?: string;
  etcdKey?: string;
  etcdUserFile?: string;
}

/** The server options the command's flags give (absent flags: the server's defaults). */
export function serverLimits(o: ControllerCommandOptions): Pick<ControllerOptions, 'heartbeatMs' | 'bodyLimit' | 'maxBodyDepth' | 'sync'> {
  const sync: SyncLimits = {};
  if (o.maxSyncStreams !== undefined) sync.maxStreams = o.maxSyncStreams;
  if (o.maxSyncPerHost !== undefined) sync.maxPerHost = o.maxSyncPerHost;
  if (o.syncStallMs !== undefined) sync.stallMs = o.syncStallMs;
  if (o.maxReplayChanges !== undefined) sync.maxReplayChanges = o.maxReplayChanges;
  if (o.maxReplayBytes !== undefined) sync.maxReplayBytes = o.maxReplayBytes;
  return {
    sync,
    ...(o.heartbeatMs === undefined ? {} : { heartbeatMs: o.heartbeatMs }),
    ...(o.bodyLimit === undefined ? {} : { bodyLimit: o.bodyLimit }),
    ...(o.maxBodyDepth === undefined ? {} : { maxBodyDepth: o.maxBodyDepth }),
  };
}


/** The transport rule as an error message, or undefined when the flags are consistent. */
export function transportProblem(o: Pick<ControllerCommandOptions, 'tlsCert' | 'tlsKey' | 'insecureHttp'>): string | undefined {
  const certOptions = o.tlsCert !== undefined || o.tlsKey !== undefined;
  if (certOptions && o.insecureHttp === true) return '--insecure-http and --tls-cert/--tls-key exclude each other';
  if (certOptions && (o.tlsCert === undefined || o.tlsKey === undefined)) return 'give both --tls-cert FILE and --tls-key FILE';
  if (!certOptions && o.insecureHttp !== true) {
    return 'give --tls-cert FILE --tls-key FILE to serve HTTPS, or --insecure-http to serve plain HTTP (tokens then cross the network in cleartext)';
  }
  return undefined;
}

/** Run until SIGTERM/SIGINT; returns the exit code. */
export async function runControllerCommand(o: ControllerCommandOptions): Promise<number> {
  const log = createLogger('controller');
  if (o.listen === undefined || o.store === undefined) {
    console.error(`switchyard controller: ${o.listen === undefined ? '--listen ADDR:PORT' : '--store FILE'} is required`);
    return 2;
  }
  const { host, port } = parseListen(o.listen);
  const transport = transportProblem(o);
  if (transport !== undefined) {
    console.error(`switchyard controller: ${transport}`);
    return 2;
  }
  let tls: { cert: Buffer; key: Buffer } | undefined;
  if (o.tlsCert !== undefined && o.tlsKey !== undefined) {
    try {
      tls = { cert: await readFile(o.tlsCert), key: await readFile(o.tlsKey) };
    } catch (err) {
      console.error(`switchyard controller: cannot read the certificate or key: ${(err as Error).message}`);
      return 2;
    }
  }
  const token = await readToken(o.tokenFile);
  if (token === undefined) {
    console.error('switchyard controller: an admin token is needed: --token-file FILE or SWITCHYARD_TOKEN (make one with: openssl rand -hex 32 > admin.token)');
    return 2;
  }
  // SQLite file (its directory made if missing) or etcd://HOST:PORT[,...] (open-store.ts)
  let store;
  try {
    store = await openStore(o.store, { ca: o.etcdCa, cert: o.etcdCert, key: o.etcdKey, userFile: o.etcdUserFile });
  } catch (err) {
    console.error(`switchyard controller: ${(err as Error).message}`);
    return 2;
  }
  // host tokens live in a SQLite file: the store itself, or --token-store beside an etcd store
  const tokenFile = o.tokenStore ?? (isEtcdSpec(o.store) ? undefined : o.store);
  if (tokenFile === undefined) log.warn('no --token-store with an etcd store: only the admin token is accepted (no host tokens)');
  const tokens = tokenFile === undefined ? undefined : new SqliteTokenStore(tokenFile);
  let server: ControllerServer;
  try {
    server = new ControllerServer({ store, ...(tokens === undefined ? {} : { tokens }), token, logger: log, ...(tls === undefined ? {} : { tls }), ...serverLimits(o) });
  } catch (err) {
    // e.g. a key that does not match the certificate
    console.error(`switchyard controller: ${(err as Error).message}`);
    await store.close();
    tokens?.close();
    return 2;
  }
  const address = await server.listen(host, port);
  if (tls === undefined) log.warn('serving plain HTTP (--insecure-http): tokens and policy cross the network in cleartext');
  log.info({ url: address.url, store: o.store, revision: store.revision(), syncLimits: server.hub.limits }, 'controller listening');
  await new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      log.info({ signal }, 'shutting down');
      server.close().then(resolve, (error: Error) => {
        log.error({ err: error.message }, 'shutdown failed');
        resolve();
      });
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  return 0;
}
