/**
 * `switchyard controller --listen ADDR:PORT --store FILE|etcd://H:P[,H:P] [--token-file F] [limits]`: open the store,
 * serve the REST API and the agents' sync streams, stop cleanly on SIGTERM/SIGINT. The API token
 * comes from --token-file or SWITCHYARD_TOKEN; without one the controller does not start.
 */
import { readFile } from 'node:fs/promises';
import { createLogger } from '../agent/logger.js';
import { ControllerServer } from '../controller/server.js';
import type { ControllerOptions } from '../controller/server.js';
import type { SyncLimits } from '../controller/sync-hub.js';
import { openStore } from '../controller/open-store.js';

export interface ControllerCommandOptions {
  listen: string;
  store: string;
  tokenFile?: string;
  heartbeatMs?: number;
  maxSyncStreams?: number;
  maxSyncPerHost?: number;
  syncStallMs?: number;
  maxReplayChanges?: number;
  maxReplayBytes?: number;
  bodyLimit?: number;
  maxBodyDepth?: number;
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

/** "127.0.0.1:8080", "[::1]:8080", "0.0.0.0:0" -> host and port. */
export function parseListen(text: string, flag = '--listen'): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  const port = match === null ? NaN : Number(match[3]);
  if (match === null || port > 65535) throw new Error(`${flag}: expected ADDR:PORT (e.g. 127.0.0.1:8080), got ${text}`);
  return { host: (match[1] ?? match[2]) as string, port };
}

/** The API token: the first line of --token-file, else SWITCHYARD_TOKEN. */
export async function readToken(tokenFile: string | undefined): Promise<string | undefined> {
  if (tokenFile !== undefined) {
    const token = (await readFile(tokenFile, 'utf8')).split('\n')[0]?.trim() ?? '';
    if (token === '') throw new Error(`${tokenFile}: no token in it`);
    return token;
  }
  const env = process.env.SWITCHYARD_TOKEN?.trim();
  return env === undefined || env === '' ? undefined : env;
}

/** Run until SIGTERM/SIGINT; returns the exit code. */
export async function runControllerCommand(o: ControllerCommandOptions): Promise<number> {
  const log = createLogger('controller');
  const { host, port } = parseListen(o.listen);
  const token = await readToken(o.tokenFile);
  if (token === undefined) {
    console.error('switchyard controller: an API token is needed: --token-file FILE or SWITCHYARD_TOKEN');
    return 2;
  }
  // SQLite file (its directory made if missing) or etcd://HOST:PORT[,...] (open-store.ts)
  let store;
  try {
    store = await openStore(o.store);
  } catch (err) {
    console.error(`switchyard controller: ${(err as Error).message}`);
    return 2;
  }
  const server = new ControllerServer({ store, token, logger: log, ...serverLimits(o) });
  const address = await server.listen(host, port);
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
