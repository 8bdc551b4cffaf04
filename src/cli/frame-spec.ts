/**
 * The frame description `switchyard ctl trace` takes, in the spirit of ofproto/trace:
 * `proto[,field=value...]`, e.g. `icmp,dst=10.1.1.11` or `tcp,dst=10.1.1.11,dport=1433,flags=S`.
 * Fields left out are filled by the agent from the port (its MAC and address) and from policy
 * (the destination's MAC, or the router's), so short specs trace what the tenant would send.
 * `ipv6` is a bare IPv6 header, `eth` a frame of EtherType `dl_type`; `vlan=N` adds an 802.1Q tag
 * to any of them (to see where the layers stop such frames).
 */
import { InvalidArgumentError } from 'commander';
import { normaliseMac, parseIpv4 } from '../policy/addr.js';
import type { FrameSpec } from '../agent/control-protocol.js';

const PROTOS = ['arp', 'icmp', 'tcp', 'udp', 'ip', 'ipv6', 'eth'] as const;
const TCP_FLAG_LETTERS: Record<string, number> = { F: 0x01, S: 0x02, R: 0x04, P: 0x08, A: 0x10, U: 0x20 };

export function parseFrameSpec(text: string): FrameSpec {
  const [proto, ...fields] = text.split(',').map((s) => s.trim());
  if (!proto || !(PROTOS as readonly string[]).includes(proto)) {
    throw new InvalidArgumentError(`frame spec must start with one of ${PROTOS.join('|')}, got "${proto ?? ''}"`);
  }
  const spec: FrameSpec = { proto: proto as FrameSpec['proto'] };
  for (const f of fields) {
    const eq = f.indexOf('=');
    if (eq < 1) throw new InvalidArgumentError(`"${f}": expected field=value`);
    const k = f.slice(0, eq);
    const v = f.slice(eq + 1);
    switch (k) {
      case 'src':
      case 'dst': {
        if (parseIpv4(v) === undefined) throw new InvalidArgumentError(`${k}: not an IPv4 address: "${v}"`);
        spec[k] = v;
        break;
      }
      case 'dl_src':
      case 'dl_dst': {
        const mac = normaliseMac(v);
        if (!mac) throw new InvalidArgumentError(`${k}: not a MAC address: "${v}"`);
        spec[k] = mac;
        break;
      }
      case 'sport':
      case 'dport':
      case 'ttl':
      case 'nw_proto': {
        const n = Number(v);
        const max = k === 'ttl' || k === 'nw_proto' ? 255 : 65535;
        if (!Number.isInteger(n) || n < 0 || n > max) throw new InvalidArgumentError(`${k}: must be 0..${max}, got "${v}"`);
        spec[k] = n;
        break;
      }
      case 'vlan': {
        const n = Number(v);
        if (!Number.isInteger(n) || n < 0 || n > 4095) throw new InvalidArgumentError(`vlan: must be 0..4095, got "${v}"`);
        spec.vlan = n;
        break;
      }
      case 'dl_type': {
        const n = Number(v);
        if (!Number.isInteger(n) || n < 0x600 || n > 0xffff) throw new InvalidArgumentError(`dl_type: an EtherType 0x0600..0xffff, got "${v}"`);
        spec.dl_type = n;
        break;
      }
      case 'flags': {
        let bits = 0;
        for (const c of v.toUpperCase()) {
          const b = TCP_FLAG_LETTERS[c];
          if (b === undefined) throw new InvalidArgumentError(`flags: unknown TCP flag "${c}" (use F S R P A U)`);
          bits |= b;
        }
        spec.flags = bits;
        break;
      }
      default:
        throw new InvalidArgumentError(`unknown field "${k}" (fields: src dst dl_src dl_dst dl_type vlan sport dport flags ttl nw_proto)`);
    }
  }
  return spec;
}
