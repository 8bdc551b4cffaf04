/**
 * An eBPF interpreter for the socket-filter program io/steering.ts builds for a TAP's queue
 * selection (tapSteeringProgram), so unit tests can compare it with steerWorker on any frame,
 * truncated ones included, without root (test/integration/steering.test.ts has the kernel run
 * it). Only the instructions that program uses: the legacy packet loads (LD_ABS/LD_IND, big
 * endian; one past the end ends the program with 0, as in the kernel), a 32-bit load of
 * skb->len from the context, 32- and 64-bit ALU, and the conditional jumps. Anything else throws.
 */
const CTX = -1;

export function runEbpf(prog: Uint8Array, pkt: Uint8Array): number {
  if (prog.length % 8 !== 0) throw new Error('eBPF: not whole instructions');
  const r = new Array<number>(11).fill(0);
  r[1] = CTX;
  const v = new DataView(prog.buffer, prog.byteOffset, prog.byteLength);
  const load = (o: number, size: number): number | undefined => {
    if (o < 0 || o + size > pkt.length) return undefined;
    let x = 0;
    for (let i = 0; i < size; i++) x = x * 256 + pkt[o + i]!;
    return x;
  };
  const u32 = (x: number) => x >>> 0;
  for (let pc = 0; pc < prog.length / 8; pc++) {
    const code = prog[pc * 8]!;
    const dst = prog[pc * 8 + 1]! & 0x0f;
    const src = prog[pc * 8 + 1]! >> 4;
    const off = v.getInt16(pc * 8 + 2, true);
    const imm = v.getInt32(pc * 8 + 4, true);
    const jump = (cond: boolean) => {
      if (cond) pc += off;
    };
    switch (code) {
      // LD_ABS / LD_IND: r0 = packet[imm (+ src)]
      case 0x20: case 0x28: case 0x30: case 0x40: case 0x48: case 0x50: {
        if (r[6] !== CTX) throw new Error('eBPF: packet load without r6 = ctx');
        const size = code & 0x10 ? 1 : code & 0x08 ? 2 : 4;
        const x = load((code & 0x40 ? r[src]! : 0) + imm, size);
        if (x === undefined) return 0;
        r[0] = x;
        break;
      }
      case 0x61: // LDX_W dst = *(u32 *)(src + off): only skb->len
        if (r[src] !== CTX || off !== 0) throw new Error('eBPF: only skb->len is read from the context');
        r[dst] = pkt.length;
        break;
      case 0xbf: r[dst] = r[src]!; break;
      case 0xb7: r[dst] = imm; break;
      case 0x07: r[dst] = r[dst]! + imm; break;
      case 0x0f: r[dst] = r[dst]! + r[src]!; break;
      case 0xbc: r[dst] = u32(r[src]!); break;
      case 0x54: r[dst] = u32(r[dst]! & imm); break;
      case 0x64: r[dst] = u32(r[dst]! << imm); break;
      case 0x74: r[dst] = u32(r[dst]!) >>> imm; break;
      case 0xac: r[dst] = u32(r[dst]! ^ r[src]!); break;
      case 0x24: r[dst] = u32(Math.imul(r[dst]!, imm)); break;
      case 0x94: r[dst] = u32(r[dst]!) % u32(imm); break;
      case 0x05: jump(true); break;
      case 0x15: jump(r[dst] === imm); break;
      case 0x55: jump(r[dst] !== imm); break;
      case 0x45: jump((r[dst]! & imm) !== 0); break;
      case 0x2d: jump(r[dst]! > r[src]!); break;
      case 0x25: jump(r[dst]! > imm); break;
      case 0xa5: jump(r[dst]! < imm); break;
      case 0x95: return u32(r[0]!);
      default: throw new Error(`eBPF: opcode 0x${code.toString(16)} not interpreted`);
    }
    if (pc < -1 || pc >= prog.length / 8) throw new Error('eBPF: jump out of the program');
  }
  throw new Error('eBPF: ran off the end');
}
