/**
 * `switchyard lab up|status|down`: a Figure 8 lab that stays up to play with (lab/standing-lab.ts
 * does the work; this file parses, prints, and turns Ctrl-C during `up` into a clean removal).
 */
import { loadPolicyFile, formatErrors } from '../policy/load.js';
import { figure8Policy } from '../policy/figure8.js';
import type { Policy } from '../policy/types.js';
import { labDown, labStatus, labUp, type LabStatus } from '../lab/standing-lab.js';
import { DEFAULT_LAB, labName, listLabs } from '../lab/lab-state.js';
import { table } from './ctl.js';

function needRoot(cmd: string): boolean {
  if (process.getuid?.() === 0) return true;
  console.error(`switchyard lab ${cmd}: needs root (network namespaces and TAP devices)`);
  return false;
}

/** How `ctl` reaches this lab's agent for `host`: plain --host for the default lab. */
export function ctlHint(name: string, host: string, socket: string): string {
  if (name === DEFAULT_LAB) return `switchyard ctl --host ${host} stats`;
  return `switchyard ctl --socket ${socket} stats   (or SWITCHYARD_LAB=${name} switchyard ctl --host ${host} stats)`;
}

export async function runLabUp(o: { name?: string; policy?: string; controller?: boolean; json?: boolean }): Promise<number> {
  if (!needRoot('up')) return 2;
  const name = labName(o.name);
  let policy: Policy = figure8Policy();
  if (o.policy) {
    const r = await loadPolicyFile(o.policy);
    if (!r.ok) {
      console.error(`${o.policy}: invalid policy\n${formatErrors(r.errors, { file: o.policy })}`);
      return 2;
    }
    policy = r.policy;
  }
  const abort = new AbortController();
  // the first Ctrl-C stops `up` at its next step, which then removes what it made; it is never
  // lost, whatever `up` is waiting for at that moment
  const onSignal = () => {
    if (!abort.signal.aborted) console.error('\ninterrupted: removing what lab up made');
    abort.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    await labUp({
      name,
      policy,
      policySource: o.policy ?? 'embedded Figure 8 (examples/figure8.yaml)',
      ...(o.controller ? { controller: true } : {}),
      signal: abort.signal,
      say: (l) => console.log(`lab ${name}: ${l}`),
    });
  } catch (err) {
    console.error(`lab up failed: ${(err as Error).message}`);
    return abort.signal.aborted ? 130 : 1;
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
  console.log('');
  return runLabStatus({ name, ...(o.json ? { json: true } : {}) });
}

export function formatLabStatus(s: LabStatus): string {
  const st = s.state;
  const out: string[] = [];
  out.push(`lab ${st.name}: ${st.complete ? 'up' : 'INCOMPLETE (lab up did not finish)'} since ${st.createdAt}; policy ${st.policySource} (as run: ${st.policyFile})`);
  if (st.controller) {
    out.push(`controller ${st.controller.url} in ${st.controller.ns}: ${s.controllerRunning ? `running (pid ${st.controller.pid})` : 'NOT RUNNING'}, log ${st.controller.log}`);
    // it listens on the router's underlay address, which only the lab's namespaces reach
    out.push(`  ip netns exec ${st.controller.ns} switchyard ctl get nics --controller ${st.controller.url} --token-file ${st.controller.tokenFile}`);
  }
  out.push('');
  out.push(
    table(
      ['host', 'namespace', 'PA', 'agent', 'control socket'],
      s.agents.map((a) => [a.host, a.ns, a.pa, a.answers ? `up (pid ${a.pid})` : a.running ? `not answering (pid ${a.pid})` : 'DOWN', a.socket]),
    ),
  );
  out.push('');
  out.push('talk to an agent (stats, ports, dump-flows, layers, trace):');
  for (const a of s.agents) out.push(`  ${ctlHint(st.name, a.host, a.socket)}`);
  const down = s.agents.filter((a) => !a.answers);
  for (const a of down) out.push(`agent ${a.host} is not answering: see ${a.log}; \`switchyard lab down${st.name === DEFAULT_LAB ? '' : ` --name ${st.name}`}\` removes the lab`);
  out.push('');
  out.push('tenants (enter one with `ip netns exec NAMESPACE COMMAND`):');
  out.push(
    table(
      ['port', 'virtual network', 'address', 'host', 'try'],
      st.tenants.map((t) => {
        // a peer in the same virtual network, preferably on the other host
        const peers = st.tenants.filter((p) => p.virtualNetwork === t.virtualNetwork && p.nic !== t.nic);
        const peer = peers.find((p) => p.host !== t.host) ?? peers[0];
        return [t.nic, t.virtualNetwork, t.ip, t.host, peer ? `ip netns exec ${t.ns} ping -c 3 ${peer.ip}` : `ip netns exec ${t.ns} ip addr`];
      }),
    ),
  );
  if (s.missing.length) out.push(`\nmissing namespaces (removed by someone else): ${s.missing.join(', ')}`);
  out.push('');
  out.push(`remove it all: switchyard lab down${st.name === DEFAULT_LAB ? '' : ` --name ${st.name}`}`);
  return out.join('\n');
}

export async function runLabStatus(o: { name?: string; json?: boolean }): Promise<number> {
  const name = labName(o.name);
  const s = await labStatus(name);
  if (!s) {
    const others = listLabs();
    console.error(`no lab ${name}${others.length ? ` (labs up: ${others.join(', ')}; pick one with --name)` : ''}: \`switchyard lab up\` makes one`);
    return 1;
  }
  console.log(o.json ? JSON.stringify(s, null, 2) : formatLabStatus(s));
  return s.state.complete && s.agents.every((a) => a.answers) ? 0 : 1;
}

export async function runLabDown(o: { name?: string; json?: boolean }): Promise<number> {
  if (!needRoot('down')) return 2;
  const name = labName(o.name);
  const r = await labDown(name);
  if (o.json) console.log(JSON.stringify(r, null, 2));
  else if (!r.found) console.log(`no lab ${name}: nothing to remove`);
  else {
    for (const d of r.daemons) console.log(`${d.what} (pid ${d.pid}): ${d.result}`);
    console.log(`removed namespaces: ${r.namespaces.join(', ') || '(none left)'}`);
    console.log(`lab ${name}: down`);
  }
  return 0;
}
