/**
 * Flow steering across forwarding workers. Each worker keeps its own flow table and connection
 * tracking (no locks on the fast path), so both directions of a tenant flow must reach the same
 * worker: the frames a tenant sends (TAP queue) and the replies that come back from the wire
 * (VXLAN reuseport socket, NVGRE raw socket). The kernel's own choices (the TAP's flow hash, the
 * reuseport 4-tuple hash of the outer header) do not agree, so switchyard sets all three with BPF
 * programs that compute one function of the inner frame:
 *
 *   x = srcIp ^ dstIp ^ srcPort ^ dstPort       (IPv4; ports for TCP/UDP non-fragments)
 *   x = xor of the 8 address words ^ srcPort ^ dstPort    (IPv6; ports when the fixed header's
 *                                                          Next Header is TCP or UDP)
 *   worker = (((x ^ x >>> 16) * 0x9e3779b1) >>> 16) % n      (32-bit multiply: Fibonacci hashing)
 *
 * The multiply matters: connect() hands out consecutive even ephemeral ports, which differ only
 * in low bits, and a plain xor-fold put four such iperf3 streams on one worker.
 *
 * Symmetric in source and destination, so a reply hashes like its request. Anything else (ARP,
 * VLAN, frames too short to read, TCP/UDP frames that end before their ports) goes to worker 0.
 * IPv4 fragments are hashed by their addresses alone: non-first ones carry no ports, and all
 * fragments of a datagram must meet one worker's fragment table (vfp/frag.ts); they may land on
 * another worker than the unfragmented packets of their flow (as with the kernel's RSS).
 *
 * IPv6 takes the ports only from a TCP or UDP header right behind the fixed header: the programs
 * do not walk a chain of extension headers (classic BPF has no loops; a walk unrolled as far as
 * vfp's MAX_EXT6 in all four forms is not done), so a packet with any (hop-by-hop, routing,
 * destination options, fragment) is hashed by its addresses alone, and so are all fragments of
 * a datagram (they meet one fragment table, as for IPv4). vfp/flowkey.ts keys such a packet by
 * ports all the same; the two agree as long as both directions of a connection carry extension
 * headers alike (the common case: none); a connection whose one direction alone carries them is
 * split over two workers, as a fragmented reply to an unfragmented request is.
 *
 * An ICMP error (destination unreachable, time exceeded, parameter problem; not itself a
 * fragment) is steered by the packet it quotes, with the same function: conntrack lets it in as
 * RELATED to that packet's connection (vfp/layers/acl.ts), and only the worker that handled the
 * packet holds the connection. Steered by its own addresses, a port unreachable about a UDP
 * datagram went to the other worker half the time, and the port's inbound ACL dropped it
 * (acl-deny). The quote must hold an IPv4 header and 8 bytes, as vfp/flowkey.ts parseQuoted asks;
 * a shorter one is an ordinary ICMP frame and goes by its own addresses. ICMPv6 errors (types 1-4:
 * destination unreachable, packet too big, time exceeded, parameter problem) right behind the
 * fixed header likewise go by the IPv6 header + 8 bytes they quote at 40 + 8 (parseQuoted6 and
 * conntrack's RELATED for ICMPv6): a Packet Too Big about a tenant's TCP segment must reach the
 * worker of its connection, or PMTU discovery fails. The quoted packet is hashed as it was sent
 * (ports only if its own fixed header names TCP/UDP), so the error meets that packet's worker.
 *
 * - TAP: an eBPF socket-filter program set with TUNSETSTEERINGEBPF returns the queue (queue i is
 *   the i-th fd opened, and belongs to worker i).
 * - VXLAN: a classic BPF program on the SO_REUSEPORT group returns the socket index (bind order:
 *   worker i's socket is the i-th bound). It sees the UDP payload: the inner frame at offset 8.
 * - External switch NIC: the AF_PACKET sockets (one per worker, opened and so joined in worker
 *   order) form a PACKET_FANOUT_CBPF group whose classic program returns the socket index. It
 *   sees a received frame from its IP header on (the EtherType comes from skb->protocol). The
 *   kernel's own PACKET_FANOUT_HASH put a LAN host's reply on another worker than the VM's
 *   request about half the time, and a stateful inbound-deny ACL on the VM's port dropped it.
 * - NVGRE: raw sockets do not form groups (every one gets a copy of each packet), so each
 *   worker's socket gets a filter that accepts only its share. It sees the outer IPv4 header;
 *   the inner frame (IPv4 or IPv6) is assumed at 20 + 8 (no IPv4 options, GRE with key): a
 *   packet with options hashes differently, but still goes to exactly one worker.
 * - vhost-user: the guest picks its transmit queue, so the lane that reads a frame hands it on to
 *   the lane of its flow, computed by native-bindings/src/vhost_ring.cc SteerLane (the same
 *   function in C++).
 *
 * `steerWorker` is the reference in TypeScript (tests compare the kernel's choices with it).
 * UDP GRO may merge datagrams of two inner flows that share an outer source port (one in 64 with
 * the send pool) into one buffer: the second flow's frames then reach the first flow's worker.
 */
