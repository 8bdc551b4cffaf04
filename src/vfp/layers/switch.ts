/**
 * The Hyper-V style virtual switch (issue 14) as two layers over the same port, batch, flow table
 * and counters as HNV's (DESIGN.md "Two kinds of network, one port model").
 *
 * switch-guard (outbound, first): what a switch port may send. A VM port and the host vNIC: the
 * Ethernet source (and an ARP sender's hardware address) must be the port's MAC from policy - the
 * VM sets its own IP addresses, so IPv4, IPv6 and ARP pass with any address; VLAN-tagged frames are
 * dropped (ports are untagged access ports). The bound NIC of an External switch (frames from the
 * wire): any unicast source except the MAC of a port or the host vNIC of this switch (that would be
 * a frame of ours looping back, or someone on the wire speaking for a VM), no VLAN tags.
 *
 * switch (outbound): the learning bridge. The source MAC is learned on the input port (not while
 * tracing); a group destination, or a unicast one the table does not know, is flooded to every
 * other port of the same switch (never to another switch or an HNV subnet: the flood list is the
 * switch's own); a known unicast destination goes to its port. A learned port that is no longer on
 * this switch (moved by a policy update) counts as unknown.
 */
import { CONTINUE, DONE, V_REPLICATE, type Decision } from '../decision.js';
import { Drop } from '../drops.js';
import { K_ARP, K_VLAN } from '../flowkey.js';
import type { Layer } from '../layer.js';
import { SW_NIC } from '../switch-compile.js';
import { dropWith, isGroupMac, macText, type LayerCtx } from './ctx.js';
import { aclIn, hasRules } from './acl.js';
import { CT_FLOOD } from '../conntrack.js';

export function switchGuard(c: LayerCtx, d: Decision, L: Layer): number {
  const f = d.f;
  const X = d.src!;
  const rec = d.rec !== null;
  if (f.kind === K_VLAN) {
    if (rec) d.step(L.name, `EtherType 0x${f.ethertype.toString(16)}`, 'VLAN-tagged frame: drop (untagged access port)');
    return dropWith(c, d, Drop.VlanTagged);
  }
  if (X.switchRole === SW_NIC) {
    const sw = c.snap.switches[X.switchIndex];
    if (isGroupMac(f.srcMac) || sw.portMacs.has(f.srcMac)) {
      if (rec) d.step(L.name, `from the wire on ${X.ifname}`, `source MAC ${macText(f.srcMac)} is ${isGroupMac(f.srcMac) ? 'a group address' : `a port of switch ${sw.name}`}: drop`);
      return dropWith(c, d, Drop.Spoofed);
    }
    if (rec) d.step(L.name, `from the wire on ${X.ifname}`, `source MAC ${macText(f.srcMac)}: pass`);
    return CONTINUE;
  }
  if (f.srcMac !== X.mac || (f.kind === K_ARP && f.arpSha !== X.mac)) {
    const what = f.srcMac !== X.mac ? 'source MAC' : 'ARP sender MAC';
    if (rec) d.step(L.name, `${what} must be ${X.macText}`, `${what} ${macText(f.srcMac !== X.mac ? f.srcMac : f.arpSha)}: drop (spoofed)`);
    return dropWith(c, d, Drop.Spoofed);
  }
  if (rec) d.step(L.name, `from ${X.macText}`, 'own MAC: pass (the VM sets its own addresses)');
  return CONTINUE;
}

/** Copies to every other port of switch `X.switchIndex` (unknown unicast, broadcast, multicast);
 * a port with an ACL gets its copy when its acl-in allows it (a denied copy is counted). An allowed
 * unknown unicast IP frame that tracking was asked for starts its connection here (no commit
 * follows a flood), so the reply finds it - but only when a port with rules took part: the sender
 * (its acl-out allowed the frame) or a receiver whose acl-in allowed its copy. A copy only ports
 * with rules refused (the others, with no rules, need no connection: nothing stops their replies)
 * starts none (needless: the connection's parties keep a refusing port out, layers/acl.ts
 * takesPart). A connection records its origin (the sender) and its receiver: the one port that
 * took a copy, else CT_FLOOD. A flood that continues a connection ends it only when its
 * receiver's copy is refused (as a unicast frame would); other refused copies leave it (their
 * ports are no party), and the same frame never starts it again. */
