/**
 * Figure 8 over VXLAN across the VMs: examples/figure8.yaml with host1 = vm1 (both tenants' SQL)
 * and host2 = vm2 (both webs), one switchyard agent per VM. Checks ping web -> sql in each tenant,
 * that each tenant's marker reaches only its own SQL (same CA addresses in both), iperf3 in each
 * tenant, and reads the agents' drop counters.
 */
import type { Say } from './progress.js';
import { LINK, type VmPair } from './pair.js';
import type { Vm } from './vm.js';
import { fmtIperf, fmtPing, guestIperf, guestPing, type IperfResult, type PingResult } from './traffic.js';
import { guestIsolation } from './isolation.js';
import { fmtDrops, guestAgentDrops, startGuestAgent, stopGuestAgent, vmPolicy, writeSharedPolicy, type GuestAgent } from './guest-agent.js';

export interface TenantResult {
  tenant: string;
  ping: PingResult;
  iperf?: IperfResult;
}

export interface VxlanResult {
  tenants: TenantResult[];
  isolation: { ns: string; got: string[] }[];
  isolated: boolean;
  /** Non-zero drop counters of each agent at the end, by host. */
  drops: Record<string, Record<string, number> | undefined>;
  ok: boolean;
}

export async function runVxlanScenario(pair: VmPair, say: Say, o: { iperfSeconds: number }): Promise<VxlanResult> {
  const [vm1, vm2] = pair.vms;
  const policy = await vmPolicy('figure8.yaml');
  const file = writeSharedPolicy(pair.shareDir, 'policy-vxlan.yaml', policy);
  say(`policy: examples/figure8.yaml with PAs host1=${LINK.vm1} (vm1), host2=${LINK.vm2} (vm2); in the guests ${file}`);
  const agents: GuestAgent[] = [];
  try {
    const started = await Promise.allSettled([
      startGuestAgent(vm1, policy, file, 'host1', 'vxlan'),
      startGuestAgent(vm2, policy, file, 'host2', 'vxlan'),
    ]);
    for (const s of started) if (s.status === 'fulfilled') agents.push(s.value);
    const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw failed.reason;
    say(`agents up: host1 in vm1 (${agents[0]!.namespaces.join(', ')}), host2 in vm2 (${agents[1]!.namespaces.join(', ')})`);
    const at = (name: string): { vm: Vm; ns: string; ip: string } => {
      const n = policy.networkInterfaces.find((x) => x.name === name)!;
      return { vm: n.host === 'host1' ? vm1 : vm2, ns: n.netns!, ip: n.ipAddress! };
    };
    const tenants: TenantResult[] = [];
    for (const t of ['contoso', 'fabrikam']) {
      const web = at(`${t}-web`);
      const sql = at(`${t}-sql`);
      const ping = await guestPing(web.vm, web.ns, sql.ip, 5);
      say(`${t}: ping web (${web.ip}, vm2) -> sql (${sql.ip}, vm1): ${fmtPing(ping)}`);
      tenants.push({ tenant: t, ping });
    }
    const c = { web: at('contoso-web'), sql: at('contoso-sql') };
    const f = { web: at('fabrikam-web'), sql: at('fabrikam-sql') };
    const isolation = await guestIsolation(pair.shareDir, [
      { from: c.web, to: c.sql, addr: c.sql.ip, marker: 'from-contoso' },
      { from: f.web, to: f.sql, addr: f.sql.ip, marker: 'from-fabrikam' },
    ]);
    const isolated = isolation[0]!.got.join() === 'from-contoso' && isolation[1]!.got.join() === 'from-fabrikam';
    say(`isolation: both webs send a marker to ${c.sql.ip}:7777 -> ${isolation.map((i) => `${i.ns} got ${JSON.stringify(i.got)}`).join(', ')}`);
    for (const t of tenants) {
      const web = at(`${t.tenant}-web`);
      const sql = at(`${t.tenant}-sql`);
      t.iperf = await guestIperf(sql, web, sql.ip, o.iperfSeconds);
      say(`${t.tenant}: iperf3 web -> sql ${o.iperfSeconds} s: ${fmtIperf(t.iperf)}`);
    }
    const drops: VxlanResult['drops'] = {};
    for (const a of agents) {
      drops[a.host] = await guestAgentDrops(a);
      say(`agent ${a.host} drops: ${fmtDrops(drops[a.host])}`);
    }
    const ok = isolated && tenants.every((t) => t.ping.received > 0 && !!t.iperf && !t.iperf.error && t.iperf.mbps > 0);
    return { tenants, isolation, isolated, drops, ok };
  } finally {
    for (const a of agents) await stopGuestAgent(a).catch(() => undefined);
  }
}