import { loadNative } from './native.js';

/** The worker (0..n-1) of the flow of the Ethernet frame at b[eth, end). */
export function steerWorker(b: Uint8Array, eth: number, end: number, n: number): number {
  if (n <= 1 || end < eth + 34) return 0;
  const et = (b[eth + 12] << 8) | b[eth + 13];
  const ip = eth + 14;
  if (et === 0x86dd) {
    if (end < ip + 40) return 0;
    const q = icmpv6ErrorQuote(b, ip, end);
    return ipv6Worker(b, q >= 0 ? q : ip, end, n);
  }
  if (et !== 0x0800) return 0;
  const q = icmpErrorQuote(b, ip, end);
  return ipv4Worker(b, q >= 0 ? q : ip, end, n);
}

/** The offset of the IPv4 header quoted by the ICMP error at `ip` (whose first 20 bytes are in
 * b[.., end)), or -1 when it is no ICMP error or its quote is shorter than a header + 8 bytes. */
function icmpErrorQuote(b: Uint8Array, ip: number, end: number): number {
  if (b[ip + 9] !== 1 || (((b[ip + 6] << 8) | b[ip + 7]) & 0x3fff) !== 0) return -1;
  const q = ip + ((b[ip] & 0x0f) << 2) + 8;
  if (end < q + 20) return -1;
  const type = b[q - 8];
  if (type !== 3 && type !== 11 && type !== 12) return -1;
  if (b[q] >>> 4 !== 4 || (b[q] & 0x0f) < 5 || end < q + ((b[q] & 0x0f) << 2) + 8) return -1;
  return q;
}

/** The offset of the IPv6 header quoted by the ICMPv6 error (types 1-4, Next Header 58 in the
 * fixed header) at `ip` (its 40 bytes are in b[.., end)), or -1 when it is none or its quote is
 * shorter than an IPv6 header + 8 bytes (vfp/flowkey.ts parseQuoted6). */
function icmpv6ErrorQuote(b: Uint8Array, ip: number, end: number): number {
  const q = ip + 40 + 8;
  if (b[ip + 6] !== 58 || end < q + 48) return -1;
  const type = b[ip + 40];
  if (type < 1 || type > 4 || b[q] >>> 4 !== 6) return -1;
  return q;
}

/** The worker of the IPv4 packet at `ip` (its first 20 bytes are in b[.., end)). */
function ipv4Worker(b: Uint8Array, ip: number, end: number, n: number): number {
  const u16 = (o: number) => (b[o] << 8) | b[o + 1];
  const u32 = (o: number) => ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
  let ports = 0;
  if ((u16(ip + 6) & 0x3fff) === 0 && (b[ip + 9] === 6 || b[ip + 9] === 17)) {
    const ihl = (b[ip] & 0x0f) << 2;
    if (end < ip + ihl + 4) return 0;
    ports = u16(ip + ihl) ^ u16(ip + ihl + 2);
  }
  return flowWorker(u32(ip + 12), u32(ip + 16), ports, n);
}

