/**
 * Connection tracking for the stateful ACL layer. A connection is keyed by its routing domain
 * (RDID) and its canonical 5-tuple (lower address first), so both directions find the same
 * entry; the entry remembers which side opened it (orig) so a frame is classified as orig or
 * reply. An ACL allows or denies the orig direction; the reply direction of a live connection is
 * allowed whatever the ACLs say about new connections that way.
 *
 * TCP follows the handshake and teardown loosely (SYN_SENT -> SYN_RECV -> ESTABLISHED -> FIN_WAIT
 * -> CLOSING -> TIME_WAIT; RST -> CLOSED), with a timeout per state; a connection first seen
 * mid-stream (no SYN) is picked up as ESTABLISHED. UDP, ICMP and other protocols live by idle
 * timeout. CLOSED / TIME_WAIT no longer admit reply traffic.
 *
 * Table layout as uft.ts: typed-array columns, a window of WINDOW slots per key, LRU eviction
 * within the window (counted). Each entry carries an id that changes on reuse, so a flow-table
 * entry that points here can tell its connection is gone.
 */
import { PROTO_ICMP, PROTO_TCP, PROTO_UDP, type FlowFields } from './flowkey.js';

const KW = 5;
const WINDOW = 8;

export const enum Ct {
  None = 0,
  SynSent,
  SynRecv,
  Established,
  FinWait,
  Closing,
  TimeWait,
  Closed,
  /** UDP / ICMP / other: one state, idle timeout. */
  Open,
}
export const CT_STATE_NAMES: readonly string[] = ['none', 'syn-sent', 'syn-recv', 'established', 'fin-wait', 'closing', 'time-wait', 'closed', 'open'];

export const CT_ORIG = 0;
export const CT_REPLY = 1;

const TCP_FIN = 0x01;
const TCP_SYN = 0x02;
const TCP_RST = 0x04;
const TCP_ACK = 0x10;

export interface CtTimeouts {
  synMs: number;
  establishedMs: number;
  finMs: number;
  timeWaitMs: number;
  closedMs: number;
  udpMs: number;
  icmpMs: number;
  otherMs: number;
}

export const DEFAULT_CT_TIMEOUTS: CtTimeouts = {
  synMs: 30_000,
  establishedMs: 3_600_000,
  finMs: 120_000,
  timeWaitMs: 30_000,
  closedMs: 10_000,
  udpMs: 60_000,
  icmpMs: 30_000,
  otherMs: 60_000,
};

export class ConnTrack {
  readonly capacity: number;
  private readonly mask: number;
  private readonly keys: Uint32Array;
  readonly used: Uint8Array;
  readonly hash: Uint32Array;
  readonly state: Uint8Array;
  readonly proto: Uint8Array;
  readonly origSrc: Uint32Array;
  readonly origSport: Int32Array;
  readonly id: Uint32Array;
  readonly lastSeen: Float64Array;
  private readonly key = new Uint32Array(KW);
  private nextId = 1;
  count = 0;
  created = 0;
  evictions = 0;
  /** Per-state timeouts by Ct value. */
  private readonly timeout: Float64Array;

  constructor(capacity = 65536, readonly timeouts: CtTimeouts = DEFAULT_CT_TIMEOUTS) {
    let cap = WINDOW;
    while (cap < capacity) cap <<= 1;
    this.capacity = cap;
    this.mask = cap - 1;
    this.keys = new Uint32Array(cap * KW);
    this.used = new Uint8Array(cap);
    this.hash = new Uint32Array(cap);
    this.state = new Uint8Array(cap);
    this.proto = new Uint8Array(cap);
    this.origSrc = new Uint32Array(cap);
    this.origSport = new Int32Array(cap);
    this.id = new Uint32Array(cap);
    this.lastSeen = new Float64Array(cap);
    const t = timeouts;
    this.timeout = Float64Array.from([0, t.synMs, t.synMs, t.establishedMs, t.finMs, t.finMs, t.timeWaitMs, t.closedMs, 0]);
  }

  /** Ports of the frame as conntrack sees them: TCP/UDP ports; ICMP: the identifier both ways. */
  private static ports(f: FlowFields): number {
    if (f.proto === PROTO_ICMP) return f.dport;
    return f.l4 ? f.sport : 0;
  }
  private static dports(f: FlowFields): number {
    if (f.proto === PROTO_ICMP) return f.dport;
    return f.l4 ? f.dport : 0;
  }

  private fill(rdid: number, f: FlowFields): number {
    const sp = ConnTrack.ports(f);
    const dp = ConnTrack.dports(f);
    const k = this.key;
    k[0] = rdid;
    k[4] = f.proto & 0xff;
    if (f.src < f.dst || (f.src === f.dst && sp <= dp)) {
      k[1] = f.src;
      k[2] = f.dst;
      k[3] = (sp << 16) | dp;
    } else {
      k[1] = f.dst;
      k[2] = f.src;
      k[3] = (dp << 16) | sp;
    }
    let h = 0x811c9dc5;
    for (let i = 0; i < KW; i++) {
      h = Math.imul(h ^ k[i], 0x01000193);
      h ^= h >>> 15;
    }
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
    return (h ^ (h >>> 13)) >>> 0;
  }

