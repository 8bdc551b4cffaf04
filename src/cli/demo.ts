/**
 * `switchyard demo` (`make demo`): the seed's Figure 8. Contoso and Fabrikam both run SQL at
 * 10.1.1.11 on host1 and Web at 10.1.1.12 on host2 (VSIDs 5001 and 6001, PAs 192.168.1.10 and
 * 192.168.2.20 on different underlay subnets). Two agents forward between them over VXLAN; the
 * demo shows ping inside each tenant, that each tenant's datagrams reach only its own namespace,
 * and an iperf3 run, then removes everything it made (also on Ctrl-C or failure).
 *
 * Ctrl-C (SIGINT, SIGTERM) only sets a flag that every step checks: the demo stops at the next
 * step, removes what it made and ends with "interrupted", never with "OK"; the signal cannot be
 * lost whatever the demo is waiting for when it comes. The last line printed says where kept
 * logs are (only a failed demo keeps them).
 */
import { loadPolicyFile, formatErrors } from '../policy/load.js';
import { figure8Policy } from '../policy/figure8.js';
import type { NetworkInterface, Policy } from '../policy/types.js';
import { createFigure8Lab, namespacesWithTag, newTag, removeNamespaces, type Figure8Lab } from '../lab/topology.js';
import { policyForLab } from '../lab/policy.js';
import { createTenantNamespaces, makeRunDir, startAgent, writePolicy, type RunningAgent } from '../lab/agents.js';
import { haveCommand, iperf3, isolationCheck, ping, randomIperf3Port } from '../lab/probes.js';
import { startController, type RunningController } from '../lab/controller.js';
import { policyBlocks, type ProbeEnd } from './demo-blockers.js';
import path from 'node:path';

/** The UDP port of the isolation marker (a policy that runs the demo allows it). */
export const MARKER_PORT = 7777;

function step(msg: string): void {
  process.stdout.write(`\n== ${msg}\n`);
}

