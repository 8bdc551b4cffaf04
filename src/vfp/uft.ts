/**
 * The unified flow table (UFT): an exact-match cache from a flow key (flowkey.ts, KEY_WORDS
 * uint32 words) to the composed result of the layers for that flow. No string keys, no objects
 * per entry: columns of typed arrays indexed by slot.
 *
 * Layout: `capacity` slots (a power of two), open addressing. A key may live in any of the WINDOW
 * slots starting at hash & mask; a lookup compares the stored 32-bit hash first, then the full key.
 * Inserting takes the key's own slot if present, else a free or idle-expired slot of the window,
 * else evicts the least recently hit entry of the window (counted). Because a key is only ever in
 * its window, deletion needs no tombstones: freeing a slot just clears it.
 *
 * An entry holds: the action record index (actions.ts: output, encapsulation, rewrites, or a drop
 * reason - denied flows are cached too), the inner flow hash (entropy for the outer UDP source
 * port / NVGRE FlowID), the snapshot generation it was computed under (an older generation is
 * re-evaluated before use, never applied blindly), the connection-tracking entry it depends on
 * (slot + id, checked on every hit), flags, frame and byte counters, creation and last-hit times.
 * Entries idle longer than `idleMs` are dead: lookups skip them, `sweep` frees them a few slots
 * at a time.
 */
import { KEY_WORDS } from './flowkey.js';

export const WINDOW = 8;

/** Entry flag: the entry was denied by an ACL of a port that tracks connections - on a hit,
 * the conntrack table is asked whether the flow has become the reply of an allowed connection. */
export const UF_DENY_CT_CHECK = 1;
/** Entry flag: allowed only as the reply direction of a tracked connection. */
export const UF_CT_REPLY = 2;

export interface UftStats {
  installs: number;
  evictions: number;
  expired: number;
}

export class FlowTable {
  readonly capacity: number;
  readonly idleMs: number;
  private readonly mask: number;
  readonly used: Uint8Array;
  readonly hash: Uint32Array;
  readonly keys: Uint32Array;
  readonly action: Int32Array;
  readonly flowHash: Uint32Array;
  readonly gen: Float64Array;
  readonly ct: Int32Array;
  readonly ctId: Uint32Array;
  readonly flags: Uint8Array;
  readonly frames: Float64Array;
  readonly bytes: Float64Array;
  readonly created: Float64Array;
  readonly lastHit: Float64Array;
  count = 0;
  private sweepAt = 0;
  readonly stats: UftStats = { installs: 0, evictions: 0, expired: 0 };

  constructor(capacity = 65536, idleMs = 60_000) {
    let cap = WINDOW;
    while (cap < capacity) cap <<= 1;
    this.capacity = cap;
    this.mask = cap - 1;
    this.idleMs = idleMs;
    this.used = new Uint8Array(cap);
    this.hash = new Uint32Array(cap);
    this.keys = new Uint32Array(cap * KEY_WORDS);
    this.action = new Int32Array(cap);
    this.flowHash = new Uint32Array(cap);
    this.gen = new Float64Array(cap);
    this.ct = new Int32Array(cap);
    this.ctId = new Uint32Array(cap);
    this.flags = new Uint8Array(cap);
    this.frames = new Float64Array(cap);
    this.bytes = new Float64Array(cap);
    this.created = new Float64Array(cap);
    this.lastHit = new Float64Array(cap);
  }

  private keyEquals(slot: number, key: Uint32Array): boolean {
    const k = this.keys;
    const base = slot * KEY_WORDS;
    for (let w = 0; w < KEY_WORDS; w++) if (k[base + w] !== key[w]) return false;
    return true;
  }

  /** The live slot holding `key` (hash `h`), or -1. An idle-expired entry is freed and missed. */
  lookup(key: Uint32Array, h: number, now: number): number {
    const mask = this.mask;
    let s = h & mask;
    for (let i = 0; i < WINDOW; i++, s = (s + 1) & mask) {
      if (this.used[s] === 0 || this.hash[s] !== h || !this.keyEquals(s, key)) continue;
      if (now - this.lastHit[s] > this.idleMs) {
        this.free(s);
        this.stats.expired++;
        return -1;
      }
      return s;
    }
    return -1;
  }

  /** A slot for `key`, reset (counters zero, created = now), key stored; evicts if it must. */
  insert(key: Uint32Array, h: number, now: number): number {
    const mask = this.mask;
    const first = h & mask;
    let free = -1;
    let oldest = -1;
    let s = first;
    for (let i = 0; i < WINDOW; i++, s = (s + 1) & mask) {
      if (this.used[s] === 0) {
        if (free < 0) free = s;
        continue;
      }
      if (this.hash[s] === h && this.keyEquals(s, key)) {
        free = s;
        this.count--;
        break;
      }
      if (now - this.lastHit[s] > this.idleMs) {
        if (free < 0) {
          this.free(s);
          this.stats.expired++;
          free = s;
        }
        continue;
      }
      if (oldest < 0 || this.lastHit[s] < this.lastHit[oldest]) oldest = s;
    }
    if (free < 0) {
      free = oldest;
      this.free(oldest);
      this.stats.evictions++;
    }
    s = free;
    this.used[s] = 1;
    this.hash[s] = h;
    this.keys.set(key, s * KEY_WORDS);
    this.frames[s] = 0;
    this.bytes[s] = 0;
    this.created[s] = now;
    this.lastHit[s] = now;
    this.ct[s] = -1;
    this.ctId[s] = 0;
    this.flags[s] = 0;
    this.count++;
    this.stats.installs++;
    return s;
  }

  free(s: number): void {
    if (this.used[s] === 0) return;
    this.used[s] = 0;
    this.hash[s] = 0;
    this.count--;
  }

  /** Frees idle entries among the next `n` slots (round robin); returns how many. */
  sweep(now: number, n: number): number {
    let freed = 0;
    let s = this.sweepAt;
    for (let i = 0; i < n; i++) {
      if (this.used[s] !== 0 && now - this.lastHit[s] > this.idleMs) {
        this.free(s);
        freed++;
      }
      s = (s + 1) & this.mask;
    }
    this.sweepAt = s;
    this.stats.expired += freed;
    return freed;
  }

  clear(): void {
    this.used.fill(0);
    this.hash.fill(0);
    this.count = 0;
  }
}
