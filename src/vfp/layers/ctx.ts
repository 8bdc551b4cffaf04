/**
 * What a layer's decision function may use: the snapshot, the action table it composes into, and
 * connection tracking (read by the ACL layers). Layers are pure decisions over the parsed frame
 * (FlowFields) and these tables; they never touch bytes, devices or counters.
 */
import { A_DROP, type ActionTable } from '../actions.js';
import type { AclLog } from '../acl-log.js';
import type { ConnTrack } from '../conntrack.js';
import { DONE, V_DROP, type Decision } from '../decision.js';
import type { Layer } from '../layer.js';
import type { MacTable } from '../mac-table.js';
import type { Snapshot } from '../snapshot.js';

export interface LayerCtx {
  snap: Snapshot;
  readonly actions: ActionTable;
  readonly ct: ConnTrack;
  /** The learning switches' MAC table (layers/switch.ts). */
  readonly macs: MacTable;
  /** Check every ACL lookup against the linear reference (tests). */
  checkLinear: boolean;
  /** Where rules with logging record the flows they decide. */
  readonly aclLog: AclLog;
}

export type LayerFn = (c: LayerCtx, d: Decision, L: Layer) => number;

/** Makes the verdict "drop for `reason`" (an interned drop action, so the flow table can keep it). */
export function dropWith(c: LayerCtx, d: Decision, reason: number, flags = 0): number {
  const a = c.actions;
  a.begin();
  a.nextKind = A_DROP;
  a.nextDrop = reason;
  d.action = a.intern();
  d.verdict = V_DROP;
  d.drop = reason;
  d.resFlags = flags;
  return DONE;
}

export function ipText(v: number): string {
  return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

export function macText(mac: number): string {
  return mac.toString(16).padStart(12, '0').replace(/(..)(?!$)/g, '$1:');
}

export const BROADCAST_MAC = 0xffffffffffff;
export const BROADCAST_IP = 0xffffffff;

/** A DHCP client's DISCOVER/REQUEST before it has an address: the only frames allowed from 0.0.0.0. */
export function isDhcpClient(d: Decision): boolean {
  const f = d.f;
  return f.proto === 17 && f.l4 && f.sport === 68 && f.dport === 67 && f.dst === BROADCAST_IP && f.dstMac === BROADCAST_MAC;
}

/** True when `ip` is a destination any port of a subnet may receive besides its own CA. */
export function isGroupIp(ip: number, subnetBroadcast: number): boolean {
  return ip === BROADCAST_IP || ip === subnetBroadcast || ip >>> 28 === 0xe;
}

/** The group (I/G) bit of a MAC held as a 48-bit number: broadcast or multicast. */
export function isGroupMac(mac: number): boolean {
  return Math.floor(mac / 0x10000000000) % 2 === 1;
}
