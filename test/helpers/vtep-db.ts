/**
 * A throwaway ovsdb-server serving the hardware_vtep schema (Debian openvswitch-vtep) on a unix
 * socket in a temp dir; `stop()` kills the server this helper started (by pid) and removes the dir.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export const VTEP_SCHEMA = '/usr/share/openvswitch/vtep.ovsschema';
export const haveVtepDb = existsSync(VTEP_SCHEMA) && spawnSync('ovsdb-server', ['--version'], { stdio: 'ignore' }).status === 0;

export interface VtepDb {
  dir: string;
  /** `unix:PATH` of the server. */
  target: string;
  stop(): Promise<void>;
}

export async function startVtepDb(): Promise<VtepDb> {
  const dir = mkdtempSync(path.join(tmpdir(), 'switchyard-vtepdb-'));
  const db = path.join(dir, 'vtep.db');
  const sock = path.join(dir, 'db.sock');
  const created = spawnSync('ovsdb-tool', ['create', db, VTEP_SCHEMA], { encoding: 'utf8' });
  if (created.status !== 0) throw new Error(`ovsdb-tool create: ${created.stderr}`);
  const child = spawn('ovsdb-server', [`--remote=punix:${sock}`, `--unixctl=${path.join(dir, 'ctl')}`, '--no-chdir', `--log-file=${path.join(dir, 'ovsdb.log')}`, db], { stdio: 'ignore' });
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 10_000;
  while (!existsSync(sock)) {
    if (Date.now() > deadline || child.exitCode !== null) {
      await stop();
      throw new Error('ovsdb-server did not start');
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return { dir, target: `unix:${sock}`, stop };
}
