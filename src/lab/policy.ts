/**
 * Puts a policy into a lab: every tenant namespace name gets the lab's tag, so two runs (or a run
 * and a leftover) never share a namespace, and is `adopt`ed: the lab makes the namespaces
 * (agents.ts createTenantNamespaces), the agents only add their ports to them.
 */
import type { Policy } from '../policy/types.js';

export function policyForLab(policy: Policy, tenantNs: (nic: string) => string): Policy {
  return {
    ...policy,
    networkInterfaces: policy.networkInterfaces.map((n) => (n.netns ? { ...n, netns: tenantNs(n.name), netnsMode: 'adopt' as const } : { ...n })),
  };
}
