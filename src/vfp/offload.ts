/**
 * Segmentation and coalescing offloads in TypeScript (the work a NIC's TSO and LRO/GRO do), pure
 * over bytes at offsets; the one bulk primitive, a ones-complement sum, is passed in (`SumFn`:
 * the native addon's in the dataplane, wire/checksum's onesSum in tests).
 *
 * Egress: a TAP with TSO hands over TCP super-frames (up to 64 KB, virtio-net gso_type TCPV4/V6,
 * gso_size = MSS). `segmentFrame` cuts one into MSS-sized frames IN PLACE, from the last segment
 * to the first, each with its own copy of the headers: segment i lands at
 * `F - pre + i * stride` (stride = pre + headers + MSS), where `pre` bytes of encapsulation the
 * caller pushed in front of the super-frame (VXLAN, UDP+VXLAN, or NVGRE) are copied too. Because
 * every segment moves forward by i * (pre + headers) bytes and the moves go last-first, no
 * payload byte is overwritten before it is moved. The result is exactly the buffer UDP GSO
 * (UDP_SEGMENT) wants: equal-sized datagram payloads back to back. Each segment gets a correct
 * IPv4 total length, ID (+i) and header checksum, TCP sequence number, flags (FIN/PSH only on
 * the last, CWR only on the first) and a full TCP checksum (USO: UDP length and checksum).
 *
 * Ingress: UDP GRO hands over runs of datagrams of one outer 4-tuple, each `g` bytes
 * (VXLAN + inner frame). `coalesceTcp` checks that they are consecutive segments of one TCP flow
 * with identical headers (the rules of the kernel's tcp_gro_receive: same addresses, ports, ACK,
 * window, options; only ACK, PSH on the last) and that every segment's IPv4 and TCP checksums are
 * right, then moves the payloads together behind the first segment's headers and describes the
 * result for a virtio-net header (GSO_TCPV4, NEEDS_CSUM, the TCP checksum field holding the
 * pseudo-header sum). Anything else returns false and the caller delivers the segments one by one.
 */
import { readU16, readU32, writeU16, writeU32 } from '../wire/bytes.js';
import { VNET_GSO_TCPV4, VNET_GSO_TCPV6, VNET_GSO_UDP_L4 } from '../wire/vnethdr.js';

/** fold(sum of the big-endian 16-bit words of b[off, off+len) + initial), not complemented. */
export type SumFn = (b: Uint8Array, off: number, len: number, initial: number) => number;

/** out[k] = fold(sum of b[first + k*stride, + (k < count-1 ? chunkLen : lastLen))), k < count: the
 * per-segment sums of a whole super-frame or GRO buffer in one call (the native addon's sumChunks;
 * one N-API call per frame instead of one per segment). */
export type ChunkSumFn = (b: Uint8Array, first: number, stride: number, chunkLen: number, count: number, lastLen: number, out: Uint32Array) => void;

/** segmentFrame without the sums passed in: the TypeScript below bound to its sums, or the native
 * addon's segmentFrame (the same bytes in one call). */
export type SegmentFn = (b: Uint8Array, F: number, len: number, gsoType: number, mss: number, pre: number, lenField: number, limit: number, out: SegResult) => boolean;

/** A ChunkSumFn made of one SumFn call per chunk (tests, or no addon). */
export function chunkSumOf(sum: SumFn): ChunkSumFn {
  return (b, first, stride, chunkLen, count, lastLen, out) => {
    for (let k = 0; k < count; k++) out[k] = sum(b, first + k * stride, k < count - 1 ? chunkLen : lastLen, 0);
  };
}

/** Per-segment sums, reused (grown for a small MSS). */
let chunkSums = new Uint32Array(256);
function sumsFor(n: number): Uint32Array {
  if (chunkSums.length < n) chunkSums = new Uint32Array(n * 2);
  return chunkSums;
}

/** Unfolded sum of the big-endian 16-bit words of b[off, off+len), len even (headers: a few words). */
export function sumWords(b: Uint8Array, off: number, len: number): number {
  let s = 0;
  for (let i = 0; i < len; i += 2) s += (b[off + i] << 8) | b[off + i + 1];
  return s;
}

