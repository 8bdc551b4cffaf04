/**
 * `switchyard demo` (`make demo`): the seed's Figure 8. Contoso and Fabrikam both run SQL at
 * 10.1.1.11 on host1 and Web at 10.1.1.12 on host2 (VSIDs 5001 and 6001, PAs 192.168.1.10 and
 * 192.168.2.20 on different underlay subnets). Two agents forward between them over VXLAN; the
 * demo shows ping inside each tenant, that each tenant's datagrams reach only its own namespace,
 * and an iperf3 run, then removes everything it made (also on Ctrl-C or failure).
 */
import { loadPolicyFile, formatErrors } from '../policy/load.js';
import { figure8Policy } from '../policy/figure8.js';
import type { Policy } from '../policy/types.js';
import { createFigure8Lab, namespacesWithTag, newTag, removeNamespaces, type Figure8Lab } from '../lab/topology.js';
import { policyForLab } from '../lab/policy.js';
import { createTenantNamespaces, makeRunDir, startAgent, writePolicy, type RunningAgent } from '../lab/agents.js';
import { haveCommand, iperf3, isolationCheck, ping } from '../lab/probes.js';
import { startController, type RunningController } from '../lab/controller.js';
import path from 'node:path';

function step(msg: string): void {
  process.stdout.write(`\n== ${msg}\n`);
}

export async function runDemo(o: { policy?: string; iperfSeconds: number; controller?: boolean }): Promise<number> {
  if (process.getuid?.() !== 0) {
    console.error('switchyard demo: needs root (network namespaces and TAP devices)');
    return 2;
  }
  let policy: Policy = figure8Policy();
  if (o.policy) {
    const r = await loadPolicyFile(o.policy);
    if (!r.ok) {
      console.error(`${o.policy}: invalid policy\n${formatErrors(r.errors, { file: o.policy })}`);
      return 2;
    }
    policy = r.policy;
  }
  let lab: Figure8Lab | undefined;
  const tag = newTag();
  const agents: RunningAgent[] = [];
  let controller: RunningController | undefined;
  let interrupted = false;
  let ok = false;
  const cleanup = async () => {
    for (const a of agents) await a.stop().catch(() => undefined);
    await controller?.stop().catch(() => undefined);
    // a failed demo keeps its policy and agent logs for the user to read
    if (lab) await lab.destroy({ keepLogs: !ok });
    // interrupted while the lab was being built: remove by tag what exists so far
    else await removeNamespaces(await namespacesWithTag(tag));
  };
  const onSignal = () => {
    interrupted = true;
    console.error('\ninterrupted: cleaning up');
    void cleanup().then(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    step('building Figure 8: host1 (PA 192.168.1.10) and host2 (PA 192.168.2.20) joined by a router');
    lab = await createFigure8Lab({ tag });
    const labPolicy = policyForLab(policy, lab.tenantNs);
    const dir = makeRunDir(lab.tag);
    const file = writePolicy(dir, labPolicy);
    console.log(`namespaces tagged ${lab.tag}; policy and agent logs in ${dir} (kept if the demo fails)`);
    await createTenantNamespaces(labPolicy, lab.hosts.map((h) => h.name));
    let source: string | { controller: string; cache: string } = file;
    let env: NodeJS.ProcessEnv | undefined;
    if (o.controller) {
      step('network controller in the router namespace; the policy goes in with `switchyard ctl apply`');
      const c = await startController(lab.router, '192.168.1.1', 8080, dir);
      controller = c;
      const applied = await c.ctl(['apply', '-f', file]);
      process.stdout.write(applied.stdout);
      if (applied.code !== 0) throw new Error(`ctl apply failed: ${applied.stderr}`);
    }
    for (const h of lab.hosts) {
      if (!labPolicy.hosts.some((x) => x.name === h.name)) continue;
      if (controller) {
        source = { controller: controller.url, cache: path.join(dir, `${h.name}.policy.json`) };
        env = await controller.agentEnv(h.name);
      }
      agents.push(await startAgent(h.ns, h.name, source, dir, [], env));
      console.log(`agent ${h.name} up in namespace ${h.ns}${controller ? `, policy from ${controller.url}` : ''}`);
    }
    const nic = (name: string) => labPolicy.networkInterfaces.find((n) => n.name === name);
    const pairs = [
      { tenant: 'contoso', from: nic('contoso-web'), to: nic('contoso-sql') },
      { tenant: 'fabrikam', from: nic('fabrikam-web'), to: nic('fabrikam-sql') },
    ];
    ok = true;
    const summary: string[] = [];
    for (const p of pairs) {
      if (!p.from?.netns || !p.to?.netns) continue;
      step(`${p.tenant}: ping web (${p.from.ipAddress}, host2) -> sql (${p.to.ipAddress}, host1)`);
      const r = await ping(p.from.netns, p.to.ipAddress!, 5);
      const med = r.rtts.length ? r.rtts.sort((a, b) => a - b)[Math.floor(r.rtts.length / 2)] : undefined;
      console.log(`${r.received}/${r.sent} replies${med !== undefined ? `, median rtt ${med.toFixed(3)} ms` : ''}`);
      summary.push(`${p.tenant} ping: ${r.received}/${r.sent}`);
      if (r.received === 0) ok = false;
    }
    const c = pairs[0]!;
    const f = pairs[1]!;
    if (c.from?.netns && c.to?.netns && f.from?.netns && f.to?.netns) {
      step('isolation: each web sends a marker datagram to 10.1.1.11:7777; who gets what?');
      const got = await isolationCheck([
        { from: c.from.netns, to: c.to.netns, addr: c.to.ipAddress!, marker: 'from-contoso' },
        { from: f.from.netns, to: f.to.netns, addr: f.to.ipAddress!, marker: 'from-fabrikam' },
      ]);
      for (const g of got) console.log(`${g.ns}: ${JSON.stringify(g.got)}`);
      const isolated = got[0]!.got.join() === 'from-contoso' && got[1]!.got.join() === 'from-fabrikam';
      summary.push(`isolation: ${isolated ? 'each tenant received only its own marker' : 'FAILED'}`);
      if (!isolated) ok = false;
      if (await haveCommand('iperf3')) {
        step(`iperf3 contoso-web -> contoso-sql, ${o.iperfSeconds} s`);
        const r = await iperf3(c.to.netns, c.from.netns, c.to.ipAddress!, o.iperfSeconds);
        console.log(`${r.gbps.toFixed(2)} Gbit/s${r.retransmits !== undefined ? `, ${r.retransmits} retransmits` : ''}`);
        summary.push(`iperf3 contoso: ${r.gbps.toFixed(2)} Gbit/s`);
      }
    }
    step('summary');
    for (const s of summary) console.log(`  ${s}`);
    console.log(ok ? '\ndemo: OK' : '\ndemo: FAILED');
    return ok ? 0 : 1;
  } catch (err) {
    ok = false;
    if (!interrupted) console.error(`demo failed: ${(err as Error).message} (logs kept in /tmp/${lab?.tag ?? 'sy'}-*)`);
    return 1;
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    if (!interrupted) await cleanup();
  }
}
