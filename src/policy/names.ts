/**
 * Names: object names (hosts, networks, interfaces, ACLs, namespaces), Linux interface names, and
 * the TAP name derived for an interface that has none.
 */
import type { NetworkInterface } from './types.js';

/** Object names: usable in a URL path, a CLI argument and a netns file name. */
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/** Error text for an invalid object name, or undefined when valid. */
export function nameProblem(name: string): string | undefined {
  if (name.length === 0) return 'empty name';
  if (name.length > 63) return `name ${name} longer than 63 characters`;
  if (!NAME_RE.test(name)) return `invalid name ${JSON.stringify(name)} (letters, digits, '.', '_', '-')`;
  return undefined;
}

export const IFNAME_MAX = 15;

/**
 * Error text for an interface name the agent will not use, or undefined. Stricter than the
 * kernel's dev_valid_name: the name reaches `ip` as an argument and TUNSETIFF as a name, so no
 * leading '-' (an option to `ip`), no '%' (TUNSETIFF takes "tap%d" as a pattern and picks a name
 * of its own), nothing outside letters, digits, '_', '.' and '-'.
 */
export function ifnameProblem(ifname: string): string | undefined {
  if (ifname.length === 0) return 'empty ifname';
  if (ifname.length > IFNAME_MAX) return `ifname ${ifname} longer than ${IFNAME_MAX} characters`;
  if (/[/:\s]/.test(ifname)) return `invalid ifname ${JSON.stringify(ifname)} (no '/', ':' or whitespace)`;
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(ifname)) {
    return `invalid ifname ${JSON.stringify(ifname)} (letters, digits, '_', '.', '-'; not starting with '.' or '-')`;
  }
  return undefined;
}

/**
 * Error text for a network namespace name the agent will not use, or undefined: an object name
 * (a file name under /run/netns) that is not all digits (`ip` may take those as a process id).
 */
export function netnsProblem(ns: string): string | undefined {
  const problem = nameProblem(ns);
  if (problem !== undefined) return problem;
  if (/^[0-9]+$/.test(ns)) return `invalid netns name ${ns} (all digits: \`ip\` can take it for a process id)`;
  return undefined;
}

const PREFIX = 'sy-';

/** 32-bit FNV-1a of the UTF-16 code units. */
function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}

/**
 * The TAP device name of an interface: its explicit `ifname`, else "sy-" + the name with
 * characters outside [A-Za-z0-9._-] replaced by '-'. When that is too long or was changed, it
 * becomes "sy-" + the first 7 characters + 5 hex digits of a hash of the full name (15 in all).
 */
export function deriveIfname(nic: Pick<NetworkInterface, 'name' | 'ifname'>): string {
  if (nic.ifname !== undefined) return nic.ifname;
  const sanitised = nic.name.replace(/[^A-Za-z0-9._-]/g, '-');
  const plain = PREFIX + sanitised;
  if (sanitised === nic.name && plain.length <= IFNAME_MAX) return plain;
  const hash = fnv1a(nic.name).toString(16).padStart(8, '0').slice(0, 5);
  return PREFIX + sanitised.slice(0, IFNAME_MAX - PREFIX.length - hash.length) + hash;
}