const ETH_IPV4 = 0x0800;
const ETH_IPV6 = 0x86dd;
const TCP_FIN = 0x01;
const TCP_PSH = 0x08;
const TCP_ACK = 0x10;
const TCP_CWR = 0x80;

export function fold(s: number): number {
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return s;
}

/** IPv4 header checksum of `ihl` bytes at `l3`, written in place. */
export function ipv4HeaderChecksum(b: Uint8Array, l3: number, ihl: number): void {
  b[l3 + 10] = 0;
  b[l3 + 11] = 0;
  let s = 0;
  for (let i = 0; i < ihl; i += 2) s += (b[l3 + i] << 8) | b[l3 + i + 1];
  writeU16(b, l3 + 10, ~fold(s) & 0xffff);
}

export function pseudo4(b: Uint8Array, l3: number, proto: number, l4len: number): number {
  return readU16(b, l3 + 12) + readU16(b, l3 + 14) + readU16(b, l3 + 16) + readU16(b, l3 + 18) + proto + l4len;
}

function pseudo6(b: Uint8Array, l3: number, proto: number, l4len: number): number {
  let s = proto + l4len;
  for (let i = 8; i < 40; i += 2) s += readU16(b, l3 + i);
  return s;
}

/**
 * Completes a partial checksum (virtio-net NEEDS_CSUM, CHECKSUM_PARTIAL): the field at
 * csumStart + csumOffset holds the pseudo-header sum; the sum from csumStart to the end of the
 * frame, complemented, goes there. False when the offsets fall outside the frame.
 */
export function finishPartialChecksum(b: Uint8Array, frame: number, len: number, csumStart: number, csumOffset: number, sum: SumFn): boolean {
  if (csumStart < 14 || csumStart + csumOffset + 2 > len) return false;
  const s = frame + csumStart;
  let c = ~sum(b, s, len - csumStart, 0) & 0xffff;
  if (c === 0 && csumOffset === 6) c = 0xffff; // UDP: 0 means "no checksum"
  writeU16(b, s + csumOffset, c);
  return true;
}

/** What segmentFrame produced. */
export class SegResult {
  /** Segments written. */
  n = 0;
  /** Bytes from one segment's start (its `pre` bytes) to the next's. */
  stride = 0;
  /** Length of the last segment, `pre` included (the others are `stride`). */
  lastLen = 0;
  /** Ethernet + IP + TCP/UDP header bytes of each segment. */
  hdrLen = 0;
}

/**
 * Segments the super-frame b[F, F+len) (see the module comment). `gsoType` is the virtio-net
 * gso_type (ECN bit ignored), `mss` its gso_size; `pre` bytes in front of F are replicated in
 * front of every segment, and when `lenField >= 0` the 16-bit big-endian field at that offset
 * within them gets the whole segment's length, prefix included (a UDP+VXLAN prefix: lenField 4). Segments must end by `limit`. Returns false
 * (nothing moved) for anything it cannot segment.
 */
