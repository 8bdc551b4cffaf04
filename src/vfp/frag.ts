/**
 * Fragments follow their first fragment. A later IPv4 or IPv6 fragment carries no L4 header, so
 * no ACL, port check or flow key can judge it; instead the verdict of the datagram's first
 * fragment (the interned action record: forward somewhere, or drop for a reason) is remembered
 * under (input port or sending host, source, destination, protocol, IP identification: 16 bits
 * for IPv4, the fragment header's 32 for IPv6, whose addresses are ids and protocol | 0x100) and
 * applied to the fragments that follow. A later fragment with no remembered first fragment, or one remembered
 * under an older snapshot, is dropped (`fragment-orphan`): fragments that arrive before their
 * first fragment are lost, as with any stateless filter that does not reassemble.
 *
 * A small typed-array table (WINDOW slots per key, oldest replaced), entries live `ttlMs`.
 */
const WINDOW = 4;
const KW = 5;

export class FragTable {
  private readonly mask: number;
  private readonly keys: Uint32Array;
  private readonly used: Uint8Array;
  private readonly action: Int32Array;
  private readonly flowHash: Uint32Array;
  private readonly gen: Float64Array;
  private readonly born: Float64Array;
  private readonly key = new Uint32Array(KW);

  constructor(
    capacity = 4096,
    readonly ttlMs = 30_000,
  ) {
    let cap = WINDOW;
    while (cap < capacity) cap <<= 1;
    this.mask = cap - 1;
    this.keys = new Uint32Array(cap * KW);
    this.used = new Uint8Array(cap);
    this.action = new Int32Array(cap);
    this.flowHash = new Uint32Array(cap);
    this.gen = new Float64Array(cap);
    this.born = new Float64Array(cap);
  }

  private fill(inPort: number, src: number, dst: number, proto: number, ipId: number): number {
    const k = this.key;
    k[0] = inPort;
    k[1] = src;
    k[2] = dst;
    k[3] = proto;
    k[4] = ipId >>> 0;
    let h = Math.imul(inPort ^ 0x9e3779b9, 0x85ebca6b) ^ src;
    h = Math.imul(h ^ (h >>> 15), 0xc2b2ae35) ^ dst;
    h = Math.imul(h ^ (h >>> 13), 0x27d4eb2f) ^ k[4];
    h = Math.imul(h ^ (h >>> 16), 0x7feb352d) ^ proto;
    return (h ^ (h >>> 16)) >>> 0;
  }

  private equals(s: number): boolean {
    const b = s * KW;
    const k = this.key;
    return this.keys[b] === k[0] && this.keys[b + 1] === k[1] && this.keys[b + 2] === k[2] && this.keys[b + 3] === k[3] && this.keys[b + 4] === k[4];
  }

  /** Remembers the verdict of a first fragment. */
  record(inPort: number, src: number, dst: number, proto: number, ipId: number, action: number, flowHash: number, gen: number, now: number): void {
    let s = this.fill(inPort, src, dst, proto, ipId) & this.mask;
    let slot = -1;
    for (let i = 0; i < WINDOW; i++, s = (s + 1) & this.mask) {
      if (this.used[s] === 0 || this.equals(s) || now - this.born[s] > this.ttlMs) {
        slot = s;
        break;
      }
      if (slot < 0 || this.born[s] < this.born[slot]) slot = s;
    }
    this.used[slot] = 1;
    this.keys.set(this.key, slot * KW);
    this.action[slot] = action;
    this.flowHash[slot] = flowHash;
    this.gen[slot] = gen;
    this.born[slot] = now;
  }

  /** The slot remembering this datagram's first fragment under generation `gen`, or -1. */
  find(inPort: number, src: number, dst: number, proto: number, ipId: number, gen: number, now: number): number {
    let s = this.fill(inPort, src, dst, proto, ipId) & this.mask;
    for (let i = 0; i < WINDOW; i++, s = (s + 1) & this.mask) {
      if (this.used[s] !== 0 && this.equals(s)) return now - this.born[s] <= this.ttlMs && this.gen[s] === gen ? s : -1;
    }
    return -1;
  }

  actionOf(s: number): number {
    return this.action[s];
  }

  flowHashOf(s: number): number {
    return this.flowHash[s];
  }

  clear(): void {
    this.used.fill(0);
  }
}
