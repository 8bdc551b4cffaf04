/**
 * Every Prometheus metric the agent exposes, and which counter of `ctl stats` feeds it: the one
 * place to look a metric up (README "Metrics" lists the same). Names follow Prometheus practice:
 * counters end in `_total`, the unit is in the name (`_frames_total`, `_bytes_total`,
 * `_seconds_total`, base units only), table sizes are gauges (`_entries`, `_entries_limit`, as
 * node_exporter's `node_nf_conntrack_entries`), and what varies within one kind of thing is a
 * label (port, direction, reason, result, kind), never part of the name. Every metric also has a
 * `host` label: several agents of a lab scrape alike.
 *
 * A counter the dataplane gains must be added here; test/unit/agent-metrics.test.ts fails on a
 * counter name that maps to nothing.
 */

export type MetricType = 'counter' | 'gauge';

export interface MetricFamily {
  name: string;
  type: MetricType;
  help: string;
  /** Labels besides `host`. */
  labels: readonly string[];
}

/** Where one counter goes: a metric, the values of its labels, and a factor to base units. */
export interface CounterMapping {
  metric: string;
  labels?: Readonly<Record<string, string>>;
  /** e.g. 1e-6: microseconds counted, seconds exposed. */
  scale?: number;
}

export const METRIC_FAMILIES: readonly MetricFamily[] = [
  // frames and bytes
  { name: 'switchyard_frames_total', type: 'counter', labels: ['path', 'direction'], help: 'Frames through the agent: path "port" (tenant ports) or "uplink" (the underlay); direction "rx" (read by the agent) or "tx" (written)' },
  { name: 'switchyard_bytes_total', type: 'counter', labels: ['path', 'direction'], help: 'Bytes of those frames (as read or written: inner frames on ports, datagrams on the uplink)' },
  { name: 'switchyard_port_frames_total', type: 'counter', labels: ['port', 'direction'], help: 'Frames per tenant port; rx: sent by the tenant, read by the agent; tx: delivered to the tenant' },
  { name: 'switchyard_port_bytes_total', type: 'counter', labels: ['port', 'direction'], help: 'Bytes per tenant port, as switchyard_port_frames_total' },
  { name: 'switchyard_port_drops_total', type: 'counter', labels: ['port'], help: 'Frames of this port dropped, any reason (switchyard_drops_total has the reasons)' },
  { name: 'switchyard_port_acl_denied_frames_total', type: 'counter', labels: ['port'], help: 'Frames of this port an ACL denied' },
  { name: 'switchyard_port_tx_full_frames_total', type: 'counter', labels: ['port'], help: 'Frames for this port its device did not take (queue full)' },
  { name: 'switchyard_drops_total', type: 'counter', labels: ['reason'], help: 'Frames dropped, by reason' },
  // unified flow table and connection tracking
  { name: 'switchyard_uft_lookups_total', type: 'counter', labels: ['result'], help: 'Unified flow table lookups: result "hit" (fast path) or "miss" (the layers ran)' },
  { name: 'switchyard_uft_installs_total', type: 'counter', labels: [], help: 'Flow table entries installed' },
  { name: 'switchyard_uft_revalidations_total', type: 'counter', labels: [], help: 'Flow table entries of an older policy generation evaluated again' },
  { name: 'switchyard_uft_evictions_total', type: 'counter', labels: [], help: 'Flow table entries evicted to make room' },
  { name: 'switchyard_uft_expirations_total', type: 'counter', labels: [], help: 'Flow table entries freed after idling' },
  { name: 'switchyard_uft_entries', type: 'gauge', labels: [], help: 'Flow table entries held, all workers (as of each worker\'s last batch)' },
  { name: 'switchyard_uft_entries_limit', type: 'gauge', labels: [], help: 'Flow table capacity in entries, all workers' },
  { name: 'switchyard_conntrack_created_total', type: 'counter', labels: [], help: 'Connections tracked' },
  { name: 'switchyard_conntrack_evictions_total', type: 'counter', labels: [], help: 'Connections evicted from a full conntrack table' },
  { name: 'switchyard_conntrack_refused_total', type: 'counter', labels: [], help: 'Connections refused: the conntrack table or the port\'s quota was full of live ones' },
  { name: 'switchyard_conntrack_entries', type: 'gauge', labels: [], help: 'Conntrack entries held, all workers (as of each worker\'s last batch)' },
  { name: 'switchyard_conntrack_entries_limit', type: 'gauge', labels: [], help: 'Conntrack capacity in entries, all workers' },
  // what the dataplane does besides forwarding
  { name: 'switchyard_generated_frames_total', type: 'counter', labels: ['kind'], help: 'Frames the dataplane answered with itself (ARP, ICMP, DHCP, ND, RA), by kind' },
  { name: 'switchyard_routed_frames_total', type: 'counter', labels: [], help: 'Frames routed between subnets' },
  { name: 'switchyard_replicated_frames_total', type: 'counter', labels: [], help: 'Copies made of broadcast and multicast frames' },
  { name: 'switchyard_mirrored_frames_total', type: 'counter', labels: [], help: 'Copies sent to mirror destination ports' },
  { name: 'switchyard_snapshot_swaps_total', type: 'counter', labels: [], help: 'Policy snapshots the workers switched to' },
  { name: 'switchyard_acl_log_lines_total', type: 'counter', labels: [], help: 'ACL log lines written' },
  { name: 'switchyard_acl_log_suppressed_lines_total', type: 'counter', labels: [], help: 'ACL log lines over the rate limit, not written' },
  // offloads and polling
  { name: 'switchyard_offload_frames_total', type: 'counter', labels: ['kind'], help: 'Super-frames: kind "tso" (segmented for the wire), "gro", "nvgre-gro", "vxlan-soft-gro" (coalesced from the wire)' },
  { name: 'switchyard_offload_segments_total', type: 'counter', labels: ['kind'], help: 'Segments in those super-frames' },
  { name: 'switchyard_gro_split_buffers_total', type: 'counter', labels: [], help: 'GRO buffers split into frames for a port without a virtio-net header' },
  { name: 'switchyard_checksums_finished_total', type: 'counter', labels: [], help: 'Partial checksums finished in software' },
  { name: 'switchyard_udp_gso_grouped_datagrams_total', type: 'counter', labels: [], help: 'Datagrams sent grouped into UDP_SEGMENT messages' },
  { name: 'switchyard_busy_poll_spins_total', type: 'counter', labels: [], help: 'Busy-poll spins after a wake-up' },
  { name: 'switchyard_busy_poll_hits_total', type: 'counter', labels: [], help: 'Busy polls that found frames (a wake-up saved each)' },
  { name: 'switchyard_busy_poll_seconds_total', type: 'counter', labels: [], help: 'CPU time spent busy polling' },
  { name: 'switchyard_nvgre_tx_ring_frames_total', type: 'counter', labels: ['path'], help: 'NVGRE packets by send path: "ring" (the AF_PACKET TX ring), "raw-ring-full" (the ring or device queue was full, or the packet socket refused it: the raw IP socket), "raw-fallback" (next hop not resolved or not confirmed, or larger than the device MTU: the raw IP socket)' },
  { name: 'switchyard_worker_wakeups_total', type: 'counter', labels: [], help: 'Wake-ups of the forwarding workers (readiness callbacks of a queue or uplink)' },
  { name: 'switchyard_worker_wakeup_frames_total', type: 'counter', labels: [], help: 'Frames and buffers read in those wake-ups (per wake-up: the batching)' },
  { name: 'switchyard_worker_wakeup_seconds_total', type: 'counter', labels: [], help: 'Time spent in those wake-ups (per wake-up: the cost of one)' },
  { name: 'switchyard_conntrack_restored_total', type: 'counter', labels: [], help: 'Connections a restarted worker adopted from its predecessor\'s table' },
  { name: 'switchyard_tap_uring_enters_total', type: 'counter', labels: [], help: 'io_uring_enter calls of the workers\' TAP I/O (--tap-io uring; each carries a batch of frames)' },
  { name: 'switchyard_tap_uring_frames_total', type: 'counter', labels: ['direction'], help: 'TAP frames read (rx) and written (tx) through io_uring (per enter: the batching)' },
  { name: 'switchyard_tap_uring_fallbacks_total', type: 'counter', labels: [], help: 'Workers or TAP queues that went back to read()/write() because the kernel refused io_uring' },
  // the agent
  { name: 'switchyard_worker_restarts_total', type: 'counter', labels: [], help: 'Forwarding workers restarted after a crash' },
  { name: 'switchyard_offload_fallbacks_total', type: 'counter', labels: [], help: 'Tenant ports opened without offloads the kernel refused' },
  { name: 'switchyard_nic_fanout_fallbacks_total', type: 'counter', labels: [], help: 'External switch NICs read through the kernel\'s fanout hash because it refused the steered group (replies may reach another worker than their flow)' },
  { name: 'switchyard_failed_ports', type: 'gauge', labels: [], help: 'Ports of the policy the agent could not set up' },
  { name: 'switchyard_policy_generation', type: 'gauge', labels: [], help: 'Generation of the policy snapshot in force' },
  // vhost-user ports (VMs)
  { name: 'switchyard_vhost_user_frames_total', type: 'counter', labels: ['port', 'direction'], help: 'Frames through a vhost-user port\'s rings; rx: from the guest' },
  { name: 'switchyard_vhost_user_errors_total', type: 'counter', labels: ['port', 'kind'], help: 'Guest ring and message errors of a vhost-user port, by kind' },
  { name: 'switchyard_vhost_user_drops_total', type: 'counter', labels: ['port', 'reason'], help: 'Frames a vhost-user port dropped: reason "no-buffers" (the guest posted none), "offload" (one it did not negotiate), "handoff" (the worker\'s backlog was full)' },
  { name: 'switchyard_vhost_user_checksums_finished_total', type: 'counter', labels: ['port'], help: 'Partial checksums finished for a guest without checksum offload' },
  { name: 'switchyard_vhost_user_messages_total', type: 'counter', labels: ['port'], help: 'vhost-user protocol messages handled' },
  { name: 'switchyard_vhost_user_interrupts_total', type: 'counter', labels: ['port'], help: 'Interrupts sent to the guest (call eventfd writes)' },
  { name: 'switchyard_vhost_user_handoff_frames_total', type: 'counter', labels: ['port'], help: 'Frames handed to the worker of their flow' },
  { name: 'switchyard_vhost_user_connects_total', type: 'counter', labels: ['port'], help: 'Front end (qemu) connections' },
  { name: 'switchyard_vhost_user_disconnects_total', type: 'counter', labels: ['port'], help: 'Front end (qemu) disconnections' },
  { name: 'switchyard_vhost_user_kicks_total', type: 'counter', labels: ['port'], help: 'Kicks from the guest (kick eventfd reads)' },
  { name: 'switchyard_vhost_user_batches_total', type: 'counter', labels: ['port', 'direction'], help: 'Batches of descriptor chains moved; rx: from the guest' },
  { name: 'switchyard_vhost_user_interrupts_skipped_total', type: 'counter', labels: ['port'], help: 'Interrupts not sent because the guest asked for none yet (EVENT_IDX)' },
  { name: 'switchyard_vhost_user_memory_regions_total', type: 'counter', labels: ['port', 'result'], help: 'Guest memory regions at SET_MEM_TABLE: result "sealed" (sealed against shrinking by the agent), "unsealed" (mapped, could shrink: a crash risk), "refused" (past the end of its fd)' },
  { name: 'switchyard_vhost_user_connected', type: 'gauge', labels: ['port'], help: '1 while the front end (qemu) is connected' },
  { name: 'switchyard_vhost_user_rings_ready', type: 'gauge', labels: ['port'], help: 'Virtqueues ready' },
  { name: 'switchyard_vhost_user_rings_broken', type: 'gauge', labels: ['port'], help: 'Virtqueues stopped as broken' },
];

