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
 * timeout. CLOSED (a reset) no longer admits reply traffic; TIME_WAIT still does, but a new SYN
 * (no ACK), as netfilter keeps a connection in TIME_WAIT: the last ACK or a retransmitted FIN may
 * still cross, and the state is reached early (the first ACK after both FINs, from either side).
 *
 * Table layout as uft.ts: typed-array columns, a window of WINDOW slots per key. Each entry carries
 * an id that changes on reuse, so a flow-table entry that points here can tell its connection is
 * gone. Connections are keyed by zone: the virtual network's stable id (ids.ts), never its
 * position in a policy, so a reload cannot make one tenant's packets replies of another's.
 *
 * Fairness (as OVS conntrack zone limits): every connection is charged to the local port that
 * owns it (the sender of its first frame, or the local receiver of one from the wire); a port at
 * its quota (`perOwner`) gets no new connections - it fails closed alone. When a window is full,
 * a new connection may take the slot of a closed or time-wait connection first, then of a
 * half-open or closing one (oldest first); a live established (or UDP/ICMP open) connection is
 * never evicted, so a flood of new flows from one port cannot break another port's connections:
 * the new connection is refused instead (create returns -1, counted).
 *
 * Parties (a virtual switch's ports set their own IP addresses, so the 5-tuple does not name the
 * ports): a connection records the port that opened it (`origin`) and the port it was delivered to
 * (`receiver`; CT_FLOOD while only a flood carried it: layers/acl.ts pins the first port of the
 * switch that answers and whose inbound rules take the flooded frame). A frame may use the
 * connection's state only from its own side: the orig direction from the origin, the reply
 * direction (and ICMP errors about the orig direction) from the receiver. CT_ANY (HNV: port-security
 * binds a port to its CA, the ingress-guard a CA to its host) places no restriction.
 *
 * Across a worker restart (agent/workers.ts): the columns may live on one SharedArrayBuffer that
 * the agent's main thread owns (conntrackBytes), one per worker. The worker writes them as it
 * would its own arrays - no copy, no message, nothing extra per packet - and a restarted worker
 * builds its ConnTrack over the same buffer: it adopts every entry that checks out (the hash and
 * window match its key, a known state, not timed out; lastSeen is wall-clock ms, the same on every
 * thread) and frees the rest (a worker killed in the middle of create() can leave half an entry).
 * Its flow table starts empty and is refilled from the policy by the slow path, which finds the
 * connections here: the reply direction of an established connection is still allowed.
 */
import { K_IPV6, PROTO_ICMP, PROTO_ICMPV6, PROTO_TCP, PROTO_UDP, type FlowFields } from './flowkey.js';

const KW = 5;
const WINDOW = 16;
/** Eviction preference by state (lower first); EVICT_NEVER: not evictable while alive. */
const EVICT_NEVER = 9;

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

/** Party columns: any port may speak for this side (HNV zones, where addresses bind ports). */
export const CT_ANY = -1;
/** Receiver column: delivered by a flood, receiver not known yet (layers/acl.ts pins it). */
export const CT_FLOOD = -2;

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

/** Connection-tracking slots per worker unless the agent is told otherwise (`--ct-capacity`). */
export const DEFAULT_CT_CAPACITY = 262144;

/** Slots of a table asked for `capacity` (a power of two, at least one window). */
function slotsFor(capacity: number): number {
  let cap = WINDOW;
  while (cap < capacity) cap <<= 1;
  return cap;
}

/** Bytes per slot on a shared buffer: lastSeen (f64), the key words, hash, origSrc, origSport, id,
 * owner, origin, receiver (32 bit each), used, state, proto (8 bit each). */
const SLOT_BYTES = 8 + 4 * (KW + 7) + 3;