/** The worker of the IPv6 packet at `ip` (its 40 bytes are in b[.., end)): the xor of the eight
 * address words, and the ports when the fixed header's Next Header is TCP or UDP. */
function ipv6Worker(b: Uint8Array, ip: number, end: number, n: number): number {
  const u16 = (o: number) => (b[o] << 8) | b[o + 1];
  let x = 0;
  for (let o = ip + 8; o < ip + 40; o += 4) x ^= (b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3];
  const nh = b[ip + 6];
  if (nh === 6 || nh === 17) {
    if (end < ip + 44) return 0;
    x ^= u16(ip + 40) ^ u16(ip + 42);
  }
  return mixWorker(x, n);
}

/** The worker of an IPv4 flow: `ports` is srcPort ^ dstPort for TCP/UDP, else 0. */
export function flowWorker(srcIp: number, dstIp: number, ports: number, n: number): number {
  return mixWorker(srcIp ^ dstIp ^ ports, n);
}

/** The final mix of both families: x is the xor of the flow's fields. */
function mixWorker(x: number, n: number): number {
  x = (x ^ (x >>> 16)) >>> 0;
  x = Math.imul(x, FIB) >>> 16;
  return x % n;
}

/** 2^32 / golden ratio. */
const FIB = 0x9e3779b1;

// ---- classic BPF -----------------------------------------------------------------------------

interface CInsn {
  code: number;
  k: number;
  jt?: string;
  jf?: string;
  label?: string;
}

/** Resolves labels into relative jumps; returns pairs [code | jt << 16 | jf << 24, k]. */
function assembleCbpf(prog: CInsn[]): Uint32Array {
  const at = new Map<string, number>();
  prog.forEach((ins, i) => ins.label && at.set(ins.label, i));
  const out = new Uint32Array(prog.length * 2);
  prog.forEach((ins, i) => {
    const rel = (l: string | undefined) => {
      if (l === undefined) return 0;
      const d = at.get(l)! - i - 1;
      if (!(d >= 0 && d < 256)) throw new Error(`cBPF: bad jump to ${l}`);
      return d;
    };
    if (ins.code === JA) {
      // an unconditional jump takes its distance in k
      out[2 * i] = JA;
      out[2 * i + 1] = rel(ins.jt);
      return;
    }
    out[2 * i] = (ins.code | (rel(ins.jt) << 16) | (rel(ins.jf) << 24)) >>> 0;
    out[2 * i + 1] = ins.k >>> 0;
  });
  return out;
}

const LD_W_ABS = 0x20, LD_H_ABS = 0x28, LD_B_ABS = 0x30, LD_W_IND = 0x40, LD_H_IND = 0x48, LD_B_IND = 0x50, LD_LEN = 0x80, LD_IMM = 0x00, LD_MEM = 0x60;
const LDX_MSH = 0xb1, LDX_MEM = 0x61, ST = 0x02, TAX = 0x07, TXA = 0x87;
const ADD_K = 0x04, ADD_X = 0x0c, MUL_K = 0x24, AND_K = 0x54, LSH_K = 0x64, RSH_K = 0x74, MOD_K = 0x94, XOR_X = 0xac;
const JA = 0x05, JEQ_K = 0x15, JGE_K = 0x35, JGE_X = 0x3d, JSET_K = 0x45;
const RET_K = 0x06, RET_A = 0x16;
/** SKF_AD_OFF + SKF_AD_PROTOCOL: a load there gives ntohs(skb->protocol), the frame's EtherType. */
const SKF_AD_PROTOCOL = 0xfffff000;

/**
 * The steering function over a frame at `e` bytes into the data the program sees. `index`: the
 * program returns the worker; `filter`: it accepts the packet only when the worker is `self`.
 * Every load is checked against the length first: a load past the end ends a classic program
 * with 0, which a filter would take as "drop" on every worker's socket.
 * Scratch: M[0] ports, M[1] the L4 offset, M[2] the IPv4 header hashed (the frame's, or the one
 * an ICMP error quotes), M[3] the quote's offset, M[4] its first byte, M[5] an address.
 */
