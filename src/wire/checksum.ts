/**
 * The Internet checksum (RFC 1071) in pure JS, and its incremental update (RFC 1624).
 *
 * `onesSum` adds 16-bit big-endian words of a range to a running sum and returns it folded to
 * 16 bits, so sums chain: `onesSum(b, o2, n2, onesSum(b, o1, n1, 0))`. Only the last range of a
 * chain may have odd length (its last byte is padded with zero, as RFC 1071 says). `finish` turns
 * a sum into the value stored in a header. A native bulk version lives in src/io; wire stays pure.
 */

/** Folds a sum of 16-bit words (any non-negative integer below 2^53) to 16 bits with end-around carry. */
export function fold(sum: number): number {
  while (sum > 0xffff) sum = (sum % 0x10000) + Math.floor(sum / 0x10000);
  return sum;
}

/** Adds the 16-bit big-endian words of `b[off..off+len)` to `sum`; returns the folded sum. */
export function onesSum(b: Uint8Array, off: number, len: number, sum = 0): number {
  let s = sum;
  const end = off + (len & ~1);
  for (let i = off; i < end; i += 2) s += (b[i] << 8) | b[i + 1];
  if (len & 1) s += b[end] << 8;
  return fold(s);
}

/** The checksum field value for a folded (or unfolded) sum: its ones' complement. */
export function finish(sum: number): number {
  return ~fold(sum) & 0xffff;
}

/** The checksum of `b[off..off+len)` as stored in a header (0 when the range sums to 0xffff). */
export function checksum(b: Uint8Array, off: number, len: number): number {
  return finish(onesSum(b, off, len, 0));
}

/**
 * RFC 1624 eqn. 3: the new checksum after one 16-bit word covered by `check` changes from
 * `oldWord` to `newWord`: HC' = ~(~HC + ~m + m').
 */
export function csumUpdate16(check: number, oldWord: number, newWord: number): number {
  let s = (~check & 0xffff) + (~oldWord & 0xffff) + (newWord & 0xffff);
  s = (s & 0xffff) + (s >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

/** As csumUpdate16 for a 32-bit field (an IPv4 address or TCP sequence number). */
export function csumUpdate32(check: number, oldValue: number, newValue: number): number {
  let s =
    (~check & 0xffff) +
    (~(oldValue >>> 16) & 0xffff) +
    (~oldValue & 0xffff) +
    ((newValue >>> 16) & 0xffff) +
    (newValue & 0xffff);
  s = (s & 0xffff) + (s >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

/**
 * Sum of the IPv4 pseudo-header (RFC 768/793) of the IPv4 header at `ipOff`: source, destination,
 * protocol `proto` and upper-layer length `l4Len`. Folded; chain it into onesSum.
 */
export function pseudoSumIpv4(b: Uint8Array, ipOff: number, proto: number, l4Len: number): number {
  return onesSum(b, ipOff + 12, 8, proto + l4Len);
}

/**
 * Sum of the IPv6 pseudo-header (RFC 8200 8.1) of the IPv6 header at `ipOff`: source,
 * destination, upper-layer length `l4Len` (32 bits) and next header `nextHeader`. Folded.
 */
export function pseudoSumIpv6(b: Uint8Array, ipOff: number, nextHeader: number, l4Len: number): number {
  return onesSum(b, ipOff + 8, 32, nextHeader + (l4Len >>> 16) + (l4Len & 0xffff));
}
