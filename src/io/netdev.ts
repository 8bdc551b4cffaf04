/**
 * Device configuration through iproute2 (`ip`), for the agent and the tests: move a TAP into a
 * tenant namespace, give it an address, MAC, MTU and a default route, delete it.
 *
 * Configuration is rare and not on the forwarding path, so this runs `ip` with execFile (no
 * shell: names are passed as arguments, never interpolated) rather than speaking rtnetlink
 * ourselves; `ip` also gives better error messages than raw netlink. `ns` undefined means the
 * current namespace; otherwise `ip -n NS` runs the command inside namespace NS. Errors are
 * NetdevError with the command line, ip's own message, and a `.code` (ENODEV, EEXIST, EPERM,
 * ENOENT, EIP for anything else) so callers can tell "already there" from "failed".
 */
import { execFile } from 'node:child_process';

export class NetdevError extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly command: string[],
    readonly stderr: string,
  ) {
    super(message);
    this.name = 'NetdevError';
  }
}

/** Maps ip's stderr to an errno-like code. */
function codeOf(stderr: string): string {
  if (/Cannot find device|does not exist|No such device/i.test(stderr)) return 'ENODEV';
  if (/File exists|already exists|same name exists/i.test(stderr)) return 'EEXIST';
  if (/Operation not permitted|Permission denied/i.test(stderr)) return 'EPERM';
  if (/No such file or directory|Cannot open network namespace/i.test(stderr)) return 'ENOENT';
  if (/Invalid argument|invalid|Error: argument/i.test(stderr)) return 'EINVAL';
  return 'EIP';
}

/** Runs `ip [-n ns] ...args`; resolves with stdout. */
export function ip(args: string[], ns?: string): Promise<string> {
  const argv = ns === undefined ? args : ['-n', ns, ...args];
  return new Promise((resolve, reject) => {
    execFile('ip', argv, { timeout: 15_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (!err) {
        resolve(stdout);
        return;
      }
      const e = err as NodeJS.ErrnoException;
      const text = String(stderr).trim() || e.message;
      const code = e.code === 'ENOENT' && !stderr ? 'ENOENT' : codeOf(text);
      const what = e.code === 'ENOENT' && !stderr ? 'iproute2 (`ip`) is not installed' : text;
      reject(new NetdevError(`ip ${argv.join(' ')}: ${what}`, code, argv, String(stderr)));
    });
  });
}

/** Moves `dev` from namespace `fromNs` (undefined: the current one) into namespace `ns`. */
export async function linkSetNetns(dev: string, ns: string, fromNs?: string): Promise<void> {
  await ip(['link', 'set', 'dev', dev, 'netns', ns], fromNs);
}

/** Adds an address in CIDR form ("10.0.0.5/24") to `dev`. */
export async function addrAdd(dev: string, cidr: string, ns?: string): Promise<void> {
  await ip(['addr', 'add', cidr, 'dev', dev], ns);
}

export async function linkSetMac(dev: string, mac: string, ns?: string): Promise<void> {
  await ip(['link', 'set', 'dev', dev, 'address', mac], ns);
}

export async function linkSetMtu(dev: string, mtu: number, ns?: string): Promise<void> {
  await ip(['link', 'set', 'dev', dev, 'mtu', String(mtu)], ns);
}

export async function linkSetUp(dev: string, ns?: string): Promise<void> {
  await ip(['link', 'set', 'dev', dev, 'up'], ns);
}

export async function linkSetDown(dev: string, ns?: string): Promise<void> {
  await ip(['link', 'set', 'dev', dev, 'down'], ns);
}

/** MAC, MTU and up in one call (each optional). */
export async function linkConfigure(dev: string, opts: { mac?: string; mtu?: number; up?: boolean }, ns?: string): Promise<void> {
  const args = ['link', 'set', 'dev', dev];
  if (opts.mac !== undefined) args.push('address', opts.mac);
  if (opts.mtu !== undefined) args.push('mtu', String(opts.mtu));
  if (opts.up !== undefined) args.push(opts.up ? 'up' : 'down');
  if (args.length > 4) await ip(args, ns);
}

/** Adds the default route via `gateway`, optionally pinned to `dev`; never replaces one (EEXIST). */
export async function routeAddDefault(gateway: string, dev?: string, ns?: string): Promise<void> {
  const args = ['route', 'add', 'default', 'via', gateway];
  if (dev !== undefined) args.push('dev', dev);
  await ip(args, ns);
}

/** Deletes exactly the default route via `gateway` on `dev` (no other default route matches). */
export async function routeDelDefault(gateway: string, dev: string, ns?: string): Promise<void> {
  await ip(['route', 'del', 'default', 'via', gateway, 'dev', dev], ns);
}

/** Deletes `dev`; with `ifExists`, a missing device is not an error. */
export async function linkDelete(dev: string, ns?: string, ifExists = false): Promise<void> {
  try {
    await ip(['link', 'del', 'dev', dev], ns);
  } catch (e) {
    if (ifExists && e instanceof NetdevError && (e.code === 'ENODEV' || e.code === 'ENOENT')) return;
    throw e;
  }
}

interface IpLink {
  ifname: string;
  mtu: number;
  address?: string;
  operstate?: string;
  flags?: string[];
  addr_info?: { family: string; local: string; prefixlen: number }[];
}

/** True when `dev` exists (in `ns`). A missing namespace is an error. */
export async function linkExists(dev: string, ns?: string): Promise<boolean> {
  try {
    await ip(['link', 'show', 'dev', dev], ns);
    return true;
  } catch (e) {
    if (e instanceof NetdevError && e.code === 'ENODEV') return false;
    throw e;
  }
}

/** `ip -j link show dev` as an object. */
export async function linkShow(dev: string, ns?: string): Promise<IpLink> {
  const links = JSON.parse(await ip(['-j', 'link', 'show', 'dev', dev], ns)) as IpLink[];
  if (!links.length) throw new NetdevError(`ip link show dev ${dev}: no such device`, 'ENODEV', [], '');
  return links[0];
}

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

/** The MTU of `devOrAddress`: a device name, or an IPv4 address configured on some device. */
export async function getMtu(devOrAddress: string, ns?: string): Promise<number> {
  if (!IPV4.test(devOrAddress)) return (await linkShow(devOrAddress, ns)).mtu;
  const links = JSON.parse(await ip(['-j', 'addr', 'show'], ns)) as IpLink[];
  const link = links.find((l) => (l.addr_info ?? []).some((a) => a.family === 'inet' && a.local === devOrAddress));
  if (!link) {
    throw new NetdevError(`getMtu: address ${devOrAddress} is not configured on any interface${ns ? ` in netns ${ns}` : ''}`, 'EADDRNOTAVAIL', [], '');
  }
  return link.mtu;
}

/** Creates network namespace `ns`. */
export async function netnsAdd(ns: string): Promise<void> {
  await ip(['netns', 'add', ns]);
}

/** Deletes network namespace `ns` (its devices go with it); with `ifExists` a missing one is fine. */
export async function netnsDelete(ns: string, ifExists = false): Promise<void> {
  try {
    await ip(['netns', 'del', ns]);
  } catch (e) {
    if (ifExists && e instanceof NetdevError && e.code === 'ENOENT') return;
    throw e;
  }
}

export async function netnsExists(ns: string): Promise<boolean> {
  const out = await ip(['netns', 'list']);
  return out.split('\n').some((l) => l.split(' ')[0] === ns);
}
