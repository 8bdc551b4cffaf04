/**
 * Ping and iperf3 between tenant namespaces inside the guests, parsed into small results. Under TCG
 * the figures show that traffic flows and how it compares, not what switchyard can do on hardware.
 */
import type { Vm } from './vm.js';

export interface PingResult {
  sent: number;
  received: number;
  rtts: number[];
}

export function parsePing(out: string, count: number): PingResult {
  const m = /(\d+) packets transmitted, (\d+) received/.exec(out);
  const rtts = [...out.matchAll(/time=([\d.]+) ms/g)].map((x) => Number(x[1]));
  return { sent: m ? Number(m[1]) : count, received: m ? Number(m[2]) : 0, rtts };
}

export function median(xs: number[]): number | undefined {
  if (!xs.length) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** "5/5, median 12.50 ms" */
export function fmtPing(p: PingResult): string {
  const med = median(p.rtts);
  return `${p.received}/${p.sent}${med !== undefined ? `, median ${med.toFixed(2)} ms` : ''}`;
}

export async function guestPing(vm: Vm, ns: string | undefined, addr: string, count = 5): Promise<PingResult> {
  const pre = ns ? `ip netns exec ${ns} ` : '';
  const r = await vm.exec(`${pre}ping -n -c ${count} -i 0.3 -W 3 ${addr}`, { allowFail: true, timeoutMs: (count * 3 + 10) * 1000 });
  return parsePing(r.stdout, count);
}

export interface IperfResult {
  mbps: number;
  retransmits?: number;
  error?: string;
}

/** "33 Mbit/s, 2 retransmits" or "failed: ..." */
export function fmtIperf(r: IperfResult | undefined): string {
  if (!r) return 'not run';
  if (r.error) return `failed: ${r.error}`;
  return `${r.mbps.toFixed(0)} Mbit/s${r.retransmits !== undefined ? `, ${r.retransmits} retransmits` : ''}`;
}

/** iperf3 TCP from `client` (in its namespace) to a one-shot server in `server`'s namespace. */
export async function guestIperf(server: { vm: Vm; ns: string }, client: { vm: Vm; ns: string }, addr: string, seconds: number): Promise<IperfResult> {
  const port = 5201 + Math.floor(Math.random() * 300);
  const log = `/tmp/iperf3-s-${port}.log`;
  const s = await server.vm.exec(`setsid nohup ip netns exec ${server.ns} iperf3 -s -1 -p ${port} >${log} 2>&1 </dev/null & echo $!`);
  const pid = Number(s.stdout.trim());
  try {
    // the server listens within a second or so, longer on a loaded TCG guest
    const up = await server.vm.exec(
      `for i in $(seq 100); do ip netns exec ${server.ns} ss -Hltn 'sport = :${port}' | grep -q . && exit 0; sleep 0.2; done; cat ${log}; exit 1`,
      { allowFail: true, timeoutMs: 40_000 },
    );
    if (up.code !== 0) return { mbps: 0, error: `iperf3 server did not listen: ${up.stdout.trim().slice(0, 300)}` };
    const r = await client.vm.exec(`ip netns exec ${client.ns} iperf3 -c ${addr} -p ${port} -t ${seconds} -J --connect-timeout 10000`, {
      allowFail: true,
      timeoutMs: (seconds + 40) * 1000,
    });
    let j: { end?: { sum_received?: { bits_per_second: number }; sum_sent?: { retransmits?: number } }; error?: string };
    try {
      j = JSON.parse(r.stdout) as typeof j;
    } catch {
      return { mbps: 0, error: `iperf3 gave no JSON: ${(r.stderr || r.stdout).trim().slice(0, 300)}` };
    }
    if (j.error) return { mbps: 0, error: j.error };
    const out: IperfResult = { mbps: (j.end?.sum_received?.bits_per_second ?? 0) / 1e6 };
    if (j.end?.sum_sent?.retransmits !== undefined) out.retransmits = j.end.sum_sent.retransmits;
    return out;
  } finally {
    await server.vm.exec(`kill ${pid} 2>/dev/null; true`, { allowFail: true }).catch(() => undefined);
  }
}
