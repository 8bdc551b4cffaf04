/**
 * A quick subset of `make bench` for tuning: `npx tsx bench/quick.ts [kernel|sy|nvgre|ovs|kpeer|kpkernel] [cases] [seconds] [-- agent args]`
 * (nvgre: switchyard on examples/nvgre.yaml; ovs: Open vSwitch userspace GRE on the same; kpeer:
 * a kernel VXLAN peer whose tenant has no offload against switchyard, kpkernel: against the kernel),
 * cases a comma list of tcp1,tcp4,udp,rtt. Prints progress lines only (no JSON).
 */
import { figure8Policy } from '../src/policy/figure8.js';
import { withKernel, withKernelPeer, withOvsGre, withSwitchyard, type CaseSet } from '../src/cli/bench.js';
import { loadPolicyFile } from '../src/policy/load.js';

const argv = process.argv.slice(2);
const dash = argv.indexOf('--');
const agentArgs = dash >= 0 ? argv.slice(dash + 1) : [];
const pos = dash >= 0 ? argv.slice(0, dash) : argv;
const which = pos[0] ?? 'sy';
const only = new Set((pos[1] ?? 'tcp1,rtt').split(',')) as unknown as CaseSet;
const seconds = Number(pos[2] ?? 3);
const policy = figure8Policy();
async function nvgre() {
  const p = await loadPolicyFile(new URL('../examples/nvgre.yaml', import.meta.url).pathname);
  if (!p.ok) throw new Error('examples/nvgre.yaml does not load');
  return p.policy;
}
const r =
  which === 'kpeer' || which === 'kpkernel'
    ? await withKernelPeer(policy, seconds, which === 'kpeer' ? 'switchyard' : 'kernel', agentArgs)
    : which === 'kernel'
    ? await withKernel(policy, seconds, only)
    : which === 'ovs'
      ? await withOvsGre(await nvgre(), seconds, only)
      : await withSwitchyard(which === 'nvgre' ? await nvgre() : policy, seconds, agentArgs, `switchyard ${which} ${agentArgs.join(' ')}`, only);
console.log(JSON.stringify(r));
