/**
 * Flow steering across forwarding workers. Each worker keeps its own flow table and connection
 * tracking (no locks on the fast path), so both directions of a tenant flow must reach the same
 * worker: the frames a tenant sends (TAP queue) and the replies that come back from the wire
 * (VXLAN reuseport socket, NVGRE raw socket). The kernel's own choices (the TAP's flow hash, the
 * reuseport 4-tuple hash of the outer header) do not agree, so switchyard sets all three with BPF
 * programs that compute one function of the inner frame:
 *
 *   x = srcIp ^ dstIp ^ srcPort ^ dstPort       (IPv4; ports for TCP/UDP non-fragments)
 *   worker = (((x ^ x >>> 16) * 0x9e3779b1) >>> 16) % n      (32-bit multiply: Fibonacci hashing)
 *
 * The multiply matters: connect() hands out consecutive even ephemeral ports, which differ only
 * in low bits, and a plain xor-fold put four such iperf3 streams on one worker.
 *
 * Symmetric in source and destination, so a reply hashes like its request. Anything else (ARP,
 * IPv6, VLAN, frames too short to read) goes to worker 0. Non-first IPv4 fragments carry no ports
 * and may land on another worker than their flow (as with the kernel's RSS).
 *
 * An ICMP error (destination unreachable, time exceeded, parameter problem; not itself a
 * fragment) is steered by the packet it quotes, with the same function: conntrack lets it in as
 * RELATED to that packet's connection (vfp/layers/acl.ts), and only the worker that handled the
 * packet holds the connection. Steered by its own addresses, a port unreachable about a UDP
 * datagram went to the other worker half the time, and the port's inbound ACL dropped it
 * (acl-deny). The quote must hold an IPv4 header and 8 bytes, as vfp/flowkey.ts parseQuoted asks;
 * a shorter one is an ordinary ICMP frame and goes by its own addresses.
 *
 * - TAP: an eBPF socket-filter program set with TUNSETSTEERINGEBPF returns the queue (queue i is
 *   the i-th fd opened, and belongs to worker i).
 * - VXLAN: a classic BPF program on the SO_REUSEPORT group returns the socket index (bind order:
 *   worker i's socket is the i-th bound). It sees the UDP payload: the inner frame at offset 8.
 * - External switch NIC: the AF_PACKET sockets (one per worker, opened and so joined in worker
 *   order) form a PACKET_FANOUT_CBPF group whose classic program returns the socket index. It
 *   sees a received frame from its IPv4 header on (the EtherType comes from skb->protocol). The
 *   kernel's own PACKET_FANOUT_HASH put a LAN host's reply on another worker than the VM's
 *   request about half the time, and a stateful inbound-deny ACL on the VM's port dropped it.
 * - NVGRE: raw sockets do not form groups (every one gets a copy of each packet), so each
 *   worker's socket gets a filter that accepts only its share. It sees the outer IPv4 header;
 *   the inner frame is assumed at 20 + 8 (no IPv4 options, GRE with key): a packet with options
 *   hashes differently, but still goes to exactly one worker.
 *
 * `steerWorker` is the reference in TypeScript (tests compare the kernel's choices with it).
 * UDP GRO may merge datagrams of two inner flows that share an outer source port (one in 64 with
 * the send pool) into one buffer: the second flow's frames then reach the first flow's worker.
 */
import { loadNative } from './native.js';

/** The worker (0..n-1) of the flow of the Ethernet frame at b[eth, end). */
export function steerWorker(b: Uint8Array, eth: number, end: number, n: number): number {
  if (n <= 1) return 0;
  if (end < eth + 34 || ((b[eth + 12] << 8) | b[eth + 13]) !== 0x0800) return 0;
  const ip = eth + 14;
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

/** The worker of an IPv4 flow: `ports` is srcPort ^ dstPort for TCP/UDP, else 0. */
export function flowWorker(srcIp: number, dstIp: number, ports: number, n: number): number {
  let x = (srcIp ^ dstIp ^ ports) >>> 0;
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

const LD_H_ABS = 0x28, LD_B_ABS = 0x30, LD_W_IND = 0x40, LD_H_IND = 0x48, LD_B_IND = 0x50, LD_LEN = 0x80, LD_IMM = 0x00, LD_MEM = 0x60;
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
    { code: JEQ_K, k: 0x0800, jt: 'outer', jf: 'w0' },
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
    { code: TAX, k: 0 },
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
 * quote is checked against skb->len first, so a short quote is hashed by the frame's own header.
 * r9: the IPv4 header hashed (14, or the quote's offset), r8: skb->len, then the hash. */
export function tapSteeringProgram(n: number): Uint8Array {
  const MOV64_X = 0xbf, MOV64_K = 0xb7, MOV_X = 0xbc, AND_K = 0x54, LSH_K = 0x64, ERSH_K = 0x74, EXOR_X = 0xac, EMUL_K = 0x24, EMOD_K = 0x94;
  const ADD64_K = 0x07, ADD64_X = 0x0f, LDX_W = 0x61;
  const LDABS_H = 0x28, LDABS_B = 0x30, LDIND_W = 0x40, LDIND_H = 0x48, LDIND_B = 0x50;
  const JNE_K = 0x55, JEQ = 0x15, JSET = 0x45, JGT_X = 0x2d, JLT_K = 0xa5, EXIT = 0x95;
  // [insn, jump target label?]; offsets resolved below
  const p: { b: (off: number) => number[]; to?: string; label?: string }[] = [];
  const I = (f: (off: number) => number[], to?: string, label?: string) => p.push({ b: f, to, label });
  I(() => ebpf(MOV64_X, 6, 1, 0, 0));
  I(() => ebpf(LDABS_H, 0, 0, 0, 12));
  I((o) => ebpf(JNE_K, 0, 0, o, 0x0800), 'ret0');
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
