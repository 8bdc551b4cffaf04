/**
 * Software GRO over a batch of separate packets: what the kernel's GRO does for a NIC, done for a
 * socket that hands over one tunnel packet per slot (NVGRE's raw IP socket: no UDP GRO there).
 *
 * `coalesceSlots` looks at the packets of a batch from slot `first` on, in batch order, and takes
 * the longest run of consecutive slots that are in-order TCP segments of one flow: the same outer
 * source, the same `pre` bytes of tunnel header (GRE flags, protocol, key: so the same VSID and
 * FlowID), the same inner Ethernet header (a unicast destination), IPv4 without options, not a fragment, the same
 * addresses, TOS, TTL, ports, ACK number, window and TCP options (the rules of the kernel's
 * tcp_gro_receive), contiguous sequence numbers, only ACK set (PSH may end the run), the same
 * payload size except the last, and right IPv4 header and TCP checksums. The run is moved
 * together behind the first segment's headers, in the first slot (the others are left as they
 * were and must be skipped by the caller), and described for a virtio-net header: GSO_TCPV4,
 * NEEDS_CSUM, the TCP checksum field holding the pseudo-header sum - the form coalesceTcp
 * (offload.ts) gives a VXLAN UDP GRO buffer. Only consecutive slots are merged, so no frame of any
 * flow changes its place relative to another; a run never crosses a packet that does not belong
 * to it. Pure over bytes at offsets; the sums come from the SumFn / ChunkSumFn passed in.
 */
import { readU16, readU32, writeU16 } from '../wire/bytes.js';
import { VNET_GSO_TCPV4 } from '../wire/vnethdr.js';
import { fold, ipv4HeaderChecksum, pseudo4, sumWords, type ChunkSumFn, type CoalesceResult, type SumFn } from './offload.js';

const ETH_IPV4 = 0x0800;
const TCP_PSH = 0x08;
const TCP_ACK = 0x10;
/** The largest IPv4 total length a super-frame may reach. */
const MAX_IP_LEN = 65535;

/** Per-segment sums of one run, reused. */
let runSums = new Uint32Array(64);

/** The packets of a batch: packet k at slab[start[k], + len[k]), from outer source src[k]; slots
 * are `slotSize` bytes apart (a packet must not grow past its slot's end). */
export interface SlotBatch {
  slab: Uint8Array;
  slotSize: number;
  start: Int32Array;
  len: Int32Array;
}

/** True when the packet at S (tunnel header of `pre` bytes, then the frame, `len` bytes in all)
 * can start or continue a run: IPv4 TCP, no IP options, not a fragment, the IP total length
 * matching, a header checksum that adds up, a payload, only ACK (or ACK+PSH) set. Returns the
 * TCP header length, or 0. */
function segmentShape(b: Uint8Array, S: number, len: number, pre: number): number {
  const fr = S + pre;
  if (len < pre + 54) return 0;
  // a group destination is replicated frame by frame into small copy slots: never merged
  if ((b[fr] & 1) !== 0 || readU16(b, fr + 12) !== ETH_IPV4) return 0;
  const l3 = fr + 14;
  if (b[l3] !== 0x45 || b[l3 + 9] !== 6 || (readU16(b, l3 + 6) & 0x3fff) !== 0) return 0;
  if (readU16(b, l3 + 2) !== len - pre - 14) return 0;
  const thl = (b[l3 + 20 + 12] >>> 4) << 2;
  if (thl < 20 || 34 + thl >= len - pre) return 0;
  const fl = b[l3 + 20 + 13];
  if (fl !== TCP_ACK && fl !== (TCP_ACK | TCP_PSH)) return 0;
  if (fold(sumWords(b, l3, 20)) !== 0xffff) return 0;
  return thl;
}

/**
 * Coalesces the run that starts at slot `first` (see the module comment), looking no further
 * than slot `end` - 1. Returns the number of packets merged into slot `first` (>= 2, with `out`
 * filled: the frame, without the tunnel header, at out.start / out.len; start/len of slot `first`
 * cover tunnel header + super-frame), or 0 when there is no run of two (nothing changed).
 */
