/**
 * IPv6 addresses in text and as 16 bytes, for the control plane and the ND/RA builders (never
 * the per-frame path): strict parsing of the RFC 4291 text forms (no embedded IPv4, no zone),
 * RFC 5952 formatting, prefixes, the EUI-64 link-local address of a MAC (RFC 4291 appendix A)
 * and the solicited-node multicast group of an address (RFC 4291 2.7.1).
 */
import { readU16, readU32, writeU16 } from './bytes.js';

const HEXTET_RE = /^[0-9a-fA-F]{1,4}$/;

/** Parses "fd00:1:1::11" to 16 bytes; undefined when it is not an IPv6 address. */
export function parseIpv6(text: string): Uint8Array | undefined {
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const hextets = (s: string): number[] | undefined => {
    if (s === '') return [];
    const out: number[] = [];
    for (const h of s.split(':')) {
      if (!HEXTET_RE.test(h)) return undefined;
      out.push(parseInt(h, 16));
    }
    return out;
  };
  const head = hextets(halves[0]!);
  const tail = halves.length === 2 ? hextets(halves[1]!) : [];
  if (head === undefined || tail === undefined) return undefined;
  const fill = 8 - head.length - tail.length;
  if (halves.length === 1 ? fill !== 0 : fill < 1) return undefined;
  const all = [...head, ...new Array<number>(halves.length === 2 ? fill : 0).fill(0), ...tail];
  const out = new Uint8Array(16);
  all.forEach((w, i) => writeU16(out, i * 2, w));
  return out;
}

/** Formats 16 bytes (at `off`) as RFC 5952 text: lower case, longest zero run (>= 2) as "::". */
export function formatIpv6(b: Uint8Array, off = 0): string {
  const w: number[] = [];
  for (let i = 0; i < 8; i++) w.push(readU16(b, off + i * 2));
  let bestAt = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (w[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > bestLen) {
      bestAt = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (a: number[]): string => a.map((x) => x.toString(16)).join(':');
  if (bestAt < 0) return hex(w);
  return `${hex(w.slice(0, bestAt))}::${hex(w.slice(bestAt + bestLen))}`;
}

/** An IPv6 prefix: the network (16 bytes, host bits zero) and its length 0..128. */
export interface Cidr6 {
  net: Uint8Array;
  len: number;
}

/** Parses "fd00:1::/48"; an error text when malformed or when host bits are set. With
 * `allowBare`, an address without "/len" is a /128. */
export function parseCidr6(text: string, allowBare = false): Cidr6 | string {
  const slash = text.indexOf('/');
  if (slash < 0 && !allowBare) return `not an IPv6 prefix: ${text}`;
  const a = parseIpv6(slash < 0 ? text : text.slice(0, slash));
  const lenText = slash < 0 ? '128' : text.slice(slash + 1);
  if (a === undefined || !/^(0|[1-9][0-9]{0,2})$/.test(lenText) || Number(lenText) > 128) return `not an IPv6 prefix: ${text}`;
  const len = Number(lenText);
  const net = maskBytes(a, len);
  for (let i = 0; i < 16; i++) if (net[i] !== a[i]) return `host bits set in ${text} (network is ${formatIpv6(net)}/${len})`;
  return { net, len };
}

/** `a` with every bit past the first `len` cleared (a new array). */
export function maskBytes(a: Uint8Array, len: number): Uint8Array {
  const out = new Uint8Array(16);
  for (let i = 0; i < 16; i++) {
    const bits = Math.max(0, Math.min(8, len - i * 8));
    out[i] = a[i]! & ((0xff00 >>> bits) & 0xff);
  }
  return out;
}

/** True when address `a` lies in prefix `c`. */
export function cidr6Contains(c: Cidr6, a: Uint8Array): boolean {
  const m = maskBytes(a, c.len);
  for (let i = 0; i < 16; i++) if (m[i] !== c.net[i]) return false;
  return true;
}

/** True when the two prefixes overlap (one contains the other). */
export function cidr6Overlap(a: Cidr6, b: Cidr6): boolean {
  return a.len <= b.len ? cidr6Contains(a, b.net) : cidr6Contains(b, a.net);
}

/** The link-local address fe80::/64 + the modified EUI-64 interface id of a 48-bit MAC. */
export function eui64LinkLocal(mac: number): Uint8Array {
  const out = new Uint8Array(16);
  out[0] = 0xfe;
  out[1] = 0x80;
  const m = mac.toString(16).padStart(12, '0');
  const o = [0, 1, 2, 3, 4, 5].map((i) => parseInt(m.slice(i * 2, i * 2 + 2), 16));
  out[8] = o[0]! ^ 0x02;
  out[9] = o[1]!;
  out[10] = o[2]!;
  out[11] = 0xff;
  out[12] = 0xfe;
  out[13] = o[3]!;
  out[14] = o[4]!;
  out[15] = o[5]!;
  return out;
}

/** The solicited-node multicast group ff02::1:ffXX:XXXX of address `a`. */
export function solicitedNode(a: Uint8Array): Uint8Array {
  const out = new Uint8Array(16);
  out[0] = 0xff;
  out[1] = 0x02;
  out[11] = 0x01;
  out[12] = 0xff;
  out[13] = a[13]!;
  out[14] = a[14]!;
  out[15] = a[15]!;
  return out;
}

/** The multicast MAC 33:33:xx:xx:xx:xx of IPv6 group `a` (RFC 2464 7). */
export function multicastMac(a: Uint8Array): number {
  return 0x3333 * 0x100000000 + readU32(a, 12);
}

/** The address as four big-endian uint32 words (for tables keyed by numbers). */
export function words6(a: Uint8Array, off = 0): [number, number, number, number] {
  return [readU32(a, off), readU32(a, off + 4), readU32(a, off + 8), readU32(a, off + 12)];
}