function cbpfSteer(e: number, n: number, mode: { index: true } | { self: number }): Uint32Array {
  const w0 = 'self' in mode ? (mode.self === 0 ? 0xffffffff : 0) : 0;
  // e < 0: the program sees the packet from its IPv4 header (an AF_PACKET fanout group on a
  // received frame); the EtherType is then the skb's protocol, an ancillary load
  const ip = e + 14;
  const p: CInsn[] = [
    { code: LD_LEN, k: 0 },
    { code: JGE_K, k: e + 34, jt: 'eth', jf: 'w0' },
    { label: 'eth', code: LD_H_ABS, k: e < 0 ? SKF_AD_PROTOCOL : e + 12 },
    { code: JEQ_K, k: 0x0800, jt: 'outer', jf: 'not4' },
    { label: 'outer', code: LD_IMM, k: ip },
    { code: ST, k: 2 },
    // an ICMP error (not a fragment) that quotes an IPv4 header and 8 bytes: hash the quote
    { code: LD_H_ABS, k: e + 20 },
    { code: JSET_K, k: 0x3fff, jt: 'base', jf: 'icmp' },
    { label: 'icmp', code: LD_B_ABS, k: e + 23 },
    { code: JEQ_K, k: 1, jt: 'err', jf: 'base' },
    { label: 'err', code: LDX_MSH, k: ip },
    { code: TXA, k: 0 },
    { code: ADD_K, k: ip + 8 },
    { code: ST, k: 3 },
    { code: ADD_K, k: 20 },
    { code: TAX, k: 0 },
    { code: LD_LEN, k: 0 },
    { code: JGE_X, k: 0, jt: 'type', jf: 'base' },
    { label: 'type', code: LDX_MSH, k: ip },
    { code: LD_B_IND, k: ip },
    { code: JEQ_K, k: 3, jt: 'quote', jf: 't11' },
    { label: 't11', code: JEQ_K, k: 11, jt: 'quote', jf: 't12' },
    { label: 't12', code: JEQ_K, k: 12, jt: 'quote', jf: 'base' },
    { label: 'quote', code: LDX_MEM, k: 3 },
    { code: LD_B_IND, k: 0 },
    { code: ST, k: 4 },
    { code: AND_K, k: 0xf0 },
    { code: JEQ_K, k: 0x40, jt: 'qihl', jf: 'base' },
    { label: 'qihl', code: LD_MEM, k: 4 },
    { code: AND_K, k: 0x0f },
    { code: JGE_K, k: 5, jt: 'qlen', jf: 'base' },
    { label: 'qlen', code: LSH_K, k: 2 },
    { code: ADD_K, k: 8 },
    { code: ADD_X, k: 0 },
    { code: TAX, k: 0 },
    { code: LD_LEN, k: 0 },
    { code: JGE_X, k: 0, jt: 'use', jf: 'base' },
    { label: 'use', code: LD_MEM, k: 3 },
    { code: ST, k: 2 },
    // the IPv4 header at M[2]: its 20 bytes are in the packet
    { label: 'base', code: LDX_MEM, k: 2 },
    { code: LD_H_IND, k: 6 },
    { code: JSET_K, k: 0x3fff, jt: 'noports', jf: 'proto' },
    { label: 'proto', code: LD_B_IND, k: 9 },
    { code: JEQ_K, k: 6, jt: 'ports', jf: 'udp' },
    { label: 'udp', code: JEQ_K, k: 17, jt: 'ports', jf: 'noports' },
    { label: 'ports', code: LD_B_IND, k: 0 },
    { code: AND_K, k: 0x0f },
    { code: LSH_K, k: 2 },
    { code: ADD_X, k: 0 },
    { code: ST, k: 1 },
    { code: ADD_K, k: 4 },
    { code: TAX, k: 0 },
    { code: LD_LEN, k: 0 },
    { code: JGE_X, k: 0, jt: 'l4', jf: 'w0' },
    { label: 'l4', code: LDX_MEM, k: 1 },
    { code: LD_H_IND, k: 0 },
    { code: ST, k: 0 },
    { code: LD_H_IND, k: 2 },
    { code: LDX_MEM, k: 0 },
    { code: XOR_X, k: 0 },
    { code: ST, k: 0 },
    { code: JA, k: 0, jt: 'addr' },
    { label: 'noports', code: LD_IMM, k: 0 },
    { code: ST, k: 0 },
    { label: 'addr', code: LDX_MEM, k: 2 },
    { code: LD_W_IND, k: 12 },
    { code: ST, k: 5 },
    { code: LD_W_IND, k: 16 },
    { code: LDX_MEM, k: 5 },
    { code: XOR_X, k: 0 },
    { code: LDX_MEM, k: 0 },
    { code: XOR_X, k: 0 },
    { code: JA, k: 0, jt: 'mix' },
    // IPv6: an ICMPv6 error (Next Header 58 in the fixed header, types 1-4) that quotes an IPv6
    // header and 8 bytes is hashed by the quote, anything else by its own header
    { label: 'not4', code: JEQ_K, k: 0x86dd, jt: 'v6', jf: 'w0' },
    { label: 'v6', code: LD_LEN, k: 0 },
    { code: JGE_K, k: ip + 40, jt: 'v6nh', jf: 'w0' },
    { label: 'v6nh', code: LD_B_ABS, k: ip + 6 },
    { code: JEQ_K, k: 58, jt: 'v6icmp', jf: 'v6own' },
    { label: 'v6icmp', code: LD_LEN, k: 0 },
    { code: JGE_K, k: ip + 48 + 48, jt: 'v6type', jf: 'v6own' },
    { label: 'v6type', code: LD_B_ABS, k: ip + 40 },
    { code: JGE_K, k: 1, jt: 'v6t4', jf: 'v6own' },
    { label: 'v6t4', code: JGE_K, k: 5, jt: 'v6own', jf: 'v6ver' },
    { label: 'v6ver', code: LD_B_ABS, k: ip + 48 },
    { code: AND_K, k: 0xf0 },
    { code: JEQ_K, k: 0x60, jt: 'v6q', jf: 'v6own' },
    ...cbpfIpv6Hash(ip + 48, 'v6q'),
    ...cbpfIpv6Hash(ip, 'v6own'),
    { label: 'mix', code: TAX, k: 0 },
    { code: RSH_K, k: 16 },
    { code: XOR_X, k: 0 },
    { code: MUL_K, k: FIB },
    { code: RSH_K, k: 16 },
    { code: MOD_K, k: n },
  ];
  if ('self' in mode) {
    p.push({ code: JEQ_K, k: mode.self, jt: 'accept', jf: 'reject' }, { label: 'accept', code: RET_K, k: 0xffffffff }, { label: 'reject', code: RET_K, k: 0 });
  } else {
    p.push({ code: RET_A, k: 0 });
  }
  p.push({ label: 'w0', code: RET_K, k: w0 });
  return assembleCbpf(p);
}