function flood(c: LayerCtx, d: Decision, L: Layer, why: string): number {
  const X = d.src!;
  const snap = c.snap;
  const sw = snap.switches[X.switchIndex];
  d.cacheable = false;
  d.group = isGroupMac(d.f.dstMac);
  d.flooding = true;
  const ports = sw.ports;
  // a port with rules took part: the sender, or a receiver with rules that took its copy
  let ruled = hasRules(X);
  for (let k = 0; k < ports.length; k++) {
    const p = ports[k];
    const Y = p !== X.index ? snap.portById[p] : undefined;
    if (Y === undefined) continue;
    if (Y.layersIn.length === 0) {
      d.repPorts[d.repN++] = p;
      continue;
    }
    d.dstPort = Y;
    if (aclIn(c, d, Y.layersIn[0]) === DONE) d.repDenied[d.repDeniedN++] = p;
    else {
      d.repPorts[d.repN++] = p;
      if (hasRules(Y)) ruled = true;
    }
  }
  d.dstPort = null;
  d.flooding = false;
  // a new connection starts here with the sender as origin and the one port that took a copy as
  // receiver, or CT_FLOOD (the first of them to answer becomes it: layers/acl.ts takesPart); a
  // connection this flood continues (d.ct) is not started again, even if its receiver's refused
  // copy ended it (acl-in): one frame never ends a connection and starts it again
  if (d.track && ruled && !d.ctReply && !d.ctRelated && !d.ctForeign && d.ct < 0 && d.rec === null && d.repN > 0) {
    c.ct.create(X.zone, d.f, d.now, X.index, X.index, d.repN === 1 ? d.repPorts[0] : CT_FLOOD);
  }
  if (d.rec) {
    const names: string[] = [];
    for (let k = 0; k < d.repN; k++) names.push(snap.portById[d.repPorts[k]]!.name);
    d.step(L.name, `${why} in switch ${sw.name}`, `flood to ${names.join(', ') || 'no other port'}`);
  }
  if (d.repN === 0) return dropWith(c, d, Drop.NoPort);
  d.verdict = V_REPLICATE;
  return DONE;
}

export function l2switch(c: LayerCtx, d: Decision, L: Layer): number {
  const f = d.f;
  const X = d.src!;
  const snap = c.snap;
  const sw = snap.switches[X.switchIndex];
  if (d.rec === null && !isGroupMac(f.srcMac)) c.macs.learn(sw.id, f.srcMac, X.index, d.now);
  if (isGroupMac(f.dstMac)) return flood(c, d, L, f.dstMac === 0xffffffffffff ? 'broadcast' : 'multicast');
  const p = c.macs.lookup(sw.id, f.dstMac, d.now);
  const Y = p >= 0 ? snap.portById[p] : undefined;
  if (Y === undefined || Y.switchIndex !== X.switchIndex) {
    if (p >= 0 && d.rec === null) c.macs.forget(sw.id, f.dstMac); // its port left the switch
    return flood(c, d, L, `unknown unicast ${macText(f.dstMac)}`);
  }
  if (Y.index === X.index) {
    if (d.rec) d.step(L.name, `${macText(f.dstMac)} learned on ${X.name} itself`, 'drop (no hairpin)');
    return dropWith(c, d, Drop.NoPort);
  }
  d.dstPort = Y;
  if (d.rec) d.step(L.name, `${macText(f.dstMac)} learned on ${Y.name} in switch ${sw.name}`, `deliver to ${Y.name}`);
  return CONTINUE;
}
