/**
 * A map from uint32 keys to int32 values on typed arrays (open addressing, linear probing), for the
 * few per-frame lookups outside the flow table: outer source PA -> host, VNI -> subnet. Built once
 * per snapshot and never changed, so there are no deletions. Values are >= 0; a miss returns -1.
 * `get` does no allocation (a JS Map keyed by numbers above 2^31 boxes them).
 */
export class U32Map {
  private readonly keys: Uint32Array;
  private readonly vals: Int32Array;
  private readonly mask: number;
  size = 0;

  constructor(expected: number) {
    let cap = 8;
    while (cap < expected * 2) cap <<= 1;
    this.keys = new Uint32Array(cap);
    this.vals = new Int32Array(cap).fill(-1);
    this.mask = cap - 1;
  }

  private static mix(k: number): number {
    let h = Math.imul(k ^ (k >>> 16), 0x7feb352d);
    h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
    return (h ^ (h >>> 16)) >>> 0;
  }

  set(key: number, value: number): void {
    if (value < 0) throw new RangeError('U32Map values are >= 0');
    if ((this.size + 1) * 2 > this.keys.length) throw new RangeError('U32Map full');
    let i = U32Map.mix(key >>> 0) & this.mask;
    while (this.vals[i] >= 0 && this.keys[i] !== key >>> 0) i = (i + 1) & this.mask;
    if (this.vals[i] < 0) this.size++;
    this.keys[i] = key >>> 0;
    this.vals[i] = value;
  }

  get(key: number): number {
    let i = U32Map.mix(key >>> 0) & this.mask;
    for (;;) {
      const v = this.vals[i];
      if (v < 0) return -1;
      if (this.keys[i] === key >>> 0) return v;
      i = (i + 1) & this.mask;
    }
  }
}