/** Size of the SharedArrayBuffer that holds a table of `capacity` slots (as the constructor rounds it). */
export function conntrackBytes(capacity: number): number {
  return slotsFor(capacity) * SLOT_BYTES;
}

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
  /** The local port id each connection is charged to. */
  readonly owner: Int32Array;
  /** The port that opened each connection, and the port it was delivered to (or CT_ANY, CT_FLOOD). */
  readonly origin: Int32Array;
  readonly receiver: Int32Array;
  /** Connections per owner port id (grows). */
  private perOwnerCount = new Int32Array(64);
  private sweepAt = 0;
  private readonly key = new Uint32Array(KW);
  private nextId = 1;
  count = 0;
  created = 0;
  evictions = 0;
  /** Connections refused: the owner at its quota, or a window of established connections. */
  refused = 0;
  /** Connections adopted from the shared buffer when this table was built over one. */
  restored = 0;
  /** Entries found there that did not check out (freed). */
  discarded = 0;
  /** Per-state timeouts by Ct value. */
  private readonly timeout: Float64Array;

  constructor(
    capacity = 65536,
    readonly timeouts: CtTimeouts = DEFAULT_CT_TIMEOUTS,
    /** Connections one port may own (default: no limit beyond the table). */
    public perOwner = Number.MAX_SAFE_INTEGER,
    /** The columns on this buffer (conntrackBytes(capacity) long), adopting what it holds; default:
     * private arrays. */
    shared?: SharedArrayBuffer,
    /** Wall-clock ms for the adoption check (the Forwarder's clock). */
    now = Date.now(),
  ) {
    const cap = slotsFor(capacity);
    this.capacity = cap;
    this.mask = cap - 1;
    const t = timeouts;
    this.timeout = Float64Array.from([0, t.synMs, t.synMs, t.establishedMs, t.finMs, t.finMs, t.timeWaitMs, t.closedMs, 0]);
    if (shared === undefined) {
      this.keys = new Uint32Array(cap * KW);
      this.used = new Uint8Array(cap);
      this.hash = new Uint32Array(cap);
      this.state = new Uint8Array(cap);
      this.proto = new Uint8Array(cap);
      this.origSrc = new Uint32Array(cap);
      this.origSport = new Int32Array(cap);
      this.id = new Uint32Array(cap);
      this.lastSeen = new Float64Array(cap);
      this.owner = new Int32Array(cap).fill(-1);
      this.origin = new Int32Array(cap).fill(CT_ANY);
      this.receiver = new Int32Array(cap).fill(CT_ANY);
      return;
    }
    if (shared.byteLength !== cap * SLOT_BYTES) throw new Error(`conntrack: shared buffer of ${shared.byteLength} bytes for ${cap} slots (want ${cap * SLOT_BYTES})`);
    // widest first, so every column is aligned (cap is a power of two >= WINDOW)
    let off = 0;
    const take = <T>(make: (b: SharedArrayBuffer, o: number, n: number) => T, n: number, width: number): T => {
      const v = make(shared, off, n);
      off += n * width;
      return v;
    };
    this.lastSeen = take((b, o, n) => new Float64Array(b, o, n), cap, 8);
    this.keys = take((b, o, n) => new Uint32Array(b, o, n), cap * KW, 4);
    this.hash = take((b, o, n) => new Uint32Array(b, o, n), cap, 4);
    this.origSrc = take((b, o, n) => new Uint32Array(b, o, n), cap, 4);
    this.origSport = take((b, o, n) => new Int32Array(b, o, n), cap, 4);
    this.id = take((b, o, n) => new Uint32Array(b, o, n), cap, 4);
    this.owner = take((b, o, n) => new Int32Array(b, o, n), cap, 4);
    this.origin = take((b, o, n) => new Int32Array(b, o, n), cap, 4);
    this.receiver = take((b, o, n) => new Int32Array(b, o, n), cap, 4);
    this.used = take((b, o, n) => new Uint8Array(b, o, n), cap, 1);
    this.state = take((b, o, n) => new Uint8Array(b, o, n), cap, 1);
    this.proto = take((b, o, n) => new Uint8Array(b, o, n), cap, 1);
    this.adopt(now);
  }

  /**
   * Takes over what a previous owner of the shared buffer left: every used slot whose key hashes
   * to its stored hash, sits in that hash's window, has a known state and protocol and has not
   * timed out is kept (and counted toward its owner's quota); anything else is freed. Runs once,
   * at construction (a worker's start), never on the forwarding path.
   */
  private adopt(now: number): void {
    let maxId = 0;
    for (let s = 0; s < this.capacity; s++) {
      if (this.used[s] === 0) continue;
      const base = s * KW;
      for (let i = 0; i < KW; i++) this.key[i] = this.keys[base + i];
      const h = this.hashKey();
      const st = this.state[s];
      const ok =
        this.hash[s] === h &&
        ((s - (h & this.mask)) & this.mask) < WINDOW &&
        st >= Ct.SynSent &&
        st <= Ct.Open &&
        (this.key[4] & 0xff) === this.proto[s] &&
        this.lastSeen[s] <= now + 1000 &&
        now - this.lastSeen[s] <= this.timeoutOf(s) &&
        this.origin[s] >= CT_ANY &&
        this.origin[s] < 1 << 20 &&
        this.receiver[s] >= CT_FLOOD &&
        this.receiver[s] < 1 << 20;
      if (!ok) {
        this.used[s] = 0;
        this.owner[s] = -1;
        this.discarded++;
        continue;
      }
      let o = this.owner[s];
      if (o < -1 || o >= 1 << 20) o = this.owner[s] = -1;
      if (o >= 0) {
        if (o >= this.perOwnerCount.length) {
          const g = new Int32Array(Math.max(o + 1, this.perOwnerCount.length * 2));
          g.set(this.perOwnerCount);
          this.perOwnerCount = g;
        }
        this.perOwnerCount[o]++;
      }
      if (this.id[s] > maxId) maxId = this.id[s];
      this.count++;
      this.restored++;
    }
    this.nextId = (maxId + 1) >>> 0 || 1;
  }

  /** Ports of the frame as conntrack sees them: TCP/UDP ports; ICMP: the identifier both ways. */
  private static ports(f: FlowFields): number {
    if (f.proto === PROTO_ICMP || f.proto === PROTO_ICMPV6) return f.dport;
    return f.l4 ? f.sport : 0;
  }
  private static dports(f: FlowFields): number {
    if (f.proto === PROTO_ICMP || f.proto === PROTO_ICMPV6) return f.dport;
    return f.l4 ? f.dport : 0;
  }

  private fill(zone: number, f: FlowFields): number {
    // IPv6 (addresses as ids, ip6.ts) is its own family: bit 8 of the protocol word
    return this.fillTuple(zone, f.kind === K_IPV6 ? f.proto | 0x100 : f.proto, f.src, f.dst, ConnTrack.ports(f), ConnTrack.dports(f));
  }

  private fillTuple(zone: number, proto: number, src: number, dst: number, sp: number, dp: number): number {
    const k = this.key;
    k[0] = zone;
    k[4] = proto & 0x1ff;
    if (src < dst || (src === dst && sp <= dp)) {
      k[1] = src;
      k[2] = dst;
      k[3] = (sp << 16) | dp;
    } else {
      k[1] = dst;
      k[2] = src;
      k[3] = (dp << 16) | sp;
    }
    return this.hashKey();
  }

  /** The hash of the key in `this.key`. */
  private hashKey(): number {
    const k = this.key;
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
    return p === PROTO_UDP ? this.timeouts.udpMs : p === PROTO_ICMP || p === PROTO_ICMPV6 ? this.timeouts.icmpMs : this.timeouts.otherMs;
  }

  /** True when slot `s` still holds connection `id` and has not timed out. */
  alive(s: number, id: number, now: number): boolean {
    return this.used[s] !== 0 && this.id[s] === id && now - this.lastSeen[s] <= this.timeoutOf(s);
  }

  /** The live entry of `f`'s connection in `zone`, or -1. */
  find(zone: number, f: FlowFields, now: number): number {
    return this.lookup(this.fill(zone, f), now);
  }

  /** The live entry of the connection of a packet `src`:`sp` -> `dst`:`dp` (ICMP: sp = dp = the
   * identifier), or -1: the connection an ICMP error's quoted header belongs to. */
  findTuple(zone: number, proto: number, src: number, dst: number, sp: number, dp: number, now: number): number {
    return this.lookup(this.fillTuple(zone, proto, src, dst, sp, dp), now);
  }

  private lookup(h: number, now: number): number {
    let s = h & this.mask;
    for (let i = 0; i < WINDOW; i++, s = (s + 1) & this.mask) {
      if (this.used[s] !== 0 && this.hash[s] === h && this.keyEquals(s)) {
        if (now - this.lastSeen[s] > this.timeoutOf(s)) {
          this.release(s);
          return -1;
        }
        return s;
      }
    }
    return -1;
  }

  /** Frees slot `s` and uncharges its owner. */
  private release(s: number): void {
    this.used[s] = 0;
    this.count--;
    const o = this.owner[s];
    if (o >= 0 && o < this.perOwnerCount.length) this.perOwnerCount[o]--;
    this.owner[s] = -1;
  }

  /** Connections port `owner` holds now. */
  ownedBy(owner: number): number {
    return owner >= 0 && owner < this.perOwnerCount.length ? this.perOwnerCount[owner] : 0;
  }

  private evictRank(s: number): number {
    const st = this.state[s];
    if (st === Ct.Closed || st === Ct.TimeWait || st === Ct.None) return 1;
    if (st === Ct.SynSent || st === Ct.SynRecv || st === Ct.FinWait || st === Ct.Closing) return 2;
    return EVICT_NEVER;
  }

  /** Frees timed-out connections among the next `n` slots (round robin), so quotas count live ones. */
  sweep(now: number, n: number): void {
    let s = this.sweepAt;
    for (let i = 0; i < n; i++) {
      if (this.used[s] !== 0 && now - this.lastSeen[s] > this.timeoutOf(s)) this.release(s);
      s = (s + 1) & this.mask;
    }
    this.sweepAt = s;
  }

  /** CT_ORIG or CT_REPLY: which side of connection `s` sent `f`. */
  direction(s: number, f: FlowFields): number {
    return this.origSrc[s] === f.src && this.origSport[s] === ConnTrack.ports(f) ? CT_ORIG : CT_REPLY;
  }

  /** CT_ORIG or CT_REPLY: which side of connection `s` sent a packet from `src`, port `sp` (ICMP:
   * the identifier), e.g. the packet an ICMP error quotes. */
  directionOf(s: number, src: number, sp: number): number {
    return this.origSrc[s] === src && this.origSport[s] === sp ? CT_ORIG : CT_REPLY;
  }

  /** True when connection `s` admits reply traffic with these TCP flags (0: not TCP, or an ICMP
   * error about it): not after a reset; in TIME_WAIT anything but a new SYN, which the rules decide. */
  admitsReply(s: number, tcpFlags = 0): boolean {
    const st = this.state[s];
    if (st === Ct.Closed || st === Ct.None) return false;
    return st !== Ct.TimeWait || (tcpFlags & (TCP_SYN | TCP_ACK)) !== TCP_SYN;
  }

  /** Starts (or restarts) tracking `f`'s connection in `zone` with `f` as the orig direction,
   * charged to port `owner`, opened by port `origin` and delivered to `receiver` (CT_ANY: any
   * port, as on HNV; CT_FLOOD); -1 when refused (owner at its quota, or no evictable slot). */
  create(zone: number, f: FlowFields, now: number, owner = -1, origin = CT_ANY, receiver = CT_ANY): number {
    const h = this.fill(zone, f);
    let s = h & this.mask;
    let slot = -1;
    let victim = -1;
    let victimRank = EVICT_NEVER;
    for (let i = 0; i < WINDOW; i++, s = (s + 1) & this.mask) {
      if (this.used[s] !== 0 && this.hash[s] === h && this.keyEquals(s)) {
        slot = s;
        break;
      }
      if (this.used[s] === 0 || now - this.lastSeen[s] > this.timeoutOf(s)) {
        if (slot < 0) slot = s;
        continue;
      }
      const r = this.evictRank(s);
      if (r < victimRank || (r === victimRank && victim >= 0 && this.lastSeen[s] < this.lastSeen[victim])) {
        victim = s;
        victimRank = r;
      }
    }
    const same = slot >= 0 && this.used[slot] !== 0 && this.hash[slot] === h && this.keyEquals(slot);
    if (!same && owner >= 0 && this.ownedBy(owner) >= this.perOwner) {
      this.refused++;
      return -1;
    }
    if (slot < 0) {
      if (victim < 0) {
        this.refused++;
        return -1;
      }
      slot = victim;
      this.evictions++;
    }
    if (this.used[slot] !== 0) this.release(slot);
    s = slot;
    if (owner >= 0) {
      if (owner >= this.perOwnerCount.length) {
        const g = new Int32Array(Math.max(owner + 1, this.perOwnerCount.length * 2));
        g.set(this.perOwnerCount);
        this.perOwnerCount = g;
      }
      this.perOwnerCount[owner]++;
    }
    this.owner[s] = owner;
    this.origin[s] = origin;
    this.receiver[s] = receiver;
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
    this.release(s);
  }

  clear(): void {
    this.used.fill(0);
    this.owner.fill(-1);
    this.perOwnerCount.fill(0);
    this.count = 0;
  }
}
