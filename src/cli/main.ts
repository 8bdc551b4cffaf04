/**
 * The `switchyard` command line: agent, ctl (stats, dump-flows, trace), validate, demo.
 * Argument errors and policy errors print a clear message and exit 2; nothing prints a stack
 * trace at a user unless SWITCHYARD_DEBUG is set.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { completionScript } from './completion.js';
import type { AgentCommandOptions } from './agent-cmd.js';
import { DEFAULT_TAP_IO, TAP_IO_MODES } from '../agent/tap-io.js';
import type { VtepCommandOptions } from './vtep-cmd.js';
import type { ControllerCommandOptions } from './controller-cmd.js';
import type { VmAttachOptions } from './vm-attach-cmd.js';
// Each command's module is imported when the command runs, not here: the controller's modules
// (fastify, etcd3 with gRPC, piscina, SQLite) and prom-client took 0.7-1.2 s to import, which
// every `switchyard agent` start (and so an agent restart's forwarding gap) paid for nothing.

function nonNegativeInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected an integer >= 0');
  return n;
}

function busyPollUs(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 100_000) throw new InvalidArgumentError('expected microseconds, an integer from 0 to 100000');
  return n;
}

function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

/** The package's version (package.json beside dist/ and src/). */
function version(): string {
  try {
    const pkg = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../package.json');
    return (JSON.parse(fs.readFileSync(pkg, 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** An old spelling kept working but left out of --help (one name per concept: issue 17). */
function alias(flags: string, description: string): Option {
  return new Option(flags, description).hideHelp();
}

export function buildProgram(): Command {
  const program = new Command('switchyard')
    .description('userspace network-virtualization dataplane: TAP ports, VFP-style flow table, VXLAN and NVGRE')
    .version(version(), '-V, --version', 'print the version')
    .showHelpAfterError()
    // `controller --store F` and `controller token create --store F`: each command's options after its own name
    .enablePositionalOptions()
    .configureOutput({ outputError: (s, write) => write(s) });

  program
    .command('agent')
    .description('run the dataplane for one host of a policy')
    .option('-f, --policy <file>', 'policy file (YAML or JSON)')
    .option('--controller <url>', 'take policy from a controller instead of a file (e.g. https://127.0.0.1:8443; several, comma-separated, for failover)')
    .requiredOption('--host <name>', 'this host, as named in the policy')
    .option('--socket <path>', 'control socket (default /run/switchyard/<host>.sock; mode 0600: root only)')
    .addOption(alias('--control <path>', 'old name of --socket'))
    .option('--control-group <group>', 'a group (name or gid) that may use the control socket too (mode 0660)')
    .option('--state-dir <dir>', 'record of the namespaces and TAPs this agent made (default /run/switchyard/<host>)')
    .option('--cache <file>', 'with --controller: last policy kept on disk (default /var/lib/switchyard/<host>.policy.json)')
    .option('--token-file <file>', 'with --controller: this host\'s token file (`controller token create --host NAME`; default: $SWITCHYARD_TOKEN)')
    .option('--ca-file <file>', 'with --controller: CA certificate that signs the controller\'s (default: $SWITCHYARD_CA, else the system\'s roots)')
    .option('--workers <n>', 'forwarding workers', positiveInt)
    .option('--no-offload', 'tenant ports without checksum/TSO offload (plain frames, as a VM NIC without offloads)')
    .option('--no-underlay-offload', 'VXLAN without the UDP GSO send pool and UDP GRO (one datagram per frame)')
    .option('--metrics <addr:port>', 'serve Prometheus metrics at http://ADDR:PORT/metrics')
    .option('--ct-capacity <n>', 'connection-tracking slots per worker (default 262144)', positiveInt)
    .option('--ct-per-port <n>', 'connections one port may own per worker; over it its new connections drop (default 50000)', positiveInt)
    .option('--new-flows-per-second <n>', 'new flows per second per port, also the burst; 0: no limit (default 20000)', nonNegativeInt)
    .option('--no-keep-conntrack', 'a restarted worker starts with an empty connection table (default: it adopts its predecessor\'s, so established connections survive)')
    .option('--busy-poll <us>', 'after a burst, keep polling this long for more before sleeping (lower latency where a worker has a core to itself, costs CPU); default 0: off', busyPollUs)
    .addOption(new Option('--tap-io <mode>', `TAP I/O of the workers: uring (one io_uring_enter per batch of frames) or syscall (read()/write() per frame); default ${DEFAULT_TAP_IO}, syscall where the kernel refuses io_uring`).choices(TAP_IO_MODES))
    .action(async (o: AgentCommandOptions & { socket?: string }) => {
      if (o.socket !== undefined) o.control = o.socket;
      if (!o.policy === !o.controller) throw new InvalidArgumentError('give exactly one of --policy FILE or --controller URL');
      const { runAgentCommand } = await import('./agent-cmd.js');
      await runAgentCommand(o);
    });

  program
    .command('validate')
    .description('check a policy file and list every problem')
    .option('-f, --policy <file>', 'policy file (YAML or JSON)')
    .addOption(alias('--file <file>', 'old name of --policy'))
    .option('--json', 'print JSON: {ok, file, errors[]} or {ok, file, counts}')
    .action(async (o: { policy?: string; file?: string; json?: boolean }) => {
      const file = o.policy ?? o.file;
      if (file === undefined) throw new InvalidArgumentError('validate: give the policy file: -f FILE (or --policy FILE)');
      const { runValidate } = await import('./validate-cmd.js');
      process.exitCode = await runValidate(file, o.json === true);
    });

  const ctl = program
    .command('ctl')
    .description('talk to a running agent')
    .option('--host <name>', 'the agent\'s host name (stats, dump-flows, trace)')
    .option('--socket <path>', 'control socket path')
    .option('--json', 'print JSON');
  // --host, --socket and --json are taken before or after the subcommand (`ctl --json stats`, `ctl stats --json`)
  const agentTarget = (sub: { host?: string; socket?: string; json?: boolean } = {}) => {
    const o = { ...ctl.opts<{ host?: string; socket?: string; json?: boolean }>(), ...sub };
    if (!o.host && !o.socket) throw new InvalidArgumentError('ctl: give --host NAME (or --socket PATH) of the agent');
    return { host: o.host ?? '', ...(o.socket ? { socket: o.socket } : {}), ...(o.json ? { json: true } : {}) };
  };
  const target = (c: Command) => c.option('--host <name>', "the agent's host name").option('--socket <path>', 'control socket path').option('--json', 'print JSON');
  target(ctl.command('stats'))
    .description('per-port and per-reason counters')
    .action(async (o: { host?: string; socket?: string; json?: boolean }) => {
      const { ctlStats } = await import('./ctl.js');
      console.log(await ctlStats(agentTarget(o)));
    });
  target(ctl.command('ports'))
    .description('the host\'s ports: TAP, namespace (and netnsMode), address; a port that could not be made, with why')
    .action(async (o: { host?: string; socket?: string; json?: boolean }) => {
      const { ctlPorts } = await import('./ctl.js');
      console.log(await ctlPorts(agentTarget(o)));
    });
  target(ctl.command('dump-flows'))
    .description('unified flow table entries')
    .option('--port <name>', 'only flows of this port (an unknown port is an error)')
    .action(async (o: { port?: string; host?: string; socket?: string; json?: boolean }) => {
      const { ctlDumpFlows } = await import('./ctl.js');
      console.log(await ctlDumpFlows(agentTarget(o), o.port));
    });
  target(ctl.command('layers'))
    .description("each port's layers in the order a frame takes them, with their rules")
    .option('--port <name>', 'only this port')
    .action(async (o: { port?: string; host?: string; socket?: string; json?: boolean }) => {
      const { ctlLayers } = await import('./ctl.js');
      console.log(await ctlLayers(agentTarget(o), o.port));
    });
  target(ctl.command('trace'))
    .description('run a frame through the layers and show each decision, e.g. trace --port contoso-web icmp,dst=10.1.1.11')
    .requiredOption('--port <name>', 'port the frame enters')
    .option('--in', 'the frame arrives from the wire for this port (default: sent by the port)')
    .option('--from-host <name>', 'with --in: the host the frame comes from (default: the host policy places its source on)')
    .argument('<frame-spec>', 'proto[,field=value...]: proto is arp|icmp|tcp|udp|ip; fields src dst sport dport flags ttl dl_src dl_dst')
    .action(async (spec: string, o: { port: string; in?: boolean; fromHost?: string; host?: string; socket?: string; json?: boolean }) => {
      const [{ ctlTrace }, { parseFrameSpec }] = await Promise.all([import('./ctl.js'), import('./frame-spec.js')]);
      console.log(await ctlTrace(agentTarget(o), o.port, o.in ? 'in' : 'out', parseFrameSpec(spec), o.fromHost));
    });

  ctl
    .command('mirror')
    .description("a port's frames, both directions, decapsulated, to a pcap file (-w - : standard output, for tshark -r -)")
    .requiredOption('--port <name>', 'the port')
    .requiredOption('-w, --write <file>', "pcap file to write, or '-'")
    .option('--count <n>', 'stop after N frames', positiveInt)
    .option('--seconds <n>', 'stop after N seconds', positiveInt)
    .action(async (o: { port: string; write: string; count?: number; seconds?: number; host?: string; socket?: string; json?: boolean }) => {
      const { ctlMirror } = await import('./mirror-cmd.js');
      process.exitCode = await ctlMirror(agentTarget(o), o);
    });

  type CtlCtrl = { controller?: string; tokenFile?: string; caFile?: string; json?: boolean };
  const ctrl = (c: Command) =>
    c
      .option('--controller <url>', 'controller URL (default $SWITCHYARD_CONTROLLER or https://127.0.0.1:8443)')
      .option('--token-file <file>', 'API token file (default: $SWITCHYARD_TOKEN)')
      .option('--ca-file <file>', 'CA certificate that signs the controller\'s (default: $SWITCHYARD_CA, else the system\'s roots)')
      .option('--json', 'print JSON');
  ctrl(ctl.command('apply').description('create or replace the resources of a policy file on the controller'))
    .option('-f, --policy <file>', 'policy file (YAML or JSON)')
    .addOption(alias('--file <file>', 'old name of --policy'))
    .action(async (o: CtlCtrl & { policy?: string; file?: string }) => {
      const file = o.policy ?? o.file;
      if (file === undefined) throw new InvalidArgumentError('ctl apply: give the policy file: -f FILE (or --policy FILE)');
      const { ctlApply } = await import('./apply-cmd.js');
      process.exitCode = await ctlApply({ ...o, file, json: o.json ?? ctl.opts().json });
    });
  ctrl(ctl.command('get').description('list resources of a kind or show one (hosts|vnets|nics|acls)'))
    .argument('<kind>')
    .argument('[name]')
    .action(async (kind: string, name: string | undefined, o: CtlCtrl) => {
      const { ctlGet } = await import('./apply-cmd.js');
      process.exitCode = await ctlGet({ ...o, kind, ...(name === undefined ? {} : { name }), json: o.json ?? ctl.opts().json });
    });
  ctrl(ctl.command('delete').description('delete one resource from the controller'))
    .argument('<kind>')
    .argument('<name>')
    .action(async (kind: string, name: string, o: CtlCtrl) => {
      const { ctlDelete } = await import('./apply-cmd.js');
      process.exitCode = await ctlDelete({ ...o, kind, name, json: o.json ?? ctl.opts().json });
    });

  const controller = program
    .command('controller')
    .description('run the network controller: REST API, SQLite store, agent sync')
    .option('--listen <addr:port>', 'address to serve on, e.g. 127.0.0.1:8443 (required)')
    .option('--store <file>', 'SQLite store file (created if missing), or etcd://HOST:PORT[,HOST:PORT...] shared by several controllers (required)')
    .option('--tls-cert <file>', 'serve HTTPS with this certificate (PEM, chain after the leaf)')
    .option('--tls-key <file>', 'the certificate\'s private key (PEM)')
    .option('--insecure-http', 'serve plain HTTP instead (no certificate options; tokens cross the network in cleartext)')
    .option('--token-file <file>', 'admin bearer token file (default: $SWITCHYARD_TOKEN)')
    .option('--token-store <file>', 'SQLite file of the host tokens (default: the --store file; with etcd, give one to use host tokens)')
    .option('--etcd-ca <file>', 'etcds:// store: the CA of the etcd members\' certificates (PEM)')
    .option('--etcd-cert <file>', 'etcds:// store: a client certificate for etcd (PEM; with --etcd-key)')
    .option('--etcd-key <file>', 'the etcd client certificate\'s private key (PEM)')
    .option('--etcd-user-file <file>', 'etcd with authentication: a file with USER:PASSWORD on its first line')
    .option('--heartbeat-ms <n>', 'agent sync heartbeat period', positiveInt)
    .option('--max-sync-streams <n>', 'open agent sync streams in total (default 1024)', positiveInt)
    .option('--max-sync-per-host <n>', 'open agent sync streams per host name (default 4)', positiveInt)
    .option('--sync-stall-ms <n>', 'drop a sync stream whose client has not read for this long (default 30000)', positiveInt)
    .option('--max-replay-changes <n>', 'a resuming agent past this many changes gets a snapshot (default 1000)', positiveInt)
    .option('--max-replay-bytes <n>', 'a resume reading more of the change log than this gets a snapshot (default 4194304)', positiveInt)
    .option('--body-limit <n>', 'largest REST request body in bytes (default 1048576)', positiveInt)
    .option('--max-body-depth <n>', 'deepest nesting of a JSON request body (default 64)', positiveInt)
    .action(async (o: ControllerCommandOptions) => {
      const { runControllerCommand } = await import('./controller-cmd.js');
      process.exitCode = await runControllerCommand(o);
    });
  const token = controller.command('token').description('host-scoped API tokens, kept hashed in the store');
  token
    .command('create')
    .description('make a token that may only sync and report for one host; prints it once')
    .requiredOption('--store <file>', 'the controller\'s store file')
    .requiredOption('--host <name>', 'the host the token is for')
    .option('--json', 'print JSON (id, host, token)')
    .action(async (o: { store: string; host: string; json?: boolean }) => {
      const { tokenCreate } = await import('./token-cmd.js');
      process.exitCode = tokenCreate(o);
    });
  token
    .command('list')
    .description('list host tokens (ids and hosts; never the secrets)')
    .requiredOption('--store <file>', 'the controller\'s store file')
    .option('--json', 'print JSON')
    .action(async (o: { store: string; json?: boolean }) => {
      const { tokenList } = await import('./token-cmd.js');
      process.exitCode = tokenList(o);
    });
  token
    .command('revoke')
    .description('remove a host token; its open sync streams end at the next heartbeat')
    .argument('<id>', 'the token id (see token list)')
    .requiredOption('--store <file>', 'the controller\'s store file')
    .action(async (id: string, o: { store: string }) => {
      const { tokenRevoke } = await import('./token-cmd.js');
      process.exitCode = tokenRevoke({ ...o, id });
    });

  program
    .command('vtep')
    .description('keep a hardware_vtep OVSDB (a hardware switch or the ovs-vtep emulator) in step with the controller')
    .requiredOption('--ovsdb <unix:path>', 'the ovsdb-server socket holding the hardware_vtep database')
    .requiredOption('--controller <url>', 'controller URL (several, comma-separated, for failover)')
    .option('--host <name>', "the VTEP's host name in the policy (default vtep)")
    .option('--tunnel-ip <addr>', "the VTEP's provider address (default: its Physical_Switch tunnel_ips)")
    .option('--token-file <file>', 'admin API token file (default: $SWITCHYARD_TOKEN); the VTEP writes its endpoints')
    .option('--ca-file <file>', 'CA certificate that signs the controller\'s (default: $SWITCHYARD_CA, else the system\'s roots)')
    .option('--poll-ms <n>', 'policy revision poll period (default 500)', positiveInt)
    .action(async (o: VtepCommandOptions) => {
      const { runVtepCommand } = await import('./vtep-cmd.js');
      process.exitCode = await runVtepCommand(o);
    });

  program
    .command('demo')
    .description('the Figure 8 scenario (Contoso and Fabrikam, same addresses, two hosts) in network namespaces')
    .option('-f, --policy <file>', 'use this policy instead of the embedded Figure 8')
    .option('--seconds <n>', 'iperf3 run length', positiveInt, 3)
    .addOption(alias('--iperf-seconds <n>', 'old name of --seconds').argParser(positiveInt))
    .option('--controller', 'run a network controller too and let the agents take the policy from it')
    .option('--switches', "the seed's Hyper-V virtual switch on one host: Private, Internal with NAT, External")
    .option('--vms', 'across two qemu VMs instead of namespaces (builds the image once per machine, /var/cache/switchyard/vms)')
    .option('--no-nvgre', 'with --vms: skip the NVGRE interop with the guest kernel\'s gretap')
    .option('--mem <mb>', 'with --vms: memory per VM', positiveInt)
    .action(async (o: { policy?: string; seconds: number; iperfSeconds?: number; controller?: boolean; switches?: boolean; vms?: boolean; nvgre: boolean; mem?: number }) => {
      if (o.switches) {
        const { runSwitchDemo } = await import('./demo-switches.js');
        process.exitCode = await runSwitchDemo();
        return;
      }
      const iperfSeconds = o.iperfSeconds ?? o.seconds;
      if (o.vms) {
        const { runDemoVms } = await import('../vms/demo.js');
        process.exitCode = await runDemoVms({ iperfSeconds, ...(o.nvgre ? {} : { noNvgre: true }), ...(o.mem ? { memMb: o.mem } : {}) });
        return;
      }
      const { runDemo } = await import('./demo.js');
      process.exitCode = await runDemo({ ...o, iperfSeconds });
    });

  const lab = program
    .command('lab')
    .description('a Figure 8 lab that stays up: host and tenant namespaces, agents in the background (state in /run/switchyard/lab/NAME)');
  lab
    .command('up')
    .description('build the lab and start its agents (and a controller) in the background; then print how to use it')
    .option('-f, --policy <file>', 'policy file (YAML or JSON) instead of the embedded Figure 8; its hosts must be host1 and host2')
    .option('--controller', 'run a network controller in the router namespace; the agents take the policy from it')
    .option('--name <name>', 'lab name, also the prefix of its namespaces (default $SWITCHYARD_LAB or sylab)')
    .option('--json', 'print the status as JSON')
    .action(async (o: { policy?: string; controller?: boolean; name?: string; json?: boolean }) => {
      const { runLabUp } = await import('./lab-cmd.js');
      process.exitCode = await runLabUp(o);
    });
  lab
    .command('status')
    .description('the lab\'s agents, how to reach them with ctl, and how to enter each tenant')
    .option('--name <name>', 'lab name (default $SWITCHYARD_LAB or sylab)')
    .option('--json', 'print JSON')
    .action(async (o: { name?: string; json?: boolean }) => {
      const { runLabStatus } = await import('./lab-cmd.js');
      process.exitCode = await runLabStatus(o);
    });
  lab
    .command('down')
    .description('stop the lab\'s processes and remove exactly the namespaces and files lab up made (also after a crash)')
    .option('--name <name>', 'lab name (default $SWITCHYARD_LAB or sylab)')
    .option('--json', 'print what was removed as JSON')
    .action(async (o: { name?: string; json?: boolean }) => {
      const { runLabDown } = await import('./lab-cmd.js');
      process.exitCode = await runLabDown(o);
    });

  program
    .command('vm-attach')
    .description('print the qemu options that attach a VM to a vhost-user port of the policy')
    .requiredOption('-f, --file <file>', 'policy file (YAML or JSON)')
    .requiredOption('--port <name>', 'the network interface (with vhostUser) the VM plugs into')
    .option('--mem <mb>', 'guest memory in MiB (shared with switchyard)', positiveInt, 256)
    .option('--kvm', 'the VM runs with KVM: keep MSI-X vectors (under TCG qemu 7.2 needs vectors=0)')
    .action(async (o: VmAttachOptions) => {
      const { runVmAttach } = await import('./vm-attach-cmd.js');
      process.exitCode = await runVmAttach(o);
    });

  program
    .command('capture')
    .description('capture frames of a device to a pcap file (libpcap), e.g. the underlay: --dev eth0 --filter "udp port 4789"')
    .requiredOption('--dev <name>', 'device to capture on')
    .option('--filter <bpf>', 'BPF filter expression')
    .requiredOption('-w, --write <file>', 'pcap file to write')
    .option('--count <n>', 'stop after N frames', positiveInt)
    .option('--seconds <n>', 'stop after N seconds', positiveInt)
    .action(async (o: { dev: string; filter?: string; write: string; count?: number; seconds?: number }) => {
      const { runCapture } = await import('./capture-cmd.js');
      process.exitCode = await runCapture(o);
    });

  program
    .command('bench')
    .description('iperf3, UDP frames/s and ping RTT through switchyard and through kernel VXLAN, in one run')
    .option('--seconds <n>', 'length of each iperf3 run', positiveInt, 5)
    .option('--out <dir>', 'results directory (default bench/results)')
    .action(async (o: { seconds: number; out?: string }) => {
      const { runBench } = await import('./bench.js');
      process.exitCode = await runBench(o);
    });

  program
    .command('completion')
    .description('print a shell completion script: `source <(switchyard completion bash)`')
    .argument('<shell>', 'bash')
    .action((shell: string) => {
      if (shell !== 'bash') throw new InvalidArgumentError(`completion: only bash is supported, not "${shell}"`);
      process.stdout.write(completionScript(program));
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

// a unit test that imports this module for buildProgram sets this global first (not an
// environment variable: the commands it would hide must still run in the test's child processes)
if (!(globalThis as { switchyardNoMain?: boolean }).switchyardNoMain) void main();
