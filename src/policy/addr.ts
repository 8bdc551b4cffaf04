/**
 * IPv4, CIDR and MAC text parsing for the policy layer. Kept small and local until a shared
 * `src/wire/addr.ts` exists; addresses are uint32 numbers (host order), MACs lower-case text.
 */

/** Parse a strict dotted quad ("10.1.1.11"; no leading zeros, no spaces) to a uint32. */
export function parseIpv4(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let value = 0;
  for (const part of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part)) return undefined;
    const octet = Number(part);
    if (octet > 255) return undefined;
    value = value * 256 + octet;
  }
  return value;
}

export function formatIpv4(value: number): string {
  return [value >>> 24, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff].join('.');
}

export interface Cidr {
  /** Network address, uint32. */
  network: number;
  prefixLength: number;
}

/** Netmask of a prefix length as a uint32. */
export function maskOf(prefixLength: number): number {
  return prefixLength === 0 ? 0 : (0xffffffff << (32 - prefixLength)) >>> 0;
}

/**
 * Parse "a.b.c.d/len". Returns an error text when malformed or when host bits are set.
 * With `allowBare`, "a.b.c.d" means "/32".
 */
export function parseCidr(text: string, allowBare = false): Cidr | string {
  const slash = text.indexOf('/');
  if (slash < 0) {
    if (!allowBare) return `not a CIDR prefix: ${text}`;
    const address = parseIpv4(text);
    return address === undefined ? `not an address prefix: ${text}` : { network: address, prefixLength: 32 };
  }
  const address = parseIpv4(text.slice(0, slash));
  const lengthText = text.slice(slash + 1);
  if (address === undefined || !/^(0|[1-9][0-9]?)$/.test(lengthText) || Number(lengthText) > 32) {
    return `not a CIDR prefix: ${text}`;
  }
  const prefixLength = Number(lengthText);
  const network = (address & maskOf(prefixLength)) >>> 0;
  if (network !== address) return `host bits set in ${text} (network is ${formatCidr({ network, prefixLength })})`;
  return { network, prefixLength };
}

export function formatCidr(cidr: Cidr): string {
  return `${formatIpv4(cidr.network)}/${cidr.prefixLength}`;
}

/** Last address of the prefix (the broadcast address for a subnet). */
export function lastAddress(cidr: Cidr): number {
  return (cidr.network | ~maskOf(cidr.prefixLength)) >>> 0;
}

export function cidrContainsAddress(cidr: Cidr, address: number): boolean {
  return ((address & maskOf(cidr.prefixLength)) >>> 0) === cidr.network;
}

/** True when `inner` lies wholly inside `outer`. */
export function cidrContains(outer: Cidr, inner: Cidr): boolean {
  return inner.prefixLength >= outer.prefixLength && cidrContainsAddress(outer, inner.network);
}

export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  return cidrContains(a, b) || cidrContains(b, a);
}

/** Normalise "AA-BB-CC-DD-EE-FF" or "aa:bb:cc:dd:ee:ff" to lower case with colons. */
export function normaliseMac(text: string): string | undefined {
  if (!/^[0-9a-fA-F]{2}([:-][0-9a-fA-F]{2}){5}$/.test(text)) return undefined;
  const separator = text[2];
  if (text[5] !== separator || text[8] !== separator || text[11] !== separator || text[14] !== separator) {
    return undefined;
  }
  return text.toLowerCase().replaceAll('-', ':');
}

/** A normalised MAC that is not zero and has the group (multicast/broadcast) bit clear. */
export function isUnicastMac(normalised: string): boolean {
  const firstOctet = parseInt(normalised.slice(0, 2), 16);
  return (firstOctet & 1) === 0 && normalised !== '00:00:00:00:00:00';
}

/** "a.b.c.d/len" with host bits (an interface's address, e.g. 172.30.0.1/24), or an error text. */
export function parseInterfaceAddress(text: string): { address: number; prefix: Cidr } | string {
  const slash = text.indexOf('/');
  const address = slash < 0 ? undefined : parseIpv4(text.slice(0, slash));
  const lengthText = slash < 0 ? '' : text.slice(slash + 1);
  if (address === undefined || !/^(0|[1-9][0-9]?)$/.test(lengthText) || Number(lengthText) > 32) return `not an address with prefix length: ${text} (e.g. 172.30.0.1/24)`;
  const prefixLength = Number(lengthText);
  return { address, prefix: { network: (address & maskOf(prefixLength)) >>> 0, prefixLength } };
}