class Interrupted extends Error {}

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
  const tag = newTag();
  let lab: Figure8Lab | undefined;
  let dir: string | undefined;
  const agents: RunningAgent[] = [];
  let controller: RunningController | undefined;
  let interrupted = false;
  const onSignal = () => {
    if (!interrupted) console.error('\ninterrupted: cleaning up (the demo stops at its next step)');
    interrupted = true;
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const checkpoint = () => {
    if (interrupted) throw new Interrupted('interrupted');
  };
  let ok = false;
  let failure: string | undefined;
  try {
    step('building Figure 8: host1 (PA 192.168.1.10) and host2 (PA 192.168.2.20) joined by a router');
    lab = await createFigure8Lab({ tag });
    checkpoint();
    const labPolicy = policyForLab(policy, lab.tenantNs);
    dir = makeRunDir(lab.tag);
    const file = writePolicy(dir, labPolicy);
    console.log(`namespaces tagged ${lab.tag}; policy and agent logs in ${dir} (kept if the demo fails)`);
    await createTenantNamespaces(labPolicy, lab.hosts.map((h) => h.name));
    checkpoint();
    if (o.controller) {
      step('network controller in the router namespace; the policy goes in with `switchyard ctl apply`');
      const c = await startController(lab.router, '192.168.1.1', 8080, dir);
      controller = c;
      checkpoint();
      const applied = await c.ctl(['apply', '-f', file]);
      process.stdout.write(applied.stdout);
      if (applied.code !== 0) throw new Error(`ctl apply failed: ${applied.stderr}`);
    }
    // both agents start at once: each takes seconds to load and compile on a busy machine
    const runDir = dir;
    const hosts = lab.hosts.filter((h) => labPolicy.hosts.some((x) => x.name === h.name));
    const started = await Promise.allSettled(
      hosts.map(async (h) => {
        const source = controller ? { controller: controller.url, cache: path.join(runDir, `${h.name}.policy.json`) } : file;
        const a = await startAgent(h.ns, h.name, source, runDir, [], controller ? await controller.agentEnv(h.name) : undefined);
        agents.push(a);
        console.log(`agent ${h.name} up in namespace ${h.ns}${controller ? `, policy from ${controller.url}` : ''}`);
        return a;
      }),
    );
    const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw failed.reason as Error;
    checkpoint();

    const nic = (name: string) => labPolicy.networkInterfaces.find((n) => n.name === name);
    const end = (n: NetworkInterface): ProbeEnd => ({ port: n.name, socket: agents.find((a) => a.host === n.host)!.socket });
    const pairs = [
      { tenant: 'contoso', from: nic('contoso-web'), to: nic('contoso-sql') },
      { tenant: 'fabrikam', from: nic('fabrikam-web'), to: nic('fabrikam-sql') },
    ];
    ok = true;
    const summary: string[] = [];
    for (const p of pairs) {
      if (!p.from?.netns || !p.to?.netns) {
        summary.push(`${p.tenant} ping: skipped (the policy has no ${p.tenant}-web and ${p.tenant}-sql with namespaces)`);
        continue;
      }
      step(`${p.tenant}: ping web (${p.from.ipAddress}, ${p.from.host}) -> sql (${p.to.ipAddress}, ${p.to.host})`);
      const blocked = await policyBlocks(end(p.from), end(p.to), { proto: 'icmp', src: p.from.ipAddress, dst: p.to.ipAddress });
      if (blocked) {
        console.log(`skipped: the policy drops it: ${blocked}`);
        summary.push(`${p.tenant} ping: skipped, blocked by policy (${blocked})`);
        continue;
      }
      const r = await ping(p.from.netns, p.to.ipAddress!, 5);
      checkpoint();
      const med = r.rtts.length ? r.rtts.sort((a, b) => a - b)[Math.floor(r.rtts.length / 2)] : undefined;
      console.log(`${r.received}/${r.sent} replies${med !== undefined ? `, median rtt ${med.toFixed(3)} ms` : ''}`);
      summary.push(`${p.tenant} ping: ${r.received}/${r.sent}`);
      if (r.received === 0) ok = false;
    }
    const c = pairs[0]!;
    const f = pairs[1]!;
    if (c.from?.netns && c.to?.netns && f.from?.netns && f.to?.netns) {
      step(`isolation: each web sends a marker datagram to ${c.to.ipAddress}:${MARKER_PORT}; who gets what?`);
      // a marker the policy drops is expected not to arrive; it must still not reach the other tenant
      const expect: string[][] = [];
      for (const [p, marker] of [
        [c, 'from-contoso'],
        [f, 'from-fabrikam'],
      ] as const) {
        const blocked = await policyBlocks(end(p.from!), end(p.to!), { proto: 'udp', src: p.from!.ipAddress, dst: p.to!.ipAddress, dport: MARKER_PORT });
        if (blocked) console.log(`${p.tenant}: the policy drops the marker (UDP ${MARKER_PORT}): ${blocked}`);
        expect.push(blocked ? [] : [marker]);
      }
      const got = await isolationCheck(
        [
          { from: c.from.netns, to: c.to.netns, addr: c.to.ipAddress!, marker: 'from-contoso' },
          { from: f.from.netns, to: f.to.netns, addr: f.to.ipAddress!, marker: 'from-fabrikam' },
        ],
        MARKER_PORT,
      );
      checkpoint();
      for (const g of got) console.log(`${g.ns}: ${JSON.stringify(g.got)}`);
      const isolated = got.every((g, i) => g.got.join() === expect[i]!.join());
      summary.push(`isolation: ${isolated ? 'each tenant received only its own marker' : 'FAILED'}${expect.some((e) => !e.length) ? ' (a marker the policy drops was expected not to arrive)' : ''}`);
      if (!isolated) ok = false;
    } else {
      summary.push('isolation: skipped (needs contoso-web, contoso-sql, fabrikam-web and fabrikam-sql with namespaces)');
    }
    if (c.from?.netns && c.to?.netns) {
      if (await haveCommand('iperf3')) {
        const port = randomIperf3Port();
        step(`iperf3 contoso-web -> contoso-sql (TCP port ${port}), ${o.iperfSeconds} s`);
        const blocked = await policyBlocks(end(c.from), end(c.to), { proto: 'tcp', src: c.from.ipAddress, dst: c.to.ipAddress, dport: port, flags: 0x02 });
        if (blocked) {
          console.log(`skipped: the policy drops it: ${blocked}`);
          summary.push(`iperf3 contoso: skipped, TCP port ${port} blocked by policy (${blocked})`);
        } else {
          const r = await iperf3(c.to.netns, c.from.netns, c.to.ipAddress!, o.iperfSeconds, [], port);
          checkpoint();
          console.log(`${r.gbps.toFixed(2)} Gbit/s${r.retransmits !== undefined ? `, ${r.retransmits} retransmits` : ''}`);
          summary.push(`iperf3 contoso: ${r.gbps.toFixed(2)} Gbit/s`);
        }
      } else summary.push('iperf3: skipped (iperf3 is not installed)');
    }
    step('summary');
    for (const s of summary) console.log(`  ${s}`);
  } catch (err) {
    ok = false;
    if (!(err instanceof Interrupted) && !interrupted) failure = (err as Error).message;
  } finally {
    // the handlers stay during clean-up: a second Ctrl-C must not cut it short
    for (const a of agents) await a.stop().catch(() => undefined);
    await controller?.stop().catch(() => undefined);
    // a failed demo keeps its policy and agent logs for the user to read
    if (lab) await lab.destroy({ keepLogs: !ok && !interrupted });
    // interrupted while the lab was being built: remove by tag what exists so far
    else await removeNamespaces(await namespacesWithTag(tag));
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
  if (interrupted) {
    console.error('demo: interrupted; removed everything it had made');
    return 130;
  }
  if (failure !== undefined) console.error(`demo failed: ${failure}`);
  const kept = dir && (!ok || process.env.SWITCHYARD_KEEP_LOGS === '1') ? ` (policy and agent logs kept in ${dir})` : '';
  console.log(`\ndemo: ${ok ? 'OK' : 'FAILED'}${kept}`);
  return ok ? 0 : 1;
}
