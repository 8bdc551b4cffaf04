/**
 * The ACL classifier: tuple space search (as Open vSwitch's lib/classifier.c), sized for 10k rules.
 *
 * Rules are grouped by their (source prefix length, destination prefix length) pair. Each group
 * is a hash table keyed by the masked (source, destination) pair, whose buckets list the group's
 * rules with that pair in rank order; protocol and port ranges are checked on the bucket's rules.
 * Groups are visited in order of their best (lowest) rank, and the search stops as soon as a
 * group cannot beat the best match so far. A typical ACL has a handful of distinct prefix-length
 * pairs, so a lookup costs a few hash probes whatever the number of rules.
 *
 * Everything is typed arrays; `lookup` allocates nothing. It returns the rank of the first
 * matching rule (the rule list's index), or -1; `aclMatchLinear` in acl.ts is its reference.
 */
import type { AclInput, AclRuleC } from './acl-types.js';

const PROTO_ANY = -1;
const PORTS_ANY = 0;
const PORTS_RANGE = 1;
const NON_IP_OK = 2;

function maskOf(len: number): number {
  return len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
}

function mix2(a: number, b: number): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ b;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 16), 0x27d4eb2f);
  return (h ^ (h >>> 15)) >>> 0;
}

export class TupleGroup {
  readonly srcMask: number;
  readonly dstMask: number;
  bestRank = 0x7fffffff;
  private readonly keyA: Uint32Array;
  private readonly keyB: Uint32Array;
  /** Per hash slot: start in `members` and count; count 0 = empty slot. */
  private readonly first: Int32Array;
  private readonly count: Int32Array;
  private readonly mask: number;
  readonly members: Int32Array;

  constructor(srcLen: number, dstLen: number, ranks: number[], rules: readonly AclRuleC[]) {
    this.srcMask = maskOf(srcLen);
    this.dstMask = maskOf(dstLen);
    const buckets = new Map<string, number[]>();
    for (const rank of ranks) {
      const r = rules[rank];
      const k = `${r.srcNet}/${r.dstNet}`;
      let l = buckets.get(k);
      if (!l) buckets.set(k, (l = []));
      l.push(rank);
      if (rank < this.bestRank) this.bestRank = rank;
    }
    let cap = 4;
    while (cap < buckets.size * 2) cap <<= 1;
    this.mask = cap - 1;
    this.keyA = new Uint32Array(cap);
    this.keyB = new Uint32Array(cap);
    this.first = new Int32Array(cap);
    this.count = new Int32Array(cap);
    this.members = new Int32Array(ranks.length);
    let n = 0;
    for (const l of buckets.values()) {
      l.sort((x, y) => x - y);
      const r = rules[l[0]];
      let i = mix2(r.srcNet, r.dstNet) & this.mask;
      while (this.count[i] !== 0) i = (i + 1) & this.mask;
      this.keyA[i] = r.srcNet;
      this.keyB[i] = r.dstNet;
      this.first[i] = n;
      this.count[i] = l.length;
      for (const rank of l) this.members[n++] = rank;
    }
  }

  /** Slot of the bucket for (src, dst) already masked, or -1. */
  find(src: number, dst: number): number {
    let i = mix2(src, dst) & this.mask;
    for (;;) {
      if (this.count[i] === 0) return -1;
      if (this.keyA[i] === src && this.keyB[i] === dst) return i;
      i = (i + 1) & this.mask;
    }
  }

  bucketFirst(slot: number): number {
    return this.first[slot];
  }
  bucketCount(slot: number): number {
    return this.count[slot];
  }
}

export class AclClassifier {
  /** Read by snapshot-transfer.ts to restore the groups' prototype after a structured clone. */
  readonly groups: TupleGroup[];
  private readonly proto: Int16Array;
  private readonly spLo: Int32Array;
  private readonly spHi: Int32Array;
  private readonly dpLo: Int32Array;
  private readonly dpHi: Int32Array;
  /** Per rule: PORTS_ANY | PORTS_RANGE, plus NON_IP_OK when it matches everything. */
  private readonly kind: Uint8Array;

  constructor(rules: readonly AclRuleC[]) {
    // indexed by rank: the rules may be a subset of a table (its IPv4 and any-family rules)
    const n = rules.reduce((m, r) => Math.max(m, r.rank + 1), 0);
    this.proto = new Int16Array(n);
    this.spLo = new Int32Array(n);
    this.spHi = new Int32Array(n);
    this.dpLo = new Int32Array(n);
    this.dpHi = new Int32Array(n);
    this.kind = new Uint8Array(n);
    const byShape = new Map<number, number[]>();
    for (const r of rules) {
      const i = r.rank;
      this.proto[i] = r.proto;
      this.spLo[i] = r.spLo;
      this.spHi[i] = r.spHi;
      this.dpLo[i] = r.dpLo;
      this.dpHi[i] = r.dpHi;
      const portsAny = r.spLo === 0 && r.spHi === 65535 && r.dpLo === 0 && r.dpHi === 65535;
      this.kind[i] =
        (portsAny ? PORTS_ANY : PORTS_RANGE) | (portsAny && r.proto === PROTO_ANY && r.srcLen === 0 && r.dstLen === 0 ? NON_IP_OK : 0);
      const shape = r.srcLen * 64 + r.dstLen;
      let l = byShape.get(shape);
      if (!l) byShape.set(shape, (l = []));
      l.push(i);
    }
    const byRank: AclRuleC[] = [];
    for (const r of rules) byRank[r.rank] = r;
    this.groups = [...byShape.entries()].map(([shape, ranks]) => new TupleGroup(Math.floor(shape / 64), shape % 64, ranks, byRank));
    this.groups.sort((a, b) => a.bestRank - b.bestRank);
  }

  get groupCount(): number {
    return this.groups.length;
  }

  /** Rank of the first rule matching `f`, or -1. */
  lookup(f: AclInput): number {
    let best = 0x7fffffff;
    const groups = this.groups;
    const isIp = f.isIp;
    const src = isIp ? f.src : 0;
    const dst = isIp ? f.dst : 0;
    for (let g = 0; g < groups.length; g++) {
      const grp = groups[g];
      if (grp.bestRank >= best) break;
      if (!isIp && (grp.srcMask !== 0 || grp.dstMask !== 0)) continue;
      const slot = grp.find((src & grp.srcMask) >>> 0, (dst & grp.dstMask) >>> 0);
      if (slot < 0) continue;
      const start = grp.bucketFirst(slot);
      const end = start + grp.bucketCount(slot);
      for (let m = start; m < end; m++) {
        const rank = grp.members[m];
        if (rank >= best) break;
        if (this.matchRest(rank, f)) {
          best = rank;
          break;
        }
      }
    }
    return best === 0x7fffffff ? -1 : best;
  }

  private matchRest(rank: number, f: AclInput): boolean {
    const kind = this.kind[rank];
    if (!f.isIp) return (kind & NON_IP_OK) !== 0;
    const p = this.proto[rank];
    if (p !== PROTO_ANY && p !== f.proto) return false;
    if ((kind & PORTS_RANGE) === 0) return true;
    if (!f.l4) return false;
    return f.sport >= this.spLo[rank] && f.sport <= this.spHi[rank] && f.dport >= this.dpLo[rank] && f.dport <= this.dpHi[rank];
  }
}