const frames = (path: string, direction: string): CounterMapping => ({ metric: 'switchyard_frames_total', labels: { path, direction } });
const bytes = (path: string, direction: string): CounterMapping => ({ metric: 'switchyard_bytes_total', labels: { path, direction } });
const generated = (kind: string): CounterMapping => ({ metric: 'switchyard_generated_frames_total', labels: { kind } });
const offload = (kind: string, what: 'frames' | 'segments'): CounterMapping => ({ metric: `switchyard_offload_${what}_total`, labels: { kind } });
const one = (metric: string): CounterMapping => ({ metric });

/** `ctl stats` "counters" (dataplane/counters.ts names, and the agent's worker-restarts). */
export const GLOBAL_COUNTER_METRICS: Readonly<Record<string, CounterMapping>> = {
  'port-rx-frames': frames('port', 'rx'),
  'port-rx-bytes': bytes('port', 'rx'),
  'port-tx-frames': frames('port', 'tx'),
  'port-tx-bytes': bytes('port', 'tx'),
  'uplink-rx-frames': frames('uplink', 'rx'),
  'uplink-rx-bytes': bytes('uplink', 'rx'),
  'uplink-tx-frames': frames('uplink', 'tx'),
  'uplink-tx-bytes': bytes('uplink', 'tx'),
  'arp-replies': generated('arp-reply'),
  'icmp-echo-replies': generated('icmp-echo-reply'),
  'icmp-time-exceeded': generated('icmp-time-exceeded'),
  'icmp-frag-needed': generated('icmp-frag-needed'),
  'dhcp-offers': generated('dhcp-offer'),
  'dhcp-acks': generated('dhcp-ack'),
  'dhcp-naks': generated('dhcp-nak'),
  'nd-adverts': generated('nd-advert'),
  'router-adverts': generated('router-advert'),
  'icmpv6-packet-too-big': generated('icmpv6-packet-too-big'),
  routed: one('switchyard_routed_frames_total'),
  replicated: one('switchyard_replicated_frames_total'),
  mirrored: one('switchyard_mirrored_frames_total'),
  'uft-hits': { metric: 'switchyard_uft_lookups_total', labels: { result: 'hit' } },
  'uft-misses': { metric: 'switchyard_uft_lookups_total', labels: { result: 'miss' } },
  'uft-installs': one('switchyard_uft_installs_total'),
  'uft-revalidated': one('switchyard_uft_revalidations_total'),
  'uft-evictions': one('switchyard_uft_evictions_total'),
  'uft-expired': one('switchyard_uft_expirations_total'),
  'uft-entries': one('switchyard_uft_entries'),
  'uft-capacity': one('switchyard_uft_entries_limit'),
  'ct-created': one('switchyard_conntrack_created_total'),
  'ct-evictions': one('switchyard_conntrack_evictions_total'),
  'ct-refused': one('switchyard_conntrack_refused_total'),
  'ct-entries': one('switchyard_conntrack_entries'),
  'ct-capacity': one('switchyard_conntrack_entries_limit'),
  'snapshot-swaps': one('switchyard_snapshot_swaps_total'),
  'tso-frames': offload('tso', 'frames'),
  'tso-segments': offload('tso', 'segments'),
  'gro-frames': offload('gro', 'frames'),
  'gro-segments': offload('gro', 'segments'),
  'nvgre-gro-frames': offload('nvgre-gro', 'frames'),
  'nvgre-gro-segments': offload('nvgre-gro', 'segments'),
  'vxlan-soft-gro-frames': offload('vxlan-soft-gro', 'frames'),
  'vxlan-soft-gro-segments': offload('vxlan-soft-gro', 'segments'),
  'gro-split': one('switchyard_gro_split_buffers_total'),
  'csum-finished': one('switchyard_checksums_finished_total'),
  'udp-gso-grouped': one('switchyard_udp_gso_grouped_datagrams_total'),
  'busy-poll-spins': one('switchyard_busy_poll_spins_total'),
  'busy-poll-hits': one('switchyard_busy_poll_hits_total'),
  'busy-poll-us': { metric: 'switchyard_busy_poll_seconds_total', scale: 1e-6 },
  wakeups: one('switchyard_worker_wakeups_total'),
  'wakeup-frames': one('switchyard_worker_wakeup_frames_total'),
  'wakeup-us': { metric: 'switchyard_worker_wakeup_seconds_total', scale: 1e-6 },
  'ct-restored': one('switchyard_conntrack_restored_total'),
  'tap-uring-enters': one('switchyard_tap_uring_enters_total'),
  'tap-uring-rx-frames': { metric: 'switchyard_tap_uring_frames_total', labels: { direction: 'rx' } },
  'tap-uring-tx-frames': { metric: 'switchyard_tap_uring_frames_total', labels: { direction: 'tx' } },
  'tap-uring-fallbacks': one('switchyard_tap_uring_fallbacks_total'),
  'acl-log-lines': one('switchyard_acl_log_lines_total'),
  'acl-log-suppressed': one('switchyard_acl_log_suppressed_lines_total'),
  'nvgre-ring-frames': { metric: 'switchyard_nvgre_tx_ring_frames_total', labels: { path: 'ring' } },
  'nvgre-ring-full': { metric: 'switchyard_nvgre_tx_ring_frames_total', labels: { path: 'raw-ring-full' } },
  'nvgre-ring-fallback': { metric: 'switchyard_nvgre_tx_ring_frames_total', labels: { path: 'raw-fallback' } },
  'worker-restarts': one('switchyard_worker_restarts_total'),
};

