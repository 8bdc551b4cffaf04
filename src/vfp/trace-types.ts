/** The JSON shape of `trace` (ofproto/trace style): one step per layer, then the verdict. */

export interface TraceStep {
  /** edge | arp | router | acl-out | acl-in | conntrack | vnet | replicate | uft */
  layer: string;
  /** The rule (or table entry) that matched, in words; null when none did. */
  rule: string | null;
  /** What the layer did. */
  action: string;
}

export interface TraceResult {
  port: string;
  direction: 'out' | 'in';
  generation: number;
  /** Summary of the frame as parsed. */
  frame: Record<string, string | number | boolean>;
  steps: TraceStep[];
  /** forward | reply | drop */
  verdict: 'forward' | 'reply' | 'drop';
  /** Where the frame (or its copies) would go, e.g. "port contoso-web" or "vxlan vni 5001 192.168.1.10 -> 192.168.2.20". */
  outputs: string[];
  dropReason?: string;
  /** What the flow table holds for this flow now: hit | stale (older generation) | miss | not-cached. */
  uft: 'hit' | 'stale' | 'miss' | 'not-cached';
}