/** The xor of the IPv6 header at the constant offset `h` (its 40 bytes are in the packet): the
 * eight address words, and srcPort ^ dstPort when its Next Header is TCP or UDP (a frame that
 * ends before the ports: worker 0, as for IPv4). Ends with A = x and a jump to `mix`; the first
 * instruction is labelled `at`. */
function cbpfIpv6Hash(h: number, at: string): CInsn[] {
  const p: CInsn[] = [
    { label: at, code: LD_B_ABS, k: h + 6 },
    { code: JEQ_K, k: 6, jt: `${at}.ports`, jf: `${at}.udp` },
    { label: `${at}.udp`, code: JEQ_K, k: 17, jt: `${at}.ports`, jf: `${at}.none` },
    { label: `${at}.ports`, code: LD_LEN, k: 0 },
    { code: JGE_K, k: h + 44, jt: `${at}.pl`, jf: 'w0' },
    { label: `${at}.pl`, code: LD_H_ABS, k: h + 40 },
    { code: TAX, k: 0 },
    { code: LD_H_ABS, k: h + 42 },
    { code: XOR_X, k: 0 },
    { code: TAX, k: 0 },
    { code: JA, k: 0, jt: `${at}.addr` },
    { label: `${at}.none`, code: LD_IMM, k: 0 },
    { code: TAX, k: 0 },
  ];
  // X holds the ports (or 0): eight times A = word ^ X, then X = A
  const addr = p.length;
  for (let i = 0; i < 8; i++) {
    if (i > 0) p.push({ code: TAX, k: 0 });
    p.push({ code: LD_W_ABS, k: h + 8 + 4 * i }, { code: XOR_X, k: 0 });
  }
  p[addr]!.label = `${at}.addr`;
  p.push({ code: JA, k: 0, jt: 'mix' });
  return p;
}

