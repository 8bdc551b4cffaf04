/**
 * Text forms of addresses, for the control plane, configuration and tests (never the fast path):
 * MACs as 48-bit numbers, IPv4 addresses as uint32 numbers in host order, CIDR prefixes as
 * { addr, len }. Parsers throw an Error whose message names the bad text and the expected form.
 */

/** An IPv4 prefix: network address (uint32) and prefix length 0..32. */
export interface Cidr {
  addr: number;
  len: number;
}

const MAC_RE = /^([0-9a-fA-F]{2})([:-])([0-9a-fA-F]{2})\2([0-9a-fA-F]{2})\2([0-9a-fA-F]{2})\2([0-9a-fA-F]{2})\2([0-9a-fA-F]{2})$/;

/** Parses "02:00:00:00:01:11" (or with '-' separators, any case) to a 48-bit number. */
export function parseMac(text: string): number {
  const m = MAC_RE.exec(text);
  if (m === null) {
    throw new Error(`invalid MAC address ${JSON.stringify(text)}: expected six hex octets like 02:00:00:00:01:11`);
  }
  let v = 0;
  for (const i of [1, 3, 4, 5, 6, 7]) v = v * 256 + parseInt(m[i]!, 16);
  return v;
}

/** Formats a 48-bit MAC number as lower-case "02:00:00:00:01:11". */
export function formatMac(mac: number): string {
  const hex = mac.toString(16).padStart(12, '0');
  return `${hex.slice(0, 2)}:${hex.slice(2, 4)}:${hex.slice(4, 6)}:${hex.slice(6, 8)}:${hex.slice(8, 10)}:${hex.slice(10, 12)}`;
}

const OCTET_RE = /^(0|[1-9][0-9]{0,2})$/;

/** Parses a strict dotted quad ("10.1.1.11": four decimal octets, no leading zeros) to a uint32. */
export function parseIpv4(text: string): number {
  const parts = text.split('.');
  let v = 0;
  let ok = parts.length === 4;
  for (let i = 0; ok && i < 4; i++) {
    const n = OCTET_RE.test(parts[i]!) ? Number(parts[i]) : 256;
    ok = n <= 255;
    v = v * 256 + n;
  }
  if (!ok) throw new Error(`invalid IPv4 address ${JSON.stringify(text)}: expected a dotted quad like 10.1.1.11`);
  return v;
}

/** Formats a uint32 as a dotted quad. */
export function formatIpv4(addr: number): string {
  return `${addr >>> 24}.${(addr >>> 16) & 0xff}.${(addr >>> 8) & 0xff}.${addr & 0xff}`;
}

/** Netmask of prefix length `len` (0..32) as a uint32. */
export function prefixMask(len: number): number {
  return len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
}

/**
 * Parses "10.1.1.0/24" to { addr, len }. Throws when malformed, and when host bits are set
 * ("10.1.1.5/24") unless `allowHostBits` (for an interface address with its prefix), in which
 * case `addr` is the address as written.
 */
export function parseCidr(text: string, allowHostBits = false): Cidr {
  const slash = text.indexOf('/');
  const lenText = slash < 0 ? '' : text.slice(slash + 1);
  if (slash < 0 || !/^(0|[1-9][0-9]?)$/.test(lenText) || Number(lenText) > 32) {
    throw new Error(`invalid CIDR prefix ${JSON.stringify(text)}: expected address/length like 10.1.1.0/24`);
  }
  let addr: number;
  try {
    addr = parseIpv4(text.slice(0, slash));
  } catch {
    throw new Error(`invalid CIDR prefix ${JSON.stringify(text)}: expected address/length like 10.1.1.0/24`);
  }
  const len = Number(lenText);
  const network = (addr & prefixMask(len)) >>> 0;
  if (!allowHostBits && network !== addr) {
    throw new Error(`invalid CIDR prefix ${JSON.stringify(text)}: host bits set (the network is ${formatIpv4(network)}/${len})`);
  }
  return { addr, len };
}

/** Formats { addr, len } as "10.1.1.0/24". */
export function formatCidr(c: Cidr): string {
  return `${formatIpv4(c.addr)}/${c.len}`;
}

/** True when `addr` lies in the prefix `c`. */
export function cidrContains(c: Cidr, addr: number): boolean {
  const m = prefixMask(c.len);
  return ((addr & m) >>> 0) === ((c.addr & m) >>> 0);
}
