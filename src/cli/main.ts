/**
 * The `switchyard` command line: agent, ctl (stats, dump-flows, trace), validate, demo.
 * Argument errors and policy errors print a clear message and exit 2; nothing prints a stack
 * trace at a user unless SWITCHYARD_DEBUG is set.
 */
import { Command, InvalidArgumentError } from 'commander';
import { runAgentCommand } from './agent-cmd.js';
import { ctlDumpFlows, ctlStats, ctlTrace } from './ctl.js';
import { parseFrameSpec } from './frame-spec.js';
import { runValidate } from './validate-cmd.js';
import { runDemo } from './demo.js';
import { runBench } from './bench.js';

function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

export function buildProgram(): Command {
  const program = new Command('switchyard')
    .description('userspace network-virtualization dataplane: TAP ports, VFP-style flow table, VXLAN and NVGRE')
    .showHelpAfterError()
    .configureOutput({ outputError: (s, write) => write(s) });

  program
    .command('agent')
    .description('run the dataplane for one host of a policy')
    .requiredOption('--policy <file>', 'policy file (YAML or JSON)')
    .requiredOption('--host <name>', 'this host, as named in the policy')
    .option('--control <path>', 'control socket (default /run/switchyard/<host>.sock)')
    .option('--workers <n>', 'forwarding workers', positiveInt)
    .action(async (o: { policy: string; host: string; control?: string; workers?: number }) => {
      await runAgentCommand(o);
    });

  program
    .command('validate')
    .description('check a policy file and list every problem')
    .requiredOption('-f, --file <file>', 'policy file (YAML or JSON)')
    .action(async (o: { file: string }) => {
      process.exitCode = await runValidate(o.file);
    });

  const ctl = program
    .command('ctl')
    .description('talk to a running agent')
    .requiredOption('--host <name>', 'the agent\'s host name')
    .option('--socket <path>', 'control socket path')
    .option('--json', 'print JSON');
  ctl
    .command('stats')
    .description('per-port and per-reason counters')
    .action(async () => {
      console.log(await ctlStats(ctl.opts()));
    });
  ctl
    .command('dump-flows')
    .description('unified flow table entries')
    .option('--port <name>', 'only flows of this port')
    .action(async (o: { port?: string }) => {
      console.log(await ctlDumpFlows(ctl.opts(), o.port));
    });
  ctl
    .command('trace')
    .description('run a frame through the layers and show each decision, e.g. trace --port contoso-web icmp,dst=10.1.1.11')
    .requiredOption('--port <name>', 'port the frame enters')
    .option('--in', 'the frame arrives from the wire for this port (default: sent by the port)')
    .argument('<frame-spec>', 'proto[,field=value...]: proto is arp|icmp|tcp|udp|ip; fields src dst sport dport flags ttl dl_src dl_dst')
    .action(async (spec: string, o: { port: string; in?: boolean }) => {
      console.log(await ctlTrace(ctl.opts(), o.port, o.in ? 'in' : 'out', parseFrameSpec(spec)));
    });

  program
    .command('demo')
    .description('the Figure 8 scenario (Contoso and Fabrikam, same addresses, two hosts) in network namespaces')
    .option('--policy <file>', 'use this policy instead of the embedded Figure 8')
    .option('--iperf-seconds <n>', 'iperf3 run length', positiveInt, 3)
    .action(async (o: { policy?: string; iperfSeconds: number }) => {
      process.exitCode = await runDemo(o);
    });

  program
    .command('bench')
    .description('iperf3, UDP frames/s and ping RTT through switchyard and through kernel VXLAN, in one run')
    .option('--seconds <n>', 'length of each iperf3 run', positiveInt, 5)
    .option('--out <dir>', 'results directory (default bench/results)')
    .action(async (o: { seconds: number; out?: string }) => {
      process.exitCode = await runBench(o);
    });

  return program;
}

async function main(): Promise<void> {
  try {
    await buildProgram().parseAsync(process.argv);
  } catch (err) {
    if (process.env.SWITCHYARD_DEBUG) console.error(err);
    else console.error(`switchyard: ${(err as Error).message}`);
    process.exitCode = process.exitCode || 1;
  }
}

void main();
