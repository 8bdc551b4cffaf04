/**
 * Where one ping's time goes: the Figure 8 lab through switchyard, tcpdump in the web tenant, on
 * the sql host's underlay NIC and in the sql tenant; prints the median of each leg (the legs of
 * the web host include the underlay router's hop).
 *   npx tsx bench/leg-latency.ts [-- agent args]
 */
import { figure8Policy } from '../src/policy/figure8.js';
import { createFigure8Lab } from '../src/lab/topology.js';
import { policyForLab } from '../src/lab/policy.js';
import { createTenantNamespaces, makeRunDir, startAgent, writePolicy, type RunningAgent } from '../src/lab/agents.js';
import { ping } from '../src/lab/probes.js';
import { spawnIn, sleep } from '../src/lab/run.js';

const dash = process.argv.indexOf('--');
const agentArgs = dash >= 0 ? process.argv.slice(dash + 1) : [];
const lab = await createFigure8Lab({ tag: undefined });
const agents: RunningAgent[] = [];
try {
  const p = policyForLab(figure8Policy(), lab.tenantNs);
  const dir = makeRunDir(lab.tag);
  const file = writePolicy(dir, p);
  await createTenantNamespaces(p, lab.hosts.map((h) => h.name));
  for (const h of lab.hosts) agents.push(await startAgent(h.ns, h.name, file, dir, agentArgs));
  const web = lab.tenantNs('contoso-web');
  const sql = lab.tenantNs('contoso-sql');
  await ping(web, '10.1.1.11', 3, 0.2);
  const caps = [
    { name: 'web', ns: web, dev: 'any', filter: 'icmp' },
    { name: 'wire1', ns: lab.hosts[0].ns, dev: lab.hosts[0].dev, filter: 'udp port 4789' },
    { name: 'sql', ns: sql, dev: 'any', filter: 'icmp' },
  ].map((c) => {
    const pr = spawnIn(c.ns, 'tcpdump', ['-i', c.dev, '-n', '-tt', '-l', '-Q', 'inout', c.filter]);
    const lines: string[] = [];

    let buf = '';
    pr.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const parts = buf.split('\n');
      buf = parts.pop()!;
      // tcpdump prints a VXLAN packet's inner frame on the next line: join it to its packet
      for (const l of parts) {
        if (/^\d/.test(l) || lines.length === 0) lines.push(l);
        else lines[lines.length - 1] += ' ' + l.trim();
      }
    });
    return { ...c, pr, lines };
  });
  await sleep(1500);
  await ping(web, '10.1.1.11', 100, 0.02, 1);
  await sleep(500);
  for (const c of caps) c.pr.kill('SIGINT');
  await sleep(500);

  // icmp seq -> time per capture and kind
  const seqOf = (l: string) => Number(/seq (\d+)/.exec(l)?.[1] ?? NaN);
  const t = (l: string) => Number(l.split(' ')[0]);
  const by = (c: (typeof caps)[number], kind: string) => {
    const m = new Map<number, number>();
    for (const l of c.lines) if (l.includes(kind)) m.set(seqOf(l), t(l));
    return m;
  };
  // on the wire, request and reply are told apart by the inner ICMP text tcpdump prints for VXLAN
  const webReq = by(caps[0], "echo request");
  const webRep = by(caps[0], 'echo reply');
  const sqlReq = by(caps[2], 'echo request');
  const sqlRep = by(caps[2], 'echo reply');
  const wireReq = by(caps[1], 'echo request');
  const wireRep = by(caps[1], 'echo reply');
  const legs: Record<string, number[]> = { 'web tap->udp, host A': [], 'udp->sql tap, host B': [], 'sql req->rep (tenant stack)': [], 'sql tap->udp, host B': [], 'udp->web tap, host A': [], rtt: [] };
  for (const [s, a] of webReq) {
    const b = wireReq.get(s), c = sqlReq.get(s), d = sqlRep.get(s), e = wireRep.get(s), f = webRep.get(s);
    if ([b, c, d, e, f].some((x) => x === undefined)) continue;
    const us = (x: number, y: number) => (y - x) * 1e6;
    legs['web tap->udp, host A'].push(us(a, b!));
    legs['udp->sql tap, host B'].push(us(b!, c!));
    legs['sql req->rep (tenant stack)'].push(us(c!, d!));
    legs['sql tap->udp, host B'].push(us(d!, e!));
    legs['udp->web tap, host A'].push(us(e!, f!));
    legs.rtt.push(us(a, f!));
  }
  for (const [k, v] of Object.entries(legs)) {
    v.sort((x, y) => x - y);
    console.log(`${k.padEnd(40)} median ${v[v.length >> 1]?.toFixed(0)} us  p90 ${v[Math.floor(v.length * 0.9)]?.toFixed(0)} us  (n=${v.length})`);
  }
} finally {
  for (const a of agents) await a.stop().catch(() => undefined);
  await lab.destroy();
}
