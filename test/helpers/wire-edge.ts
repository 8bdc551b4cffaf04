/**
 * The receive-side edge check for tests, built only from src/wire validators: what an uplink does
 * to an outer frame before decapsulation (Ethernet -> IPv4 -> UDP 4789/VXLAN or GRE/NVGRE), in
 * the order the dataplane should apply them. Returns 'vxlan' or 'nvgre' when the frame may be
 * decapsulated, else "<layer>:<reason>" with the validator's reason name. It reads only
 * b[off, off + len), using lengths from the validated headers.
 */
import * as eth from '../../src/wire/ethernet.js';
import * as gre from '../../src/wire/gre.js';
import * as ipv4 from '../../src/wire/ipv4.js';
import * as udp from '../../src/wire/udp.js';
import * as vxlan from '../../src/wire/vxlan.js';

/** Offsets in an untagged outer IPv4 frame. */
export const OUTER_OFFSETS = { ip: 14, l4: 34, vxlan: 42, vxlanInner: 50, gre: 34, greInner: 42 } as const;

export function classifyOuter(b: Uint8Array, off: number, len: number): string {
  const l3 = eth.l3Offset(b, off, len);
  if (l3 < 0) return 'eth:truncated';
  if (eth.l3EtherType(b, l3) !== eth.ETHERTYPE_IPV4) return 'not-ipv4';
  const r4 = ipv4.ipv4Check(b, l3, off + len - l3);
  if (r4 !== ipv4.IPV4_OK) return `ipv4:${ipv4.IPV4_REASONS[r4]}`;
  const ihl = ipv4.headerLength(b, l3);
  const l4 = l3 + ihl;
  const l4Len = ipv4.totalLength(b, l3) - ihl;
  if (ipv4.isFragment(b, l3)) return 'ipv4:fragment';
  switch (ipv4.protocol(b, l3)) {
    case ipv4.IPPROTO_UDP: {
      const ru = udp.udpCheck(b, l4, l4Len);
      if (ru !== udp.UDP_OK) return `udp:${udp.UDP_REASONS[ru]}`;
      if (udp.dstPort(b, l4) !== vxlan.VXLAN_PORT) return 'not-tunnel';
      const rv = vxlan.vxlanCheck(b, l4 + udp.UDP_HEADER_LEN, udp.length(b, l4) - udp.UDP_HEADER_LEN);
      return rv === vxlan.VXLAN_OK ? 'vxlan' : `vxlan:${vxlan.VXLAN_REASONS[rv]}`;
    }
    case gre.IPPROTO_GRE: {
      const rg = gre.nvgreCheck(b, l4, l4Len);
      return rg === gre.NVGRE_OK ? 'nvgre' : `nvgre:${gre.NVGRE_REASONS[rg]}`;
    }
    default:
      return 'not-tunnel';
  }
}