export function segmentFrame(
  b: Uint8Array, F: number, len: number, gsoType: number, mss: number, pre: number, lenField: number, limit: number, sum: SumFn, out: SegResult,
  chunks: ChunkSumFn = chunkSumOf(sum),
): boolean {
  const type = gsoType & 0x7f;
  if (mss <= 0 || len < 14 + 20 + 8) return false;
  const et = readU16(b, F + 12);
  const l3 = F + 14;
  let ihl: number;
  let proto: number;
  const v4 = type === VNET_GSO_TCPV4 || (type === VNET_GSO_UDP_L4 && et === ETH_IPV4);
  if (v4) {
    if (et !== ETH_IPV4 || b[l3] >>> 4 !== 4) return false;
    ihl = (b[l3] & 0x0f) << 2;
    proto = b[l3 + 9];
    if (ihl < 20 || (readU16(b, l3 + 6) & 0x3fff) !== 0) return false; // MF or an offset: a fragment
  } else if (type === VNET_GSO_TCPV6 || type === VNET_GSO_UDP_L4) {
    if (et !== ETH_IPV6 || b[l3] >>> 4 !== 6) return false;
    ihl = 40;
    proto = b[l3 + 6]; // extension headers are not segmented here
  } else return false;
  const tcp = type !== VNET_GSO_UDP_L4;
  if (proto !== (tcp ? 6 : 17)) return false;
  const l4 = l3 + ihl;
  if (l4 + (tcp ? 20 : 8) > F + len) return false;
  const thl = tcp ? (b[l4 + 12] >>> 4) << 2 : 8;
  const H = 14 + ihl + thl;
  if (thl < (tcp ? 20 : 8) || H >= len) return false;
  const P = len - H;
  const n = Math.ceil(P / mss);
  const stride = pre + H + mss;
  const lastPay = P - (n - 1) * mss;
  if (F - pre + (n - 1) * stride + pre + H + lastPay > limit) return false;
  const id0 = v4 ? readU16(b, l3 + 4) : 0;
  const seq0 = tcp ? readU32(b, l4 + 4) : 0;
  const flags0 = tcp ? b[l4 + 13] : 0;
  // every segment's payload sum in one pass, before anything moves (a payload starts at an even
  // offset from its L4 header, thl being a multiple of 4, so the sums add to the header's as they are)
  const sums = sumsFor(n);
  chunks(b, F + H, mss, mss, n, lastPay, sums);
  for (let i = n - 1; i >= 0; i--) {
    const seg = i < n - 1 ? mss : lastPay;
    const S = F - pre + i * stride;
    const fr = S + pre;
    if (i > 0) {
      const src = F + H + i * mss;
      b.copyWithin(fr + H, src, src + seg);
      b.copyWithin(S, F - pre, F + H);
    }
    if (lenField >= 0) writeU16(b, S + lenField, pre + H + seg);
    const s3 = fr + 14;
    const s4 = s3 + ihl;
    const l4len = thl + seg;
    let ps: number;
    if (v4) {
      writeU16(b, s3 + 2, ihl + l4len);
      writeU16(b, s3 + 4, (id0 + i) & 0xffff);
      ipv4HeaderChecksum(b, s3, ihl);
      ps = pseudo4(b, s3, proto, l4len);
    } else {
      writeU16(b, s3 + 4, l4len);
      ps = pseudo6(b, s3, proto, l4len);
    }
    if (tcp) {
      writeU32(b, s4 + 4, (seq0 + i * mss) >>> 0);
      let fl = flags0;
      if (i < n - 1) fl &= ~(TCP_FIN | TCP_PSH);
      if (i > 0) fl &= ~TCP_CWR;
      b[s4 + 13] = fl;
      b[s4 + 16] = 0;
      b[s4 + 17] = 0;
      writeU16(b, s4 + 16, ~fold(ps + sumWords(b, s4, thl) + sums[i]) & 0xffff);
    } else {
      writeU16(b, s4 + 4, l4len);
      b[s4 + 6] = 0;
      b[s4 + 7] = 0;
      let c = ~fold(ps + sumWords(b, s4, 8) + sums[i]) & 0xffff;
      if (c === 0) c = 0xffff;
      writeU16(b, s4 + 6, c);
    }
  }
  out.n = n;
  out.stride = stride;
  out.lastLen = pre + H + lastPay;
  out.hdrLen = H;
  return true;
}

/** What coalesceTcp produced: the frame and its virtio-net header fields. */
export class CoalesceResult {
  /** The coalesced Ethernet frame's offset and length. */
  start = 0;
  len = 0;
  /** Segments merged. */
  n = 0;
  gsoType = 0;
  gsoSize = 0;
  hdrLen = 0;
  csumStart = 0;
  csumOffset = 16;
}

/**
 * Coalesces the UDP GRO buffer b[D, D+L) — datagram payloads of `g` bytes each (the last may be
 * shorter), each `pre` bytes of tunnel header (VXLAN: 8) + an Ethernet frame — into one TCP
 * super-frame behind the first segment's headers (see the module comment). IPv4 only. Returns
 * false, with nothing moved, unless every segment qualifies.
 */
