/**
 * `switchyard ctl mirror --port P -w FILE.pcap` (or `-w -` for a pipe): a port's frames, both
 * directions, decapsulated, as a pcap that tshark/Wireshark read. The port's TAP device carries
 * exactly those frames (what the tenant sends, and what the dataplane writes to it after
 * decapsulation and routing), so this is a libpcap capture (io/capture.ts, `switchyard capture`)
 * on that device, run inside the tenant namespace the agent put it in (`ip netns exec`; a port
 * without a namespace is captured here, in the agent's). The agent says where the port is.
 */
import { spawn } from 'node:child_process';
import { controlRequest } from '../agent/control-client.js';
import { socketFor, type CtlTarget } from './ctl.js';
import { runCapture } from './capture-cmd.js';

interface PortWhere {
  name: string;
  ifname: string;
  netns?: string;
  error?: string;
}

export async function ctlMirror(t: CtlTarget, o: { port: string; write: string; count?: number; seconds?: number }): Promise<number> {
  const ports = (await controlRequest(socketFor(t), { op: 'ports' })) as PortWhere[];
  const p = ports.find((x) => x.name === o.port);
  if (p === undefined) throw new Error(`ctl mirror: no port ${o.port} on this host (ports: ${ports.map((x) => x.name).join(', ') || 'none'})`);
  if (p.error !== undefined) throw new Error(`ctl mirror: port ${o.port} is not up: ${p.error}`);
  const rest = [...(o.count ? ['--count', String(o.count)] : []), ...(o.seconds ? ['--seconds', String(o.seconds)] : [])];
  if (p.netns === undefined) return runCapture({ dev: p.ifname, write: o.write, ...(o.count ? { count: o.count } : {}), ...(o.seconds ? { seconds: o.seconds } : {}) });
  // this same program, in the port's namespace; the pcap (or the pipe) is passed straight through
  const child = spawn('ip', ['netns', 'exec', p.netns, process.execPath, ...process.execArgv, process.argv[1]!, 'capture', '--dev', p.ifname, '-w', o.write, ...rest], { stdio: 'inherit' });
  const forward = (sig: NodeJS.Signals) => () => child.kill(sig);
  process.on('SIGINT', forward('SIGINT'));
  process.on('SIGTERM', forward('SIGTERM'));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code, sig) => resolve(code ?? (sig ? 1 : 0)));
  });
}