  private keyEquals(s: number): boolean {
    const base = s * KW;
    const k = this.key;
    return this.keys[base] === k[0] && this.keys[base + 1] === k[1] && this.keys[base + 2] === k[2] && this.keys[base + 3] === k[3] && this.keys[base + 4] === k[4];
  }

  private timeoutOf(s: number): number {
    const st = this.state[s];
    if (st !== Ct.Open) return this.timeout[st];
    const p = this.proto[s];
    return p === PROTO_UDP ? this.timeouts.udpMs : p === PROTO_ICMP ? this.timeouts.icmpMs : this.timeouts.otherMs;
  }

  /** True when slot `s` still holds connection `id` and has not timed out. */
  alive(s: number, id: number, now: number): boolean {
    return this.used[s] !== 0 && this.id[s] === id && now - this.lastSeen[s] <= this.timeoutOf(s);
  }

  /** The live entry of `f`'s connection in `rdid`, or -1. */
  find(rdid: number, f: FlowFields, now: number): number {
    const h = this.fill(rdid, f);
    let s = h & this.mask;
    for (let i = 0; i < WINDOW; i++, s = (s + 1) & this.mask) {
      if (this.used[s] !== 0 && this.hash[s] === h && this.keyEquals(s)) {
        if (now - this.lastSeen[s] > this.timeoutOf(s)) {
          this.used[s] = 0;
          this.count--;
          return -1;
        }
        return s;
      }
    }
    return -1;
  }

  /** CT_ORIG or CT_REPLY: which side of connection `s` sent `f`. */
  direction(s: number, f: FlowFields): number {
    return this.origSrc[s] === f.src && this.origSport[s] === ConnTrack.ports(f) ? CT_ORIG : CT_REPLY;
  }

  /** True when connection `s` admits reply traffic. */
  admitsReply(s: number): boolean {
    const st = this.state[s];
    return st !== Ct.Closed && st !== Ct.TimeWait && st !== Ct.None;
  }

  /** Starts (or restarts) tracking `f`'s connection with `f` as the orig direction. */
  create(rdid: number, f: FlowFields, now: number): number {
    const h = this.fill(rdid, f);
    let s = h & this.mask;
    let slot = -1;
    let oldest = -1;
    for (let i = 0; i < WINDOW; i++, s = (s + 1) & this.mask) {
      if (this.used[s] !== 0 && this.hash[s] === h && this.keyEquals(s)) {
        slot = s;
        this.count--;
        break;
      }
      if (this.used[s] === 0 || now - this.lastSeen[s] > this.timeoutOf(s)) {
        if (slot < 0) slot = s;
        continue;
      }
      if (oldest < 0 || this.lastSeen[s] < this.lastSeen[oldest]) oldest = s;
    }
    if (slot < 0) {
      slot = oldest;
      this.evictions++;
      this.count--;
    } else if (this.used[slot] !== 0 && !this.keyEquals(slot)) {
      this.count--;
    }
    s = slot;
    this.keys.set(this.key, s * KW);
    this.used[s] = 1;
    this.hash[s] = h;
    this.proto[s] = f.proto & 0xff;
    this.origSrc[s] = f.src;
    this.origSport[s] = ConnTrack.ports(f);
    this.id[s] = this.nextId;
    this.nextId = (this.nextId + 1) >>> 0 || 1;
    this.lastSeen[s] = now;
    if (f.proto === PROTO_TCP) {
      const fl = f.tcpFlags;
      this.state[s] = fl & TCP_RST ? Ct.Closed : (fl & (TCP_SYN | TCP_ACK)) === TCP_SYN ? Ct.SynSent : Ct.Established;
    } else {
      this.state[s] = Ct.Open;
    }
    this.count++;
    this.created++;
    return s;
  }

  /** Advances connection `s` by frame `f` sent in direction `dir` at `now`. */
  track(s: number, dir: number, f: FlowFields, now: number): void {
    this.lastSeen[s] = now;
    if (this.proto[s] !== PROTO_TCP) return;
    const fl = f.tcpFlags;
    const st = this.state[s];
    if (fl & TCP_RST) {
      this.state[s] = Ct.Closed;
      return;
    }
    if (fl & TCP_SYN) {
      if (dir === CT_ORIG && (fl & TCP_ACK) === 0) {
        if (st === Ct.TimeWait || st === Ct.Closed) this.state[s] = Ct.SynSent;
      } else if (dir === CT_REPLY && fl & TCP_ACK && st === Ct.SynSent) {
        this.state[s] = Ct.SynRecv;
      }
      return;
    }
    if (fl & TCP_FIN) {
      if (st === Ct.SynSent || st === Ct.SynRecv || st === Ct.Established) this.state[s] = Ct.FinWait;
      else if (st === Ct.FinWait) this.state[s] = Ct.Closing;
      return;
    }
    if (fl & TCP_ACK) {
      if (st === Ct.SynRecv) this.state[s] = Ct.Established;
      else if (st === Ct.Closing) this.state[s] = Ct.TimeWait;
    }
  }

  kill(s: number): void {
    if (this.used[s] === 0) return;
    this.used[s] = 0;
    this.count--;
  }

  clear(): void {
    this.used.fill(0);
    this.count = 0;
  }
}
