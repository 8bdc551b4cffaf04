/**
 * ACL logging (issue 15): a rule with `logging: true` logs each new flow it decides - one record
 * (rule, port, direction, 5-tuple, verdict) when the ACL layer decides a frame in the slow path.
 * Later frames of the flow hit the flow table and are never looked at here; a connection's reply
 * direction skips the ACLs and is not logged either. Broadcast and multicast copies are decided
 * per frame, so each is logged (the rate limit bounds them). Traced walks log nothing.
 *
 * Rate limit per worker: a token bucket of LOG_PER_SECOND records, burst LOG_BURST; a record over
 * it is counted as suppressed, not written. The sink (the worker posts to the agent, which writes
 * one JSON line through its logger) is null where no one listens (tests, benches): the counts
 * still move.
 */
import type { FlowFields } from './flowkey.js';

export const LOG_PER_SECOND = 100;
export const LOG_BURST = 100;

export interface AclLogRecord {
  /** "acl/rule". */
  rule: string;
  port: string;
  direction: 'inbound' | 'outbound';
  proto: number;
  src: string;
  sport: number;
  dst: string;
  dport: number;
  verdict: 'allow' | 'deny';
}

function ip(v: number): string {
  return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

export class AclLog {
  logged = 0;
  suppressed = 0;
  sink: ((r: AclLogRecord) => void) | null = null;
  private tokens = LOG_BURST;
  private last = 0;

  /** A logging rule decided the frame in `f` (slow path only). */
  record(rule: string, port: string, direction: 'inbound' | 'outbound', f: FlowFields, allow: boolean, now: number): void {
    if (now > this.last) {
      this.tokens = Math.min(LOG_BURST, this.tokens + ((now - this.last) * LOG_PER_SECOND) / 1000);
      this.last = now;
    }
    if (this.tokens < 1) {
      this.suppressed++;
      return;
    }
    this.tokens -= 1;
    this.logged++;
    // ICMP: ports are type << 8 | code and the identifier (flowkey.ts)
    this.sink?.({ rule, port, direction, proto: f.proto, src: ip(f.src), sport: f.sport, dst: ip(f.dst), dport: f.dport, verdict: allow ? 'allow' : 'deny' });
  }
}