/** `ctl stats` "drops": every reason, one label value each. */
export const DROPS_METRIC = 'switchyard_drops_total';

/** `ctl stats` "ports" (dataplane/counters.ts PORT_COUNTER_NAMES), each with a `port` label. */
export const PORT_COUNTER_METRICS: Readonly<Record<string, CounterMapping>> = {
  'rx-frames': { metric: 'switchyard_port_frames_total', labels: { direction: 'rx' } },
  'rx-bytes': { metric: 'switchyard_port_bytes_total', labels: { direction: 'rx' } },
  'tx-frames': { metric: 'switchyard_port_frames_total', labels: { direction: 'tx' } },
  'tx-bytes': { metric: 'switchyard_port_bytes_total', labels: { direction: 'tx' } },
  drops: one('switchyard_port_drops_total'),
  'acl-deny': one('switchyard_port_acl_denied_frames_total'),
  'tx-full': one('switchyard_port_tx_full_frames_total'),
};

/** The agent's own fields of `ctl stats`. */
export const AGENT_FIELD_METRICS = {
  generation: one('switchyard_policy_generation'),
  failedPorts: one('switchyard_failed_ports'),
  offloadFallbacks: one('switchyard_offload_fallbacks_total'),
  nicFanoutFallbacks: one('switchyard_nic_fanout_fallbacks_total'),
} as const satisfies Record<string, CounterMapping>;

