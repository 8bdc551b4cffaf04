/**
 * port-security (outbound): what a port may send at all, whatever its ACLs say. As OVN's
 * port_security, and further: the Ethernet source must be the port's MAC (so no multicast or
 * broadcast source either); VLAN-tagged frames are dropped (no port has a VLAN policy); IPv6 is
 * dropped from a port without an IPv6 CA (link-local, ND, RA and MLD included), and from a
 * dual-stack port checked by guards6.ts (its CA or EUI-64 link-local as source); EtherTypes other than
 * IPv4 and ARP are dropped (default deny). ARP's sender hardware and protocol addresses inside the
 * payload must be the port's own; IPv4's source must be the port's CA, 0.0.0.0 only for a DHCP
 * client's broadcast (UDP 68 -> 67 to 255.255.255.255).
 */
import { CONTINUE, type Decision } from '../decision.js';
import { Drop } from '../drops.js';
import { K_ARP, K_IPV6, K_OTHER, K_VLAN } from '../flowkey.js';
import type { Layer } from '../layer.js';
import { dropWith, ipText, isDhcpClient, macText, type LayerCtx } from './ctx.js';
import { portSecurity6 } from './guards6.js';

export function portSecurity(c: LayerCtx, d: Decision, L: Layer): number {
  const f = d.f;
  const X = d.src!;
  const rec = d.rec !== null;
  if (f.kind === K_VLAN) {
    if (rec) d.step(L.name, `EtherType 0x${f.ethertype.toString(16)}`, 'VLAN-tagged frame: drop (no VLAN policy on the port)');
    return dropWith(c, d, Drop.VlanTagged);
  }
  if (f.srcMac !== X.mac) {
    if (rec) d.step(L.name, `source MAC must be ${X.macText}`, `source MAC ${macText(f.srcMac)}: drop (spoofed)`);
    return dropWith(c, d, Drop.Spoofed);
  }
  if (f.kind === K_IPV6) return portSecurity6(c, d, L);
  if (f.kind === K_OTHER) {
    if (rec) d.step(L.name, `EtherType 0x${f.ethertype.toString(16).padStart(4, '0')}`, 'not IPv4 or ARP: drop (default deny)');
    return dropWith(c, d, Drop.Ethertype);
  }
  if (f.kind === K_ARP) {
    if (f.arpSha !== X.mac) {
      if (rec) d.step(L.name, `ARP sender MAC must be ${X.macText}`, `sender MAC ${macText(f.arpSha)}: drop (spoofed)`);
      return dropWith(c, d, Drop.Spoofed);
    }
    if (f.arpSpa === 0 && f.arpOp === 1) {
      if (rec) d.step(L.name, 'ARP sender 0.0.0.0', 'address probe: not answered, not forwarded');
      return dropWith(c, d, Drop.ArpIgnored);
    }
    if (f.arpSpa !== X.ip) {
      if (rec) d.step(L.name, `ARP sender IP must be ${X.ipText}`, `sender IP ${ipText(f.arpSpa)}: drop (spoofed)`);
      return dropWith(c, d, Drop.Spoofed);
    }
    if (rec) d.step(L.name, `ARP from ${X.macText} ${X.ipText}`, 'own addresses: pass');
    return CONTINUE;
  }
  if (f.src !== X.ip && !(f.src === 0 && isDhcpClient(d))) {
    if (rec) d.step(L.name, `IPv4 source must be ${X.ipText}`, `source ${ipText(f.src)}: drop (spoofed)`);
    return dropWith(c, d, Drop.Spoofed);
  }
  if (rec) d.step(L.name, `from ${X.macText} ${ipText(f.src)}`, f.src === 0 ? 'DHCP client from 0.0.0.0: pass' : 'own addresses: pass');
  return CONTINUE;
}
