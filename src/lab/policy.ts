/**
 * Puts a policy into a lab: every tenant namespace name gets the lab's tag, so two runs (or a run
 * and a leftover) never share a namespace.
 */
import type { Policy } from '../policy/types.js';

export function policyForLab(policy: Policy, tenantNs: (nic: string) => string): Policy {
  return {
    ...policy,
    networkInterfaces: policy.networkInterfaces.map((n) => (n.netns ? { ...n, netns: tenantNs(n.name) } : { ...n })),
  };
}
