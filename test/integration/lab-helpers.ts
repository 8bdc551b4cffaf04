/**
 * Shared set-up for the integration tests: a Figure 8 lab with agents, and teardown that always
 * runs. Suites skip (not fail) when not root: test/helpers/prerequisites.ts ROOT_ONLY.
 */
import { figure8Policy } from '../../src/policy/figure8.js';
import type { Policy } from '../../src/policy/types.js';
import { createFigure8Lab, type Figure8Lab } from '../../src/lab/topology.js';
import { policyForLab } from '../../src/lab/policy.js';
import { createTenantNamespaces, makeRunDir, startAgent, writePolicy, type RunningAgent } from '../../src/lab/agents.js';

/** For code that needs the fact itself; a suite that needs root takes ROOT_ONLY (with its reason). */
export const isRoot = process.getuid?.() === 0;

export interface Figure8Run {
  lab: Figure8Lab;
  policy: Policy;
  dir: string;
  policyFile: string;
  agents: RunningAgent[];
  ns(nic: string): string;
  teardown(): Promise<void>;
}

/** Builds the lab and starts an agent on each host listed in `agentHosts`. */
export async function startFigure8(opts: { policy?: Policy; agentHosts?: string[]; agentArgs?: string[]; agentEnv?: NodeJS.ProcessEnv } = {}): Promise<Figure8Run> {
  const lab = await createFigure8Lab();
  const agents: RunningAgent[] = [];
  const teardown = async () => {
    for (const a of agents) await a.stop().catch(() => undefined);
    await lab.destroy();
  };
  try {
    const policy = policyForLab(opts.policy ?? figure8Policy(), lab.tenantNs);
    const dir = makeRunDir(lab.tag);
    const policyFile = writePolicy(dir, policy);
    const agentHosts = opts.agentHosts ?? lab.hosts.map((h) => h.name);
    await createTenantNamespaces(policy, agentHosts);
    for (const h of lab.hosts) {
      if (opts.agentHosts && !opts.agentHosts.includes(h.name)) continue;
      agents.push(await startAgent(h.ns, h.name, policyFile, dir, opts.agentArgs ?? [], opts.agentEnv));
    }
    return { lab, policy, dir, policyFile, agents, ns: (nic) => lab.tenantNs(nic), teardown };
  } catch (err) {
    await teardown();
    throw err;
  }
}
