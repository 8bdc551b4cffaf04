// Byte helpers the steering tests share: an IPv4 packet behind an Ethernet header, and the
// prefix a BPF program sees in front of the inner frame (UDP payload offset, outer IPv4 + GRE).

/** `pkt` (an IPv4 packet) behind an Ethernet header of zero MACs. */
export function eth4(pkt: Uint8Array): Uint8Array {
  const f = new Uint8Array(14 + pkt.length);
  f[12] = 0x08;
  f.set(pkt, 14);
  return f;
}

/** `a` then `b`. */
export function concatBytes(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
