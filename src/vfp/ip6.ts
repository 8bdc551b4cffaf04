/**
 * IPv6 CAs in the dataplane's tables. A flow key, a connection and the layers hold an IPv6
 * address as a small number: its stable id from the IdRegistry (ids.ts), looked up once per frame
 * at the edge (flowkey.parseFrame) in an open-addressing table of every address policy knows on
 * this host's snapshot: the CAs and EUI-64 link-local addresses of all endpoints, each dual-stack
 * subnet's gateway (prefix::1) and the router's link-local address. Every other address is id 0.
 *
 * Why that is exact: a unicast IPv6 frame is forwarded only when its source is the sending port's
 * own CA or link-local address and its destination an endpoint's or the router's (port-security,
 * vnet, router): all of them known, so two different forwarded flows never share a key. Frames
 * with an unknown address are dropped for a reason that does not depend on which unknown address
 * it was, so a cached drop keyed by id 0 is the right answer for all of them. ND is never cached
 * (its answer depends on the target). IPv6 ACL prefixes are matched on the real address bits
 * (FlowFields.a6), not on ids. The ids are stable for the agent's lifetime, so a connection made
 * under one policy cannot be taken for another address's after a reload. IPv4 and IPv6 flows
 * never meet: the flow key holds the EtherType, and connection tracking the address family.
 */
import { formatIpv6, eui64LinkLocal, parseCidr6, parseIpv6 } from '../wire/addr6.js';
import { readU32 } from '../wire/bytes.js';
import { ipv6Gateway } from '../policy/ipv6.js';
import type { IdRegistry } from './ids.js';

/** Address (4 words) -> id; plain typed arrays so it survives structured clone as it is. */
export interface AddrTable6 {
  readonly mask: number;
  readonly keys: Uint32Array;
  readonly ids: Int32Array;
}

function hash4(a: number, b: number, c: number, d: number): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ b;
  h = Math.imul(h ^ (h >>> 15), 0xc2b2ae35) ^ c;
  h = Math.imul(h ^ (h >>> 13), 0x27d4eb2f) ^ d;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  return (h ^ (h >>> 15)) >>> 0;
}

/** A table of `entries` (address bytes, id > 0). */
export function addrTable6(entries: readonly (readonly [Uint8Array, number])[]): AddrTable6 {
  let cap = 4;
  while (cap < entries.length * 2 + 2) cap <<= 1;
  const keys = new Uint32Array(cap * 4);
  const ids = new Int32Array(cap);
  const mask = cap - 1;
  for (const [a, id] of entries) {
    const w0 = readU32(a, 0);
    const w1 = readU32(a, 4);
    const w2 = readU32(a, 8);
    const w3 = readU32(a, 12);
    let s = hash4(w0, w1, w2, w3) & mask;
    while (ids[s] !== 0 && !(keys[s * 4] === w0 && keys[s * 4 + 1] === w1 && keys[s * 4 + 2] === w2 && keys[s * 4 + 3] === w3)) s = (s + 1) & mask;
    keys[s * 4] = w0;
    keys[s * 4 + 1] = w1;
    keys[s * 4 + 2] = w2;
    keys[s * 4 + 3] = w3;
    ids[s] = id;
  }
  return { mask, keys, ids };
}

/** The id of the address whose words are w0..w3, or 0. */
export function addrId6(t: AddrTable6, w0: number, w1: number, w2: number, w3: number): number {
  const keys = t.keys;
  const ids = t.ids;
  let s = hash4(w0, w1, w2, w3) & t.mask;
  for (;;) {
    const id = ids[s];
    if (id === 0) return 0;
    const k = s * 4;
    if (keys[k] === w0 && keys[k + 1] === w1 && keys[k + 2] === w2 && keys[k + 3] === w3) return id;
    s = (s + 1) & t.mask;
  }
}

/** A dual-stack subnet's IPv6 side. */
export interface SubnetV6 {
  readonly prefix: Uint8Array;
  readonly prefixLen: number;
  readonly prefixText: string;
  /** prefix::1, the router's address in the subnet. */
  readonly gateway: Uint8Array;
  readonly gatewayText: string;
  readonly gatewayId: number;
}

/** An endpoint's IPv6 CA and its link-local address (EUI-64 of its MAC). */
export interface EndpointV6 {
  readonly addr: Uint8Array;
  readonly id: number;
  readonly text: string;
  readonly llId: number;
  readonly llText: string;
  /** Its subnet's IPv6 prefix length and gateway (what the agent configures in the namespace). */
  readonly prefixLen: number;
  readonly gatewayText: string;
}

/** The snapshot's IPv6 tables. */
export interface SnapshotV6 {
  readonly table: AddrTable6;
  /** Per RDID: CA id -> endpoint index (what the router routes to). */
  readonly endpointById: readonly ReadonlyMap<number, number>[];
  /** Per RDID: link-local id -> endpoint index (what ND answers; never routed). */
  readonly endpointByLl: readonly ReadonlyMap<number, number>[];
  /** The router's link-local address (EUI-64 of the router MAC). */
  readonly routerLl: Uint8Array;
  readonly routerLlText: string;
  readonly routerLlId: number;
}

/** Collects the addresses of one compile (snapshot.ts calls it per subnet and endpoint). */
export class V6Builder {
  private readonly entries: [Uint8Array, number][] = [];
  private readonly routerLl: Uint8Array;
  private readonly routerLlId: number;

  constructor(
    private readonly ids: IdRegistry,
    routerMac: number,
    rdids: number,
  ) {
    this.routerLl = eui64LinkLocal(routerMac);
    this.routerLlId = this.add(this.routerLl);
    this.byId = Array.from({ length: rdids }, () => new Map<number, number>());
    this.byLl = Array.from({ length: rdids }, () => new Map<number, number>());
  }

  private readonly byId: Map<number, number>[];
  private readonly byLl: Map<number, number>[];

  private add(a: Uint8Array): number {
    const id = this.ids.address6(formatIpv6(a));
    this.entries.push([a, id]);
    return id;
  }

  subnet(prefixText: string | undefined): SubnetV6 | null {
    if (prefixText === undefined) return null;
    const c = parseCidr6(prefixText);
    if (typeof c === 'string') throw new Error(c);
    const gateway = ipv6Gateway(c.net);
    return Object.freeze({ prefix: c.net, prefixLen: c.len, prefixText: `${formatIpv6(c.net)}/${c.len}`, gateway, gatewayText: formatIpv6(gateway), gatewayId: this.add(gateway) });
  }

  endpoint(text: string | undefined, s6: SubnetV6 | null, mac: number, rdid: number, endpoint: number): EndpointV6 | null {
    if (text === undefined || s6 === null) return null;
    const addr = parseIpv6(text);
    if (addr === undefined) throw new Error(`bad IPv6 address ${text}`);
    const ll = eui64LinkLocal(mac);
    const id = this.add(addr);
    const llId = this.add(ll);
    this.byId[rdid]!.set(id, endpoint);
    if (!this.byLl[rdid]!.has(llId)) this.byLl[rdid]!.set(llId, endpoint);
    return Object.freeze({ addr, id, text: formatIpv6(addr), llId, llText: formatIpv6(ll), prefixLen: s6.prefixLen, gatewayText: s6.gatewayText });
  }

  build(): SnapshotV6 {
    return Object.freeze({ table: addrTable6(this.entries), endpointById: this.byId, endpointByLl: this.byLl, routerLl: this.routerLl, routerLlText: formatIpv6(this.routerLl), routerLlId: this.routerLlId });
  }
}
