/**
 * switchyard agents inside the guests: the example policies with the VMs' link addresses as PAs,
 * written into the run's share directory (the guests' /vm), one `switchyard agent` per VM run from
 * the 9p-shared checkout (/switchyard/bin/switchyard.js on the host's node binary), its drop
 * counters read with `switchyard ctl --json stats`, and stopped with its tenant namespaces removed.
 */
import fs from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import { loadPolicyFile, formatErrors } from '../policy/load.js';
import type { Policy } from '../policy/types.js';
import { PROJECT_ROOT } from './paths.js';
import { tail } from './progress.js';
import { LINK } from './pair.js';
import type { Vm } from './vm.js';

const NODE = '/usr/local/bin/node';
const SWITCHYARD = `${NODE} /switchyard/bin/switchyard.js`;

export interface GuestAgent {
  vm: Vm;
  host: string;
  pid: number;
  /** Host path of its log (the guest writes it into the shared run directory). */
  log: string;
  namespaces: string[];
}

/** Loads an example policy and sets host1's and host2's PAs to the VMs' link addresses; `keep` filters virtual networks. */
export async function vmPolicy(example: string, keep?: (vnet: string) => boolean): Promise<Policy> {
  const file = path.join(PROJECT_ROOT, 'examples', example);
  const r = await loadPolicyFile(file);
  if (!r.ok) throw new Error(`${file}: invalid policy\n${formatErrors(r.errors, { file })}`);
  const p = r.policy;
  const pa: Record<string, string> = { host1: LINK.vm1, host2: LINK.vm2 };
  return {
    ...p,
    hosts: p.hosts.map((h) => ({ ...h, providerAddresses: [pa[h.name] ?? h.providerAddresses[0]!] })),
    virtualNetworks: p.virtualNetworks.filter((v) => !keep || keep(v.name)),
    networkInterfaces: p.networkInterfaces.filter((n) => !keep || keep(n.virtualNetwork ?? '')),
  };
}

/**
 * Shell that stops every `switchyard agent ... --host HOST` in the guest: SIGTERM, up to 10 s to
 * exit, then SIGKILL. It scans /proc (the guest image has no procps) and ends with `; `.
 */
function stopAgentsOf(host: string): string {
  // node processes only: the shell running this (and the one starting an agent) has the same words in its command line
  const find = `for d in /proc/[0-9]*; do [ "$(readlink $d/exe 2>/dev/null)" = "$n" ] || continue; case "$(tr '\\0' ' ' < $d/cmdline 2>/dev/null)" in *" agent --policy "*" --host ${host} "*) echo \${d#/proc/};; esac; done`;
  return `n=$(readlink -f ${NODE}); p=$(${find}); if [ -n "$p" ]; then kill $p 2>/dev/null; for i in $(seq 50); do p=$(${find}); [ -z "$p" ] && break; sleep 0.2; done; [ -n "$p" ] && kill -9 $p 2>/dev/null; fi; `;
}

/** Writes `policy` into the share directory; returns its path in the guests. */
export function writeSharedPolicy(shareDir: string, name: string, policy: Policy): string {
  fs.writeFileSync(path.join(shareDir, name), stringify(policy));
  return `/vm/${name}`;
}

/**
 * Starts `switchyard agent` in the guest and waits until each of its ports is configured in its
 * namespace and its control socket exists (the agent opens it last, once it forwards).
 */
export async function startGuestAgent(
  vm: Vm,
  policy: Policy,
  guestPolicyFile: string,
  host: string,
  tag: string,
  o: { timeoutMs?: number; /** more `switchyard agent` arguments, e.g. --no-offload */ args?: string[] } = {},
): Promise<GuestAgent> {
  const timeoutMs = o.timeoutMs ?? 120_000;
  const logName = `agent-${vm.name}-${tag}.log`;
  const sock = `/run/switchyard/${host}.sock`;
  // one agent per host in a guest: one of an earlier scenario that is somehow still running would
  // hold the host's ports (UDP 4789, the liveness port) and the new one could not start
  const r = await vm.exec(
    stopAgentsOf(host) +
      `mkdir -p /run/switchyard && rm -f ${sock} && cd / && setsid nohup ${SWITCHYARD} agent ` +
      `--policy ${guestPolicyFile} --host ${host} --socket ${sock}${(o.args ?? []).map((a) => ` ${a}`).join('')} >/vm/${logName} 2>&1 </dev/null & echo $!`,
  );
  const ports = policy.networkInterfaces.filter((n) => n.host === host && n.netns);
  const agent: GuestAgent = { vm, host, pid: Number(r.stdout.trim()), log: path.join(vm.shareDir, logName), namespaces: ports.map((n) => n.netns!) };
  const checks = [...ports.map((n) => `ip -n ${n.netns} -4 -br addr 2>/dev/null | grep -q ' ${n.ipAddress}/'`), `test -S ${sock}`].join(' && ');
  const wait = await vm.exec(
    `for i in $(seq ${Math.ceil(timeoutMs / 1000)}); do kill -0 ${agent.pid} 2>/dev/null || exit 3; if ${checks}; then exit 0; fi; sleep 1; done; exit 4`,
    { allowFail: true, timeoutMs: timeoutMs + 5000 },
  );
  if (wait.code !== 0) {
    const why = wait.code === 3 ? 'exited' : `did not configure its ports in ${timeoutMs / 1000} s`;
    await stopGuestAgent(agent).catch(() => undefined);
    throw new Error(`agent ${host} in ${vm.name} ${why}; log ${agent.log}:\n${tail(agent.log)}`);
  }
  return agent;
}

/** The agent's non-zero drop counters (`switchyard ctl --json stats`), or undefined if it does not answer. */
export async function guestAgentDrops(a: GuestAgent): Promise<Record<string, number> | undefined> {
  const r = await a.vm.exec(`${SWITCHYARD} ctl --host ${a.host} --socket /run/switchyard/${a.host}.sock --json stats`, {
    allowFail: true,
    timeoutMs: 60_000,
  });
  try {
    const j = JSON.parse(r.stdout) as { drops?: Record<string, number> };
    return Object.fromEntries(Object.entries(j.drops ?? {}).filter(([, v]) => v > 0));
  } catch {
    return undefined;
  }
}

/** "none", "unavailable" or "tx-full 57, port-down 3" */
export function fmtDrops(d: Record<string, number> | undefined): string {
  if (d === undefined) return 'unavailable';
  const e = Object.entries(d);
  return e.length ? e.map(([k, v]) => `${k} ${v}`).join(', ') : 'none';
}

export async function stopGuestAgent(a: GuestAgent): Promise<void> {
  await a.vm.exec(
    `kill ${a.pid} 2>/dev/null; for i in $(seq 50); do kill -0 ${a.pid} 2>/dev/null || break; sleep 0.2; done; kill -9 ${a.pid} 2>/dev/null; ` +
      stopAgentsOf(a.host) +
      `for n in ${a.namespaces.join(' ')}; do ip netns del $n 2>/dev/null; done; true`,
    { allowFail: true, timeoutMs: 30_000 },
  );
}