/** Offset of the inner frame in a VXLAN UDP payload, and in a raw IPv4 NVGRE packet. */
const VXLAN_INNER = 8;
const NVGRE_INNER = 20 + 8;

export function vxlanReuseportProgram(n: number): Uint32Array {
  return cbpfSteer(VXLAN_INNER, n, { index: true });
}

export function nvgreFilterProgram(n: number, self: number): Uint32Array {
  return cbpfSteer(NVGRE_INNER, n, { self });
}

/** The selector of an AF_PACKET fanout group (PACKET_FANOUT_CBPF) on a NIC: the kernel runs it
 * on a received frame with the data at the IPv4 header (the Ethernet header already pulled), and
 * hands the frame to member (result % members) in join order. */
export function packetFanoutProgram(n: number): Uint32Array {
  return cbpfSteer(-14, n, { index: true });
}

// ---- eBPF (TAP queue selection) ----------------------------------------------------------------

function ebpf(code: number, dst: number, src: number, off: number, imm: number): number[] {
  return [code, (src << 4) | dst, off & 0xff, (off >> 8) & 0xff, imm & 0xff, (imm >> 8) & 0xff, (imm >> 16) & 0xff, (imm >>> 24) & 0xff];
}

/** eBPF socket-filter program returning the worker of the frame (Ethernet at offset 0). A load
 * past the end ends it with 0 (queue 0), as steerWorker does for a short frame; the ICMP-error
 * quote (ICMP and ICMPv6) is checked against skb->len first, so a short quote is hashed by the
 * frame's own header. r9: the IPv4 or IPv6 header hashed (14, or the quote's offset), r8:
 * skb->len, then the hash. */