const vhostErr = (kind: string): CounterMapping => ({ metric: 'switchyard_vhost_user_errors_total', labels: { kind } });
const vhostDrop = (reason: string): CounterMapping => ({ metric: 'switchyard_vhost_user_drops_total', labels: { reason } });

/** `ctl stats` "vhostUser" (io/vhost.ts VHOST_STATS and status()), each with a `port` label. */
export const VHOST_METRICS: Readonly<Record<string, CounterMapping>> = {
  rxFrames: { metric: 'switchyard_vhost_user_frames_total', labels: { direction: 'rx' } },
  txFrames: { metric: 'switchyard_vhost_user_frames_total', labels: { direction: 'tx' } },
  badAddress: vhostErr('bad-address'),
  badChain: vhostErr('bad-chain'),
  oversize: vhostErr('oversize'),
  ringBroken: vhostErr('ring-broken'),
  short: vhostErr('short'),
  badMessages: vhostErr('bad-message'),
  noBuffers: vhostDrop('no-buffers'),
  offloadDrops: vhostDrop('offload'),
  handoffDrops: vhostDrop('handoff'),
  csumFinished: one('switchyard_vhost_user_checksums_finished_total'),
  messages: one('switchyard_vhost_user_messages_total'),
  calls: one('switchyard_vhost_user_interrupts_total'),
  handoff: one('switchyard_vhost_user_handoff_frames_total'),
  connects: one('switchyard_vhost_user_connects_total'),
  disconnects: one('switchyard_vhost_user_disconnects_total'),
  connected: one('switchyard_vhost_user_connected'),
  ringsReady: one('switchyard_vhost_user_rings_ready'),
  ringsBroken: one('switchyard_vhost_user_rings_broken'),
  kicks: one('switchyard_vhost_user_kicks_total'),
  rxBatches: { metric: 'switchyard_vhost_user_batches_total', labels: { direction: 'rx' } },
  txBatches: { metric: 'switchyard_vhost_user_batches_total', labels: { direction: 'tx' } },
  callsSkipped: one('switchyard_vhost_user_interrupts_skipped_total'),
  memSealed: { metric: 'switchyard_vhost_user_memory_regions_total', labels: { result: 'sealed' } },
  memUnsealed: { metric: 'switchyard_vhost_user_memory_regions_total', labels: { result: 'unsealed' } },
  memRefused: { metric: 'switchyard_vhost_user_memory_regions_total', labels: { result: 'refused' } },
};

/** Every metric name the agent exposes (the dashboard test checks its queries against it). */
export const METRIC_NAMES: readonly string[] = METRIC_FAMILIES.map((f) => f.name);
