/**
 * The agent's local control channel: one JSON object per line over a Unix socket
 * (`/run/switchyard/<host>.sock` by default). `switchyard ctl` is its client.
 */

export type ControlRequest =
  | { op: 'stats' }
  | { op: 'dump-flows'; port?: string }
  /** `fromHost`: for direction 'in', the host the frame comes from (default: where policy places its source). */
  | { op: 'trace'; port: string; direction: 'out' | 'in'; spec: FrameSpec; fromHost?: string }
  | { op: 'ports' }
  /** A port's layers per direction with their rules, and the uplink side's (the compiled policy as data). */
  | { op: 'layers'; port?: string }
  | { op: 'ping' }
  /** Test hook (agent started with SWITCHYARD_TEST_HOOKS=1): worker `worker` throws between
   * batches, or with `terminate` its thread is stopped from outside wherever it is. */
  | { op: 'debug-crash-worker'; worker?: number; terminate?: boolean };

/** A frame to trace, described by fields; the agent fills the rest from the port and policy. */
export interface FrameSpec {
  proto: 'arp' | 'icmp' | 'tcp' | 'udp' | 'ip' | 'ipv6' | 'eth';
  src?: string;
  dst?: string;
  dl_src?: string;
  dl_dst?: string;
  sport?: number;
  dport?: number;
  flags?: number;
  ttl?: number;
  nw_proto?: number;
  /** An 802.1Q tag with this VLAN id. */
  vlan?: number;
  /** EtherType of an `eth` frame (default 0x88b5). */
  dl_type?: number;
}

export type ControlResponse = { ok: true; result: unknown } | { ok: false; error: string };

export const DEFAULT_CONTROL_DIR = '/run/switchyard';

export function controlSocketPath(host: string, dir = DEFAULT_CONTROL_DIR): string {
  return `${dir}/${host}.sock`;
}
