/**
 * The MAC table of the Hyper-V style learning switches (issue 14), one per worker (a worker's
 * engine owns it, like its connection table). Per switch (by the switch's stable id, so a
 * reload that reorders switches keeps what was learned): source MAC -> the port it was last seen
 * on, and when. An entry older than `agingMs` (300 s, the Linux bridge's default ageing time) is
 * as good as absent: the frame floods and the next frame from that MAC learns it again.
 * Entries are numbers in Maps keyed by the 48-bit MAC: setting an existing key allocates nothing.
 */
export class MacTable {
  private port: Map<number, number>[] = [];
  private seen: Map<number, number>[] = [];
  /** Entries learned (new MAC, or a MAC that moved to another port) since the table was made. */
  learned = 0;

  constructor(readonly agingMs = 300_000) {}

  private tables(sw: number): void {
    while (this.port.length <= sw) {
      this.port.push(new Map());
      this.seen.push(new Map());
    }
  }

  /** MAC `mac` was the source of a frame from port `p` on switch `sw` at `now`. */
  learn(sw: number, mac: number, p: number, now: number): void {
    if (sw >= this.port.length) this.tables(sw);
    const t = this.port[sw];
    if (t.get(mac) !== p) {
      t.set(mac, p);
      this.learned++;
    }
    this.seen[sw].set(mac, now);
  }

  /** The port `mac` was last seen on in switch `sw`, or -1 (never, or aged out: then forgotten). */
  lookup(sw: number, mac: number, now: number): number {
    if (sw >= this.port.length) return -1;
    const p = this.port[sw].get(mac);
    if (p === undefined) return -1;
    if (now - this.seen[sw].get(mac)! > this.agingMs) {
      this.forget(sw, mac);
      return -1;
    }
    return p;
  }

  forget(sw: number, mac: number): void {
    if (sw >= this.port.length) return;
    this.port[sw].delete(mac);
    this.seen[sw].delete(mac);
  }

  /** The live entries of switch `sw` as [mac, port, age ms] (ctl). */
  entries(sw: number, now: number): [number, number, number][] {
    if (sw >= this.port.length) return [];
    const out: [number, number, number][] = [];
    for (const [mac, p] of this.port[sw]) {
      const age = now - this.seen[sw].get(mac)!;
      if (age <= this.agingMs) out.push([mac, p, age]);
    }
    return out;
  }
}
