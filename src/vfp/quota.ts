/**
 * New flows per second per port: a token bucket per port id (typed arrays, grown on demand).
 * Every flow the layers decide for the first time (a flow-table miss that would be installed)
 * takes a token from the port that owns it; a port out of tokens gets its new flows dropped
 * (`flow-limit`) while every other port goes on. Established flows hit the flow table and take
 * no token.
 */
export class FlowRate {
  private tokens = new Float64Array(64);
  private last = new Float64Array(64);
  private seen = new Uint8Array(64);

  constructor(
    /** Tokens per second (0: no limit). */
    public perSecond = 20_000,
    /** Bucket size: the burst a port may open at once. */
    public burst = 20_000,
  ) {}

  private grow(port: number): void {
    const n = Math.max(port + 1, this.tokens.length * 2);
    const t = new Float64Array(n);
    t.set(this.tokens);
    const l = new Float64Array(n);
    l.set(this.last);
    const s = new Uint8Array(n);
    s.set(this.seen);
    this.tokens = t;
    this.last = l;
    this.seen = s;
  }

  /** Takes one token from `port` at `now` (ms); false when it has none. */
  take(port: number, now: number): boolean {
    if (this.perSecond <= 0 || port < 0) return true;
    if (port >= this.tokens.length) this.grow(port);
    if (this.seen[port] === 0) {
      this.seen[port] = 1;
      this.tokens[port] = this.burst;
      this.last[port] = now;
    }
    const t = Math.min(this.burst, this.tokens[port] + ((now - this.last[port]) * this.perSecond) / 1000);
    this.last[port] = now;
    if (t < 1) {
      this.tokens[port] = t;
      return false;
    }
    this.tokens[port] = t - 1;
    return true;
  }

  /** True when `port` has a token now (trace: nothing is taken). */
  peek(port: number, now: number): boolean {
    if (this.perSecond <= 0 || port < 0 || port >= this.tokens.length || this.seen[port] === 0) return true;
    return Math.min(this.burst, this.tokens[port] + ((now - this.last[port]) * this.perSecond) / 1000) >= 1;
  }
}
