/**
 * A quick subset of `make bench` for tuning: `npx tsx bench/quick.ts [kernel|sy] [cases] [seconds] [-- agent args]`,
 * cases a comma list of tcp1,tcp4,udp,rtt. Prints progress lines only (no JSON).
 */
import { figure8Policy } from '../src/policy/figure8.js';
import { withKernel, withSwitchyard, type CaseSet } from '../src/cli/bench.js';

const argv = process.argv.slice(2);
const dash = argv.indexOf('--');
const agentArgs = dash >= 0 ? argv.slice(dash + 1) : [];
const pos = dash >= 0 ? argv.slice(0, dash) : argv;
const which = pos[0] ?? 'sy';
const only = new Set((pos[1] ?? 'tcp1,rtt').split(',')) as unknown as CaseSet;
const seconds = Number(pos[2] ?? 3);
const policy = figure8Policy();
const r = which === 'kernel' ? await withKernel(policy, seconds, only) : await withSwitchyard(policy, seconds, agentArgs, `switchyard ${agentArgs.join(' ')}`, only);
console.log(JSON.stringify(r));
