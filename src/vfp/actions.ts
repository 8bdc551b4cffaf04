/**
 * Action records: the composed result of the layers for a flow, interned so that every flow with
 * the same result shares one record and a flow-table entry holds just its index. A record says:
 * drop (with the reason), deliver to a local port, or encapsulate (VXLAN or NVGRE, VNI/VSID, the
 * outer source and destination PAs) - optionally after the router's rewrite (destination MAC,
 * router MAC as source, TTL - 1). Per-flow entropy (UDP source port, NVGRE FlowID 'hash') is not
 * here: it lives in the flow entry.
 *
 * Records never change once made. The slow path fills the `next*` fields and calls `intern()`.
 * Columns are typed arrays that grow by doubling (slow path only); `reset()` empties the table
 * (the flow table must be flushed with it).
 */

export const A_DROP = 0;
export const A_PORT = 1;
export const A_ENCAP = 2;

export const ENCAP_VXLAN = 0;
export const ENCAP_NVGRE = 1;

/** `route`: no rewrite, the router's IPv4 rewrite (TTL - 1, header checksum), its IPv6 one (hop limit - 1). */
export const ROUTE_NONE = 0;
export const ROUTE_V4 = 1;
export const ROUTE_V6 = 2;

export class ActionTable {
  count = 0;
  kind = new Uint8Array(64);
  drop = new Uint8Array(64);
  port = new Int32Array(64);
  encap = new Uint8Array(64);
  vni = new Uint32Array(64);
  flowId = new Int16Array(64);
  srcPa = new Uint32Array(64);
  dstPa = new Uint32Array(64);
  route = new Uint8Array(64);
  dstMac = new Float64Array(64);
  srcMac = new Float64Array(64);
  private index = new Int32Array(128).fill(-1);

  nextKind = 0;
  nextDrop = 0;
  nextPort = -1;
  nextEncap = 0;
  nextVni = 0;
  nextFlowId = 0;
  nextSrcPa = 0;
  nextDstPa = 0;
  nextRoute = 0;
  nextDstMac = 0;
  nextSrcMac = 0;

  /** Clears the `next*` fields. */
  begin(): void {
    this.nextKind = A_DROP;
    this.nextDrop = 0;
    this.nextPort = -1;
    this.nextEncap = 0;
    this.nextVni = 0;
    this.nextFlowId = 0;
    this.nextSrcPa = 0;
    this.nextDstPa = 0;
    this.nextRoute = 0;
    this.nextDstMac = 0;
    this.nextSrcMac = 0;
  }

  private hashNext(): number {
    let h = Math.imul(this.nextKind + 1, 0x9e3779b1) ^ this.nextDrop;
    h = Math.imul(h ^ this.nextPort, 0x85ebca6b) ^ this.nextEncap;
    h = Math.imul(h ^ this.nextVni, 0xc2b2ae35) ^ this.nextFlowId;
    h = Math.imul(h ^ this.nextSrcPa, 0x27d4eb2f) ^ this.nextDstPa;
    h = Math.imul(h ^ this.nextRoute, 0x165667b1) ^ (this.nextDstMac >>> 0);
    h = Math.imul(h ^ (this.nextSrcMac >>> 0), 0x9e3779b1);
    return (h ^ (h >>> 16)) >>> 0;
  }

  private equalsNext(i: number): boolean {
    return (
      this.kind[i] === this.nextKind &&
      this.drop[i] === this.nextDrop &&
      this.port[i] === this.nextPort &&
      this.encap[i] === this.nextEncap &&
      this.vni[i] === this.nextVni >>> 0 &&
      this.flowId[i] === this.nextFlowId &&
      this.srcPa[i] === this.nextSrcPa >>> 0 &&
      this.dstPa[i] === this.nextDstPa >>> 0 &&
      this.route[i] === this.nextRoute &&
      this.dstMac[i] === this.nextDstMac &&
      this.srcMac[i] === this.nextSrcMac
    );
  }

  /** The index of the record equal to the `next*` fields, made if new. */
  intern(): number {
    const mask = this.index.length - 1;
    let s = this.hashNext() & mask;
    for (;;) {
      const i = this.index[s];
      if (i < 0) break;
      if (this.equalsNext(i)) return i;
      s = (s + 1) & mask;
    }
    const i = this.count++;
    if (i >= this.kind.length) this.grow();
    this.kind[i] = this.nextKind;
    this.drop[i] = this.nextDrop;
    this.port[i] = this.nextPort;
    this.encap[i] = this.nextEncap;
    this.vni[i] = this.nextVni;
    this.flowId[i] = this.nextFlowId;
    this.srcPa[i] = this.nextSrcPa;
    this.dstPa[i] = this.nextDstPa;
    this.route[i] = this.nextRoute;
    this.dstMac[i] = this.nextDstMac;
    this.srcMac[i] = this.nextSrcMac;
    if (this.count * 2 > this.index.length) this.rehash();
    else this.index[s] = i;
    return i;
  }

  private grow(): void {
    const n = this.kind.length * 2;
    const g = <T extends Uint8Array | Int32Array | Uint32Array | Int16Array | Float64Array>(a: T, C: new (n: number) => T): T => {
      const b = new C(n);
      b.set(a as never);
      return b;
    };
    this.kind = g(this.kind, Uint8Array);
    this.drop = g(this.drop, Uint8Array);
    this.port = g(this.port, Int32Array);
    this.encap = g(this.encap, Uint8Array);
    this.vni = g(this.vni, Uint32Array);
    this.flowId = g(this.flowId, Int16Array);
    this.srcPa = g(this.srcPa, Uint32Array);
    this.dstPa = g(this.dstPa, Uint32Array);
    this.route = g(this.route, Uint8Array);
    this.dstMac = g(this.dstMac, Float64Array);
    this.srcMac = g(this.srcMac, Float64Array);
  }

  private rehash(): void {
    this.index = new Int32Array(this.index.length * 2).fill(-1);
    const mask = this.index.length - 1;
    const save = [this.nextKind, this.nextDrop, this.nextPort, this.nextEncap, this.nextVni, this.nextFlowId, this.nextSrcPa, this.nextDstPa, this.nextRoute, this.nextDstMac, this.nextSrcMac];
    for (let i = 0; i < this.count; i++) {
      this.nextKind = this.kind[i];
      this.nextDrop = this.drop[i];
      this.nextPort = this.port[i];
      this.nextEncap = this.encap[i];
      this.nextVni = this.vni[i];
      this.nextFlowId = this.flowId[i];
      this.nextSrcPa = this.srcPa[i];
      this.nextDstPa = this.dstPa[i];
      this.nextRoute = this.route[i];
      this.nextDstMac = this.dstMac[i];
      this.nextSrcMac = this.srcMac[i];
      let s = this.hashNext() & mask;
      while (this.index[s] >= 0) s = (s + 1) & mask;
      this.index[s] = i;
    }
    [this.nextKind, this.nextDrop, this.nextPort, this.nextEncap, this.nextVni, this.nextFlowId, this.nextSrcPa, this.nextDstPa, this.nextRoute, this.nextDstMac, this.nextSrcMac] = save;
  }

  reset(): void {
    this.count = 0;
    this.index.fill(-1);
  }
}
