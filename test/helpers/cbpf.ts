/**
 * A classic BPF interpreter for the instructions io/steering.ts assembles (pairs of
 * [code | jt << 16 | jf << 24, k]), with the kernel's rule that a load past the end ends the
 * program with 0. Lets unit tests run the VXLAN and NVGRE steering programs on any frame,
 * truncated ones included, without root; test/integration/steering.test.ts runs them in the kernel.
 * Of the ancillary loads only SKF_AD_PROTOCOL (the skb's EtherType, `opts.protocol`).
 */
export function runCbpf(prog: Uint32Array, pkt: Uint8Array, opts: { protocol?: number } = {}): number {
  const M = new Uint32Array(16);
  let A = 0;
  let X = 0;
  const at = (o: number, size: number): number | undefined => {
    if (o < 0 || o + size > pkt.length) return undefined;
    let v = 0;
    for (let i = 0; i < size; i++) v = (v * 256 + pkt[o + i]) >>> 0;
    return v;
  };
  for (let pc = 0; pc < prog.length / 2; pc++) {
    const w = prog[2 * pc];
    const k = prog[2 * pc + 1];
    const code = w & 0xffff;
    const jt = (w >>> 16) & 0xff;
    const jf = w >>> 24;
    const size = { 0x00: 4, 0x08: 2, 0x10: 1 }[code & 0x18] ?? 4;
    switch (code) {
      case 0x20: case 0x28: case 0x30: case 0x40: case 0x48: case 0x50: {
        if (!(code & 0x40) && k >= 0xfffff000) {
          if (k !== 0xfffff000 || opts.protocol === undefined) throw new Error(`cBPF: ancillary load 0x${k.toString(16)} not interpreted`);
          A = opts.protocol;
          break;
        }
        const v = at((code & 0x40 ? X + k : k) >>> 0, size);
        if (v === undefined) return 0;
        A = v;
        break;
      }
      case 0x80: A = pkt.length; break;
      case 0x00: A = k; break;
      case 0x60: A = M[k]; break;
      case 0xb1: {
        const v = at(k, 1);
        if (v === undefined) return 0;
        X = (v & 0x0f) << 2;
        break;
      }
      case 0x61: X = M[k]; break;
      case 0x02: M[k] = A; break;
      case 0x07: X = A; break;
      case 0x87: A = X; break;
      case 0x04: A = (A + k) >>> 0; break;
      case 0x0c: A = (A + X) >>> 0; break;
      case 0x24: A = Math.imul(A, k) >>> 0; break;
      case 0x54: A = (A & k) >>> 0; break;
      case 0x64: A = (A << k) >>> 0; break;
      case 0x74: A = A >>> k; break;
      case 0x94: A = A % k; break;
      case 0xac: A = (A ^ X) >>> 0; break;
      case 0x05: pc += k; break;
      case 0x15: pc += A === k ? jt : jf; break;
      case 0x35: pc += A >= k ? jt : jf; break;
      case 0x3d: pc += A >= X ? jt : jf; break;
      case 0x45: pc += (A & k) !== 0 ? jt : jf; break;
      case 0x06: return k;
      case 0x16: return A;
      default: throw new Error(`cBPF: opcode 0x${code.toString(16)} not interpreted`);
    }
  }
  throw new Error('cBPF: ran off the end');
}
