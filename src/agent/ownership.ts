/**
 * What this agent made on the host: the tenant namespaces it created (netnsMode create) and the
 * TAPs it opened. The agent touches only what it made; this record lets it tell, after a crash
 * and restart, its own leftovers from namespaces of others of the same name.
 *
 * One file per agent process, `<stateDir>/owned-<pid>.json` (default stateDir
 * /run/switchyard/<host>/: gone after a reboot, as are the namespaces), rewritten safely
 * (safe-file.ts) after each change. At start an agent reads the files of its state directory:
 * a file whose process is gone is a crashed agent of this host, and the namespaces it lists that
 * still exist are removed (a namespace is recorded only after `ip netns add` succeeded, so a listed
 * one was made by that agent); files of live processes belong to another running agent and are
 * left alone. TAPs are listed for the record only: a TAP the agent opens is not persistent and
 * goes away with the process that held it.
 */
import { mkdir, readdir, readFile, unlink } from 'node:fs/promises';
import path from 'node:path';
import { netnsDelete, netnsExists } from '../io/netdev.js';
import { checkPrivateDir, writeFileSafely } from './safe-file.js';
import type { Logger } from './logger.js';

export const DEFAULT_STATE_DIR = '/run/switchyard';

export function defaultStateDir(host: string): string {
  return path.join(DEFAULT_STATE_DIR, host);
}

interface OwnedFile {
  pid: number;
  namespaces: string[];
  taps: string[];
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function parseOwned(text: string): OwnedFile | undefined {
  try {
    const v = JSON.parse(text) as Partial<OwnedFile>;
    const names = (x: unknown): x is string[] => Array.isArray(x) && x.every((s) => typeof s === 'string' && /^[A-Za-z0-9_][A-Za-z0-9._-]{0,62}$/.test(s));
    if (typeof v.pid !== 'number' || !Number.isInteger(v.pid) || !names(v.namespaces) || !names(v.taps)) return undefined;
    return { pid: v.pid, namespaces: v.namespaces, taps: v.taps };
  } catch {
    return undefined;
  }
}

export class Ownership {
  private readonly namespaces = new Set<string>();
  private readonly taps = new Set<string>();
  private readonly file: string;
  private writing: Promise<void> = Promise.resolve();

  private constructor(
    readonly dir: string,
    private readonly log: Logger,
  ) {
    this.file = path.join(dir, `owned-${process.pid}.json`);
  }

  /** Opens the state directory (private: safe-file.ts) and removes what crashed agents of this host left. */
  static async open(dir: string, log: Logger): Promise<Ownership> {
    const o = new Ownership(dir, log);
    // the parent (/run/switchyard) also holds the control socket: made traversable, not 0700
    await mkdir(path.dirname(dir), { recursive: true, mode: 0o755 });
    await checkPrivateDir(dir);
    for (const name of await readdir(dir)) {
      const m = /^owned-(\d+)\.json$/.exec(name);
      if (!m || Number(m[1]) === process.pid) continue;
      const file = path.join(dir, name);
      const owned = parseOwned(await readFile(file, 'utf8').catch(() => ''));
      if (owned === undefined) {
        log.warn({ file }, 'unreadable ownership record ignored');
        continue;
      }
      if (processAlive(owned.pid)) continue; // another agent of this host, running: its things are its own
      for (const ns of owned.namespaces) {
        if (!(await netnsExists(ns))) continue;
        await netnsDelete(ns, true).then(
          () => log.warn({ netns: ns, pid: owned.pid }, 'removed a tenant namespace left by a previous agent of this host'),
          (err: Error) => log.error({ netns: ns, err: err.message }, 'could not remove a leftover tenant namespace'),
        );
      }
      await unlink(file).catch(() => undefined);
    }
    await o.save();
    return o;
  }

  ownsNamespace(ns: string): boolean {
    return this.namespaces.has(ns);
  }

  async addNamespace(ns: string): Promise<void> {
    this.namespaces.add(ns);
    await this.save();
  }

  async dropNamespace(ns: string): Promise<void> {
    if (this.namespaces.delete(ns)) await this.save();
  }

  async addTap(ifname: string): Promise<void> {
    this.taps.add(ifname);
    await this.save();
  }

  async dropTap(ifname: string): Promise<void> {
    if (this.taps.delete(ifname)) await this.save();
  }

  /** The record of this process is removed once everything in it is gone (clean stop). */
  async close(): Promise<void> {
    await this.writing;
    if (this.namespaces.size || this.taps.size) {
      this.log.warn({ namespaces: [...this.namespaces], taps: [...this.taps] }, 'stopping with things still recorded as ours');
      return;
    }
    await unlink(this.file).catch(() => undefined);
  }

  /** Writes are serialised so the file always holds the latest set. */
  private save(): Promise<void> {
    const body = (): string => JSON.stringify({ pid: process.pid, namespaces: [...this.namespaces].sort(), taps: [...this.taps].sort() } satisfies OwnedFile);
    this.writing = this.writing.then(() => writeFileSafely(this.file, body()));
    return this.writing;
  }
}
