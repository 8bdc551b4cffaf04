/**
 * `switchyard vtep --ovsdb unix:SOCK --controller URL[,URL] [--host NAME] [--token-file F] [--ca-file F]`:
 * keep a hardware_vtep database (a hardware switch's, or the ovs-vtep emulator's) in step with the
 * controller's policy, and the VTEP's learned MACs in the policy (src/vtep/vtep-sync.ts). Stops
 * cleanly on SIGTERM/SIGINT.
 */
import { createLogger } from '../agent/logger.js';
import { VtepSync } from '../vtep/vtep-sync.js';
import { readToken } from './cli-args.js';
import { readCa } from '../agent/controller-http.js';

export interface VtepCommandOptions {
  ovsdb: string;
  controller: string;
  host?: string;
  tunnelIp?: string;
  tokenFile?: string;
  /** --ca-file: the CA that signs the controller's certificate (default $SWITCHYARD_CA, else the system's roots). */
  caFile?: string;
  pollMs?: number;
}

export async function runVtepCommand(o: VtepCommandOptions): Promise<number> {
  const log = createLogger('vtep');
  if (!o.ovsdb.startsWith('unix:')) {
    console.error(`switchyard vtep: --ovsdb: expected unix:PATH, got ${o.ovsdb}`);
    return 2;
  }
  const token = await readToken(o.tokenFile);
  const ca = readCa(o.caFile);
  const sync = new VtepSync({
    ...(ca === undefined ? {} : { ca }),
    ovsdb: o.ovsdb,
    controller: o.controller,
    log,
    ...(token === undefined ? {} : { token }),
    ...(o.host === undefined ? {} : { host: o.host }),
    ...(o.tunnelIp === undefined ? {} : { tunnelIp: o.tunnelIp }),
    ...(o.pollMs === undefined ? {} : { pollMs: o.pollMs }),
  });
  sync.on('reconciled', (stats) => {
    if (stats.operations > 0 || stats.endpointWrites > 0) log.info(stats, 'vtep in step with the policy');
  });
  await sync.start();
  log.info({ ovsdb: o.ovsdb, controller: o.controller, host: o.host ?? 'vtep' }, 'vtep sync running');
  await new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      log.info({ signal }, 'shutting down');
      sync.stop().then(resolve, resolve);
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  return 0;
}
