/** Debug helper: Figure 8 lab with switchyard agents; runs a shell command in the sql namespace
 * with $WEB (web namespace) set, prints agent stats, tears down. `npx tsx bench/labdbg.ts 'cmd'` */
import { figure8Policy } from '../src/policy/figure8.js';
import { createFigure8Lab } from '../src/cli/lab/topology.js';
import { policyForLab } from '../src/cli/lab/policy.js';
import { createTenantNamespaces, makeRunDir, startAgent, writePolicy, type RunningAgent } from '../src/cli/lab/agents.js';
import { run } from '../src/cli/lab/run.js';
import { controlRequest } from '../src/agent/control-client.js';

const lab = await createFigure8Lab({ tag: undefined });
const agents: RunningAgent[] = [];
try {
  const p = policyForLab(figure8Policy(), lab.tenantNs);
  const dir = makeRunDir(lab.tag);
  const file = writePolicy(dir, p);
  await createTenantNamespaces(p, lab.hosts.map((h) => h.name));
  for (const h of lab.hosts) agents.push(await startAgent(h.ns, h.name, file, dir));
  Object.assign(process.env, { WEB: lab.tenantNs('contoso-web'), SQL: lab.tenantNs('contoso-sql'), H1: lab.hosts[0].ns, H2: lab.hosts[1].ns });
  const r = await run('bash', ['-c', process.argv[2] ?? 'true'], { allowFail: true, timeoutMs: 120000 });
  console.log(r.stdout, r.stderr);
  for (const a of agents) console.log(a.host, JSON.stringify(await controlRequest(a.socket, { op: 'stats' }, 3000)).slice(0, 1500));
  console.log(agents.map((a) => a.log.join('').slice(-1500)).join('\n'));
} finally {
  for (const a of agents) await a.stop().catch(() => undefined);
  await lab.destroy();
}
