/**
 * The record of a standing lab (`switchyard lab up`): what it made and where its agents live,
 * kept in /run/switchyard/lab/<name>/state.json (tmpfs: gone after a reboot, as are the
 * namespaces). `lab up` writes the record before it makes anything and adds to it as it goes, so
 * `lab down` removes exactly what was made, also when `up` was interrupted or the agents crashed.
 */
import fs from 'node:fs';
import path from 'node:path';

export const LAB_ROOT = '/run/switchyard/lab';
/** The lab that `lab up` makes when no --name (or SWITCHYARD_LAB) is given. */
export const DEFAULT_LAB = 'sylab';

export interface LabDaemon {
  pid: number;
  /** Namespace it runs in. */
  ns: string;
  log: string;
}

export interface LabAgentRecord extends LabDaemon {
  host: string;
  pa: string;
  socket: string;
}

export interface LabTenantRecord {
  nic: string;
  ns: string;
  ip: string;
  host: string;
  virtualNetwork: string;
}

export interface LabState {
  name: string;
  createdAt: string;
  /** Every namespace `up` made (or was about to make), router and hosts first. */
  namespaces: string[];
  policyFile: string;
  /** Where the policy came from: a file the user gave, or the embedded Figure 8. */
  policySource: string;
  router: string;
  agents: LabAgentRecord[];
  tenants: LabTenantRecord[];
  controller?: LabDaemon & { url: string; tokenFile: string };
  /** Set when `up` finished. */
  complete: boolean;
}

/** Lab names become namespace prefixes: short, lower case, no separators. */
export function checkLabName(name: string): string {
  if (!/^[a-z][a-z0-9]{0,11}$/.test(name)) throw new Error(`lab name ${JSON.stringify(name)}: 1-12 lower-case letters and digits, starting with a letter`);
  return name;
}

/** The lab named by --name, else $SWITCHYARD_LAB, else the default. */
export function labName(given?: string): string {
  return checkLabName(given ?? process.env.SWITCHYARD_LAB ?? DEFAULT_LAB);
}

export function labDir(name: string, root = LAB_ROOT): string {
  return path.join(root, name);
}

export function labStateFile(name: string, root = LAB_ROOT): string {
  return path.join(labDir(name, root), 'state.json');
}

/** A lab's control socket for `host` (what `ctl --host` finds while the lab stands). */
export function labSocket(name: string, host: string, root = LAB_ROOT): string {
  return path.join(labDir(name, root), `${host}.sock`);
}

export function readLabState(name: string, root = LAB_ROOT): LabState | undefined {
  let text: string;
  try {
    text = fs.readFileSync(labStateFile(name, root), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    return JSON.parse(text) as LabState;
  } catch (err) {
    throw new Error(`${labStateFile(name, root)}: not a lab record (${(err as Error).message}); remove the directory by hand`, { cause: err });
  }
}

/** Written to a temp file and renamed, so a crash never leaves half a record. */
export function writeLabState(s: LabState, root = LAB_ROOT): void {
  const f = labStateFile(s.name, root);
  fs.mkdirSync(path.dirname(f), { recursive: true, mode: 0o755 });
  const tmp = `${f}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify(s, null, 2)}\n`, { mode: 0o644 });
  fs.renameSync(tmp, f);
}

/** Names of the labs that have a record. */
export function listLabs(root = LAB_ROOT): string[] {
  try {
    return fs.readdirSync(root).filter((d) => fs.existsSync(labStateFile(d, root)));
  } catch {
    return [];
  }
}