export function coalesceSlots(bt: SlotBatch, src: Uint32Array, first: number, end: number, pre: number, sum: SumFn, chunks: ChunkSumFn, out: CoalesceResult): number {
  if (end - first < 2) return 0;
  const b = bt.slab;
  const start = bt.start;
  const len = bt.len;
  const D = start[first];
  const L0 = len[first];
  const thl = segmentShape(b, D, L0, pre);
  if (thl === 0 || b[D + pre + 34 + 13] !== TCP_ACK) return 0; // a PSH ends a run: this one has one segment
  const H = 34 + thl;
  const mss = L0 - pre - H;
  const l3 = D + pre + 14;
  const l4 = l3 + 20;
  const limit = (Math.floor(D / bt.slotSize) + 1) * bt.slotSize;
  let seq = (readU32(b, l4 + 4) + mss) >>> 0;
  let total = 20 + thl + mss; // IPv4 total length so far
  let evenly = true;
  let k = first + 1;
  for (; k < end; k++) {
    const S = start[k];
    const l = len[k];
    if (src[k] !== src[first] || segmentShape(b, S, l, pre) !== thl) break;
    let same = true;
    for (let i = 0; i < pre + 14 && same; i++) same = b[S + i] === b[D + i]; // tunnel header, MACs, ethertype
    if (!same) break;
    const s3 = S + pre + 14;
    const s4 = s3 + 20;
    if (b[s3 + 1] !== b[l3 + 1] || b[s3 + 8] !== b[l3 + 8] || readU16(b, s3 + 6) !== readU16(b, l3 + 6)) break; // TOS, TTL, DF
    if (readU32(b, s3 + 12) !== readU32(b, l3 + 12) || readU32(b, s3 + 16) !== readU32(b, l3 + 16)) break;
    if (readU32(b, s4) !== readU32(b, l4) || readU32(b, s4 + 8) !== readU32(b, l4 + 8)) break; // ports, ack
    if (readU16(b, s4 + 14) !== readU16(b, l4 + 14)) break; // window
    for (let i = 20; i < thl && same; i++) same = b[s4 + i] === b[l4 + i]; // options (timestamps)
    if (!same || readU32(b, s4 + 4) !== seq) break;
    const pay = l - pre - H;
    if (pay > mss || total + pay > MAX_IP_LEN || D + pre + 14 + total + pay > limit) break;
    if (S - D !== (k - first) * bt.slotSize) evenly = false;
    total += pay;
    seq = (seq + pay) >>> 0;
    if (pay < mss || b[s4 + 13] !== TCP_ACK) {
      k++; // a short segment or a PSH is the last of a run
      break;
    }
  }
  let n = k - first;
  if (n < 2) return 0;
  // the TCP checksums (header + payload of each segment), in one call when the slots are evenly spaced
  if (runSums.length < n) runSums = new Uint32Array(n * 2);
  const sums = runSums;
  const lastL4 = len[first + n - 1] - pre - 34;
  if (evenly) chunks(b, D + pre + 34, bt.slotSize, L0 - pre - 34, n, lastL4, sums);
  else for (let j = 0; j < n; j++) sums[j] = sum(b, start[first + j] + pre + 34, len[first + j] - pre - 34, 0);
  for (let j = 0; j < n; j++) {
    const s3 = start[first + j] + pre + 14;
    if (fold(sums[j] + pseudo4(b, s3, 6, len[first + j] - pre - 34)) !== 0xffff) {
      n = j; // a segment that fails its checksum is not merged (the port's stack drops it) and ends the run
      break;
    }
  }
  if (n < 2) return 0;
  const lastFlags = b[start[first + n - 1] + pre + 34 + 13];
  let dst = D + L0;
  for (let j = 1; j < n; j++) {
    const S = start[first + j];
    const from = S + pre + H;
    const to = S + len[first + j];
    b.copyWithin(dst, from, to);
    dst += to - from;
  }
  const frameLen = dst - D - pre;
  writeU16(b, l3 + 2, frameLen - 14);
  ipv4HeaderChecksum(b, l3, 20);
  b[l4 + 13] = lastFlags;
  writeU16(b, l4 + 16, fold(pseudo4(b, l3, 6, frameLen - 34)));
  len[first] = pre + frameLen;
  out.start = D + pre;
  out.len = frameLen;
  out.n = n;
  out.gsoType = VNET_GSO_TCPV4;
  out.gsoSize = mss;
  out.hdrLen = H;
  out.csumStart = 34;
  out.csumOffset = 16;
  return n;
}