export function coalesceTcp(b: Uint8Array, D: number, L: number, g: number, pre: number, sum: SumFn, out: CoalesceResult, chunks: ChunkSumFn = chunkSumOf(sum)): boolean {
  const n = Math.ceil(L / g);
  if (n < 2 || g <= pre + 54) return false;
  const f0 = D + pre;
  if (readU16(b, f0 + 12) !== ETH_IPV4) return false;
  const l3 = f0 + 14;
  if (b[l3] !== 0x45 || b[l3 + 9] !== 6 || (readU16(b, l3 + 6) & 0x3fff) !== 0) return false;
  const l4 = l3 + 20;
  const thl = (b[l4 + 12] >>> 4) << 2;
  if (thl < 20) return false;
  const H = 34 + thl;
  const mss = g - pre - H;
  if (mss <= 0) return false;
  let seq = readU32(b, l4 + 4);
  // check every segment before moving anything
  for (let k = 0; k < n; k++) {
    const S = D + k * g;
    const segLen = k < n - 1 ? g : L - k * g;
    const fr = S + pre;
    const flen = segLen - pre;
    const pay = flen - H;
    if (pay <= 0) return false;
    if (k > 0) {
      for (let i = 0; i < pre + 14; i++) if (b[S + i] !== b[D + i]) return false; // tunnel header, MACs, ethertype
      const s3 = fr + 14;
      if (b[s3] !== 0x45 || b[s3 + 1] !== b[l3 + 1] || b[s3 + 8] !== b[l3 + 8] || b[s3 + 9] !== 6) return false;
      if (readU16(b, s3 + 6) !== readU16(b, l3 + 6)) return false;
      if (readU32(b, s3 + 12) !== readU32(b, l3 + 12) || readU32(b, s3 + 16) !== readU32(b, l3 + 16)) return false;
      const s4 = s3 + 20;
      if (readU32(b, s4) !== readU32(b, l4) || readU32(b, s4 + 8) !== readU32(b, l4 + 8)) return false; // ports, ack
      if (b[s4 + 12] !== b[l4 + 12] || readU16(b, s4 + 14) !== readU16(b, l4 + 14)) return false; // data offset, window
      for (let i = 20; i < thl; i++) if (b[s4 + i] !== b[l4 + i]) return false; // options (timestamps)
      if (readU32(b, s4 + 4) !== seq) return false;
    }
    const s3 = fr + 14;
    const s4 = s3 + 20;
    const fl = b[s4 + 13];
    if (fl !== TCP_ACK && !(k === n - 1 && fl === (TCP_ACK | TCP_PSH))) return false;
    if (readU16(b, s3 + 2) !== flen - 14) return false;
    if (fold(sumWords(b, s3, 20)) !== 0xffff) return false;
    seq = (seq + pay) >>> 0;
  }
  // the TCP checksums (header + payload of each datagram) in one pass over the buffer
  const sums = sumsFor(n);
  const first = D + pre + 34;
  const lastL4 = L - (n - 1) * g - pre - 34;
  chunks(b, first, g, g - pre - 34, n, lastL4, sums);
  for (let k = 0; k < n; k++) {
    const s3 = D + k * g + pre + 14;
    const l4len = k < n - 1 ? g - pre - 34 : lastL4;
    if (fold(sums[k] + pseudo4(b, s3, 6, l4len)) !== 0xffff) return false;
  }
  // the moves overwrite later segments' headers: take the last one's flags first
  const lastFlags = b[D + (n - 1) * g + pre + 34 + 13];
  let dst = f0 + g - pre;
  for (let k = 1; k < n; k++) {
    const S = D + k * g;
    const segLen = k < n - 1 ? g : L - k * g;
    const src = S + pre + H;
    const pay = segLen - pre - H;
    b.copyWithin(dst, src, src + pay);
    dst += pay;
  }
  const total = dst - f0;
  writeU16(b, l3 + 2, total - 14);
  ipv4HeaderChecksum(b, l3, 20);
  b[l4 + 13] = lastFlags;
  writeU16(b, l4 + 16, fold(pseudo4(b, l3, 6, total - 34)));
  out.start = f0;
  out.len = total;
  out.n = n;
  out.gsoType = VNET_GSO_TCPV4;
  out.gsoSize = mss;
  out.hdrLen = H;
  out.csumStart = 34;
  out.csumOffset = 16;
  return true;
}

