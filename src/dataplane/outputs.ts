/**
 * Output lists for one batch (STYLE.md 7, VPP's nexts[] / wireguard-go's elemsByPeer): while a
 * batch is classified, each frame's slot index is appended to the list of its output; when the
 * batch is done every list is written with one call. A port has two lists: slots of the input
 * batch, and slots of the copy batch (replicated frames). An uplink list also carries the outer
 * source and destination address per entry (one slot may appear several times: one encapsulated
 * broadcast sent to several hosts).
 */

export class PortOutputs {
  /** Per port index: slots of the input batch / of the copy batch. */
  main: Int32Array[] = [];
  mainN: Int32Array;
  copy: Int32Array[] = [];
  copyN: Int32Array;
  /** Port indices with something queued, in first-use order. */
  touched: Int32Array;
  touchedN = 0;
  private readonly flag: Uint8Array;

  constructor(
    ports: number,
    private readonly perList: number,
  ) {
    this.mainN = new Int32Array(ports);
    this.copyN = new Int32Array(ports);
    this.touched = new Int32Array(ports);
    this.flag = new Uint8Array(ports);
    for (let i = 0; i < ports; i++) {
      this.main.push(new Int32Array(perList));
      this.copy.push(new Int32Array(perList));
    }
  }

  get ports(): number {
    return this.mainN.length;
  }

  private touch(p: number): void {
    if (this.flag[p] === 0) {
      this.flag[p] = 1;
      this.touched[this.touchedN++] = p;
    }
  }

  /** False when the list is full (the caller flushes and retries). */
  addMain(p: number, slot: number): boolean {
    const n = this.mainN[p];
    if (n === this.perList) return false;
    this.main[p][n] = slot;
    this.mainN[p] = n + 1;
    this.touch(p);
    return true;
  }

  addCopy(p: number, slot: number): boolean {
    const n = this.copyN[p];
    if (n === this.perList) return false;
    this.copy[p][n] = slot;
    this.copyN[p] = n + 1;
    this.touch(p);
    return true;
  }

  reset(): void {
    for (let i = 0; i < this.touchedN; i++) {
      const p = this.touched[i];
      this.flag[p] = 0;
      this.mainN[p] = 0;
      this.copyN[p] = 0;
    }
    this.touchedN = 0;
  }
}

/**
 * Messages for one uplink. Each message is a byte range of the batch's slab (an encapsulated
 * frame, or with segmentation offload a run of equal-sized segments for UDP_SEGMENT: gso > 0),
 * with the outer source port (pool sockets), source and destination addresses.
 */
export class UplinkOutput {
  readonly start: Int32Array;
  readonly len: Int32Array;
  readonly gso: Uint16Array;
  readonly sport: Uint16Array;
  readonly src: Uint32Array;
  readonly dst: Uint32Array;
  /** 0, 1, 2, ...: the index list for Uplink.write over a view whose start/len are these arrays. */
  readonly iota: Int32Array;
  n = 0;

  constructor(readonly capacity: number) {
    this.start = new Int32Array(capacity);
    this.len = new Int32Array(capacity);
    this.gso = new Uint16Array(capacity);
    this.sport = new Uint16Array(capacity);
    this.src = new Uint32Array(capacity);
    this.dst = new Uint32Array(capacity);
    this.iota = new Int32Array(capacity);
    for (let i = 0; i < capacity; i++) this.iota[i] = i;
  }

  get full(): boolean {
    return this.n === this.capacity;
  }

  /** Room for `k` more messages. */
  room(k: number): boolean {
    return this.n + k <= this.capacity;
  }

  add(start: number, len: number, gso: number, sport: number, src: number, dst: number): void {
    const n = this.n++;
    this.start[n] = start;
    this.len[n] = len;
    this.gso[n] = gso;
    this.sport[n] = sport;
    this.src[n] = src;
    this.dst[n] = dst;
  }
}