export function tapSteeringProgram(n: number): Uint8Array {
  const MOV64_X = 0xbf, MOV64_K = 0xb7, MOV_X = 0xbc, AND_K = 0x54, LSH_K = 0x64, ERSH_K = 0x74, EXOR_X = 0xac, EMUL_K = 0x24, EMOD_K = 0x94;
  const ADD64_K = 0x07, ADD64_X = 0x0f, LDX_W = 0x61;
  const LDABS_H = 0x28, LDABS_B = 0x30, LDIND_W = 0x40, LDIND_H = 0x48, LDIND_B = 0x50;
  const JNE_K = 0x55, JEQ = 0x15, JSET = 0x45, JGT_X = 0x2d, JGT_K = 0x25, JLT_K = 0xa5, EXIT = 0x95;
  // [insn, jump target label?]; offsets resolved below
  const p: { b: (off: number) => number[]; to?: string; label?: string }[] = [];
  const I = (f: (off: number) => number[], to?: string, label?: string) => p.push({ b: f, to, label });
  I(() => ebpf(MOV64_X, 6, 1, 0, 0));
  I(() => ebpf(LDABS_H, 0, 0, 0, 12));
  I((o) => ebpf(JNE_K, 0, 0, o, 0x0800), 'not4');
  I(() => ebpf(MOV64_K, 9, 0, 0, 14));
  // an ICMP error (not a fragment) that quotes an IPv4 header and 8 bytes: hash the quote
  I(() => ebpf(LDABS_H, 0, 0, 0, 20));
  I((o) => ebpf(JSET, 0, 0, o, 0x3fff), 'base');
  I(() => ebpf(LDABS_B, 0, 0, 0, 23));
  I((o) => ebpf(JNE_K, 0, 0, o, 1), 'base');
  I(() => ebpf(LDABS_B, 0, 0, 0, 14));
  I(() => ebpf(AND_K, 0, 0, 0, 0x0f));
  I(() => ebpf(LSH_K, 0, 0, 0, 2));
  I(() => ebpf(MOV64_X, 7, 0, 0, 0));
  I(() => ebpf(LDX_W, 8, 6, 0, 0));
  I(() => ebpf(MOV64_X, 0, 7, 0, 0));
  I(() => ebpf(ADD64_K, 0, 0, 0, 14 + 8 + 20));
  I((o) => ebpf(JGT_X, 0, 8, o, 0), 'base');
  I(() => ebpf(LDIND_B, 0, 7, 0, 14));
  I((o) => ebpf(JEQ, 0, 0, o, 3), 'quote');
  I((o) => ebpf(JEQ, 0, 0, o, 11), 'quote');
  I((o) => ebpf(JNE_K, 0, 0, o, 12), 'base');
  I(() => ebpf(ADD64_K, 7, 0, 0, 14 + 8), undefined, 'quote');
  I(() => ebpf(LDIND_B, 0, 7, 0, 0));
  I(() => ebpf(MOV64_X, 1, 0, 0, 0));
  I(() => ebpf(AND_K, 1, 0, 0, 0xf0));
  I((o) => ebpf(JNE_K, 1, 0, o, 0x40), 'base');
  I(() => ebpf(AND_K, 0, 0, 0, 0x0f));
  I((o) => ebpf(JLT_K, 0, 0, o, 5), 'base');
  I(() => ebpf(LSH_K, 0, 0, 0, 2));
  I(() => ebpf(ADD64_X, 0, 7, 0, 0));
  I(() => ebpf(ADD64_K, 0, 0, 0, 8));
  I((o) => ebpf(JGT_X, 0, 8, o, 0), 'base');
  I(() => ebpf(MOV64_X, 9, 7, 0, 0));
  // the IPv4 header at r9
  I(() => ebpf(LDIND_W, 0, 9, 0, 12), undefined, 'base');
  I(() => ebpf(MOV64_X, 8, 0, 0, 0));
  I(() => ebpf(LDIND_W, 0, 9, 0, 16));
  I(() => ebpf(EXOR_X, 8, 0, 0, 0));
  I(() => ebpf(LDIND_H, 0, 9, 0, 6));
  I((o) => ebpf(JSET, 0, 0, o, 0x3fff), 'fold');
  I(() => ebpf(LDIND_B, 0, 9, 0, 9));
  I((o) => ebpf(JEQ, 0, 0, o, 6), 'ports');
  I((o) => ebpf(JNE_K, 0, 0, o, 17), 'fold');
  I(() => ebpf(LDIND_B, 0, 9, 0, 0), undefined, 'ports');
  I(() => ebpf(AND_K, 0, 0, 0, 0x0f));
  I(() => ebpf(LSH_K, 0, 0, 0, 2));
  I(() => ebpf(ADD64_X, 0, 9, 0, 0));
  I(() => ebpf(MOV64_X, 7, 0, 0, 0));
  I(() => ebpf(LDIND_H, 0, 7, 0, 0));
  I(() => ebpf(EXOR_X, 8, 0, 0, 0));
  I(() => ebpf(LDIND_H, 0, 7, 0, 2));
  I(() => ebpf(EXOR_X, 8, 0, 0, 0));
  I((o) => ebpf(JA, 0, 0, o, 0), 'fold');
  // IPv6: an ICMPv6 error (Next Header 58, types 1-4) quoting an IPv6 header and 8 bytes (the
  // length checked first) is hashed by the quote at 14 + 40 + 8, anything else by its own header
  I((o) => ebpf(JNE_K, 0, 0, o, 0x86dd), 'ret0', 'not4');
  I(() => ebpf(MOV64_K, 9, 0, 0, 14));
  I(() => ebpf(LDABS_B, 0, 0, 0, 14 + 6));
  I((o) => ebpf(JNE_K, 0, 0, o, 58), 'v6base');
  I(() => ebpf(LDX_W, 8, 6, 0, 0));
  I((o) => ebpf(JLT_K, 8, 0, o, 14 + 48 + 48), 'v6base');
  I(() => ebpf(LDABS_B, 0, 0, 0, 14 + 40));
  I((o) => ebpf(JLT_K, 0, 0, o, 1), 'v6base');
  I((o) => ebpf(JGT_K, 0, 0, o, 4), 'v6base');
  I(() => ebpf(LDABS_B, 0, 0, 0, 14 + 48));
  I(() => ebpf(AND_K, 0, 0, 0, 0xf0));
  I((o) => ebpf(JNE_K, 0, 0, o, 0x60), 'v6base');
  I(() => ebpf(MOV64_K, 9, 0, 0, 14 + 48));
  // the IPv6 header at r9: its address words, and the ports for TCP/UDP (a load past the end: 0)
  I(() => ebpf(LDIND_W, 0, 9, 0, 8), undefined, 'v6base');
  I(() => ebpf(MOV64_X, 8, 0, 0, 0));
  for (let o = 12; o < 40; o += 4) {
    I(() => ebpf(LDIND_W, 0, 9, 0, o));
    I(() => ebpf(EXOR_X, 8, 0, 0, 0));
  }
  I(() => ebpf(LDIND_B, 0, 9, 0, 6));
  I((o) => ebpf(JEQ, 0, 0, o, 6), 'v6ports');
  I((o) => ebpf(JNE_K, 0, 0, o, 17), 'fold');
  I(() => ebpf(LDIND_H, 0, 9, 0, 40), undefined, 'v6ports');
  I(() => ebpf(EXOR_X, 8, 0, 0, 0));
  I(() => ebpf(LDIND_H, 0, 9, 0, 42));
  I(() => ebpf(EXOR_X, 8, 0, 0, 0));
  I(() => ebpf(MOV_X, 0, 8, 0, 0), undefined, 'fold');
  I(() => ebpf(ERSH_K, 0, 0, 0, 16));
  I(() => ebpf(EXOR_X, 8, 0, 0, 0));
  I(() => ebpf(EMUL_K, 8, 0, 0, FIB));
  I(() => ebpf(ERSH_K, 8, 0, 0, 16));
  I(() => ebpf(MOV_X, 0, 8, 0, 0));
  I(() => ebpf(EMOD_K, 0, 0, 0, n));
  I(() => ebpf(EXIT, 0, 0, 0, 0));
  I(() => ebpf(MOV64_K, 0, 0, 0, 0), undefined, 'ret0');
  I(() => ebpf(EXIT, 0, 0, 0, 0));
  const at = new Map<string, number>();
  p.forEach((x, i) => x.label && at.set(x.label, i));
  return Uint8Array.from(p.flatMap((x, i) => x.b(x.to ? at.get(x.to)! - i - 1 : 0)));
}

// ---- attaching ---------------------------------------------------------------------------------

/** Steers a VXLAN SO_REUSEPORT group of n receive sockets (any bound member's fd). */
export function steerVxlanGroup(fd: number, n: number): void {
  loadNative().attachCbpf(fd, 'reuseport', vxlanReuseportProgram(n));
}

/** Lets worker `self`'s NVGRE raw socket receive only its share of n. */
export function steerNvgreSocket(fd: number, n: number, self: number): void {
  loadNative().attachCbpf(fd, 'filter', nvgreFilterProgram(n, self));
}

/** Sets the selector of the PACKET_FANOUT_CBPF group of `fd` (an AF_PACKET socket) for n workers. */
export function steerPacketFanout(fd: number, n: number): void {
  loadNative().attachCbpf(fd, 'fanout', packetFanoutProgram(n));
}

/** Sets the queue selector of a multi-queue TAP with n queues (any queue's fd). */
export function steerTap(fd: number, n: number): void {
  loadNative().tapSetSteeringEbpf(fd, tapSteeringProgram(n));
}
