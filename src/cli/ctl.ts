/**
 * `switchyard ctl`: talks to a running agent over its control socket and prints what it says,
 * as a table for people or as JSON (--json) for programs.
 */
import fs from 'node:fs';
import { DEFAULT_LAB, labName, labSocket } from '../lab/lab-state.js';
import { controlRequest } from '../agent/control-client.js';
import { controlSocketPath, type FrameSpec } from '../agent/control-protocol.js';
import type { TraceResult } from '../vfp/trace-types.js';
import type { FlowDumpEntry } from '../dataplane/flows.js';

export interface CtlTarget {
  host: string;
  socket?: string;
  json?: boolean;
}

/**
 * --socket, else the agent of `--host` in the lab $SWITCHYARD_LAB names, else the host's default
 * socket, else (no agent of that name outside a lab) the default lab's (`switchyard lab up`).
 */
export function socketFor(t: CtlTarget): string {
  if (t.socket) return t.socket;
  if (process.env.SWITCHYARD_LAB) return labSocket(labName(), t.host);
  const plain = controlSocketPath(t.host);
  if (fs.existsSync(plain)) return plain;
  const lab = labSocket(DEFAULT_LAB, t.host);
  return fs.existsSync(lab) ? lab : plain;
}

interface StatsReply {
  host: string;
  generation: number;
  counters: Record<string, number>;
  drops: Record<string, number>;
  ports: Record<string, Record<string, number>>;
  /** Per forwarding worker: its restarts and its own counters. */
  workers?: ({ worker: number; restarts: number } & Record<string, number>)[];
}

export async function ctlStats(t: CtlTarget): Promise<string> {
  const r = (await controlRequest(socketFor(t), { op: 'stats' })) as StatsReply;
  if (t.json) return JSON.stringify(r, null, 2);
  const lines: string[] = [`host ${r.host}  policy generation ${r.generation}`, ''];
  const ports = Object.entries(r.ports);
  const cols = [...new Set(ports.flatMap(([, c]) => Object.keys(c)))];
  lines.push(table(['port', ...cols], ports.map(([name, c]) => [name, ...cols.map((k) => String(c[k] ?? 0))])));
  lines.push('');
  lines.push(table(['counter', 'value'], Object.entries(r.counters).filter(([, v]) => v !== 0).map(([k, v]) => [k, String(v)])));
  lines.push('');
  const drops = Object.entries(r.drops).filter(([, v]) => v !== 0);
  lines.push(drops.length ? table(['drop reason', 'frames'], drops.map(([k, v]) => [k, String(v)])) : 'drops: none');
  if (r.workers?.length) {
    const wcols = ['port-rx-frames', 'port-tx-frames', 'uplink-rx-frames', 'uplink-tx-frames', 'uft-misses'];
    lines.push('');
    // per wake-up: frames read and microseconds spent (OVS's pmd-stats-show, for each worker)
    const per = (w: Record<string, number>, k: string) => (w.wakeups > 0 ? (w[k] / w.wakeups).toFixed(1) : '-');
    lines.push(
      table(
        ['worker', 'restarts', ...wcols, 'wakeups', 'frames/wakeup', 'us/wakeup'],
        r.workers.map((w) => [String(w.worker), String(w.restarts), ...wcols.map((k) => String(w[k] ?? 0)), String(w.wakeups ?? 0), per(w, 'wakeup-frames'), per(w, 'wakeup-us')]),
      ),
    );
  }
  return lines.join('\n');
}

interface LayersReply {
  generation: number;
  ports: { port: string; out: { layer: string; rules: string[] }[]; in: { layer: string; rules: string[] }[] }[];
  uplink: { layer: string; rules: string[] }[];
}

/** `ctl layers`: each port's layers in the order a frame takes them, with their rules. */
export async function ctlLayers(t: CtlTarget, port?: string): Promise<string> {
  const r = (await controlRequest(socketFor(t), port ? { op: 'layers', port } : { op: 'layers' })) as LayersReply;
  if (t.json) return JSON.stringify(r, null, 2);
  const out: string[] = [`policy generation ${r.generation}`];
  const list = (title: string, ls: LayersReply['uplink']) => {
    out.push(title);
    ls.forEach((l, i) => {
      out.push(`  ${i + 1}. ${l.layer}`);
      for (const rule of l.rules) out.push(`       ${rule}`);
    });
  };
  for (const p of r.ports) {
    list(`port ${p.port}, frames it sends:`, p.out);
    list(`port ${p.port}, frames about to reach it:`, p.in);
  }
  list('from the wire, before the destination port\'s inbound layers:', r.uplink);
  return out.join('\n');
}

interface PortLine {
  name: string;
  ifname: string;
  netns?: string;
  netnsMode?: string;
  ip: string;
  vsid: number;
  error?: string;
}

/** The host's ports: where each lives, and why one could not be made. */
export async function ctlPorts(t: CtlTarget): Promise<string> {
  const r = (await controlRequest(socketFor(t), { op: 'ports' })) as PortLine[];
  if (t.json) return JSON.stringify(r, null, 2);
  if (!r.length) return '(no ports)';
  const rows = r.map((p) => [p.name, p.ifname, p.netns ? `${p.netns} (${p.netnsMode ?? 'create'})` : '-', p.ip, String(p.vsid), p.error ? `FAILED: ${p.error}` : 'up']);
  return table(['port', 'ifname', 'netns', 'ip', 'vsid', 'state'], rows);
}

export async function ctlDumpFlows(t: CtlTarget, port?: string): Promise<string> {
  const r = (await controlRequest(socketFor(t), port ? { op: 'dump-flows', port } : { op: 'dump-flows' })) as unknown[];
  if (t.json) return JSON.stringify(r, null, 2);
  if (!r.length) return '(no flows)';
  return formatFlows(r as FlowDumpEntry[]);
}

export async function ctlTrace(t: CtlTarget, port: string, direction: 'out' | 'in', spec: FrameSpec, fromHost?: string): Promise<string> {
  const r = await controlRequest(socketFor(t), { op: 'trace', port, direction, spec, ...(fromHost !== undefined ? { fromHost } : {}) });
  if (t.json) return JSON.stringify(r, null, 2);
  return formatTrace(r);
}

export function formatTrace(r: unknown): string {
  const t = r as Partial<TraceResult>;
  if (!t || !Array.isArray(t.steps)) return JSON.stringify(r, null, 2);
  const out: string[] = [];
  const frame = Object.entries(t.frame ?? {})
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(',');
  out.push(`${t.direction === 'in' ? 'from the wire for' : 'sent by'} port ${t.port} (policy generation ${t.generation})`);
  out.push(`frame: ${frame}`);
  out.push('');
  const width = Math.max(...t.steps.map((s) => s.layer.length));
  t.steps.forEach((s, i) => {
    out.push(`${String(i + 1).padStart(2)}. ${s.layer.padEnd(width)}  ${s.rule ? `${s.rule}\n${' '.repeat(width + 6)}-> ` : ''}${s.action}`);
  });
  out.push('');
  out.push(`verdict: ${t.verdict}${t.dropReason ? ` (${t.dropReason})` : ''}`);
  if (t.outputs?.length) out.push(`outputs: ${t.outputs.join('; ')}`);
  if (t.uft) out.push(`flow table: ${t.uft}`);
  return out.join('\n');
}

function formatFlows(r: FlowDumpEntry[]): string {
  return r
    .map((e) => {
      const m = Object.entries(e.match)
        .map(([k, v]) => `${k}=${String(v)}`)
        .join(',');
      const ct = e.conntrack ? ` ct=${e.conntrack}` : '';
      return `port=${e.port} dir=${e.direction} gen=${e.generation}${e.stale ? '(stale)' : ''} frames=${e.counters.frames} bytes=${e.counters.bytes} age=${(e.ageMs / 1000).toFixed(1)}s idle=${(e.idleMs / 1000).toFixed(1)}s${ct}\n    ${m}\n    actions: ${e.action}`;
    })
    .join('\n');
}

/** A plain left-aligned text table. */
export function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const fmt = (r: string[]) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [fmt(head), ...rows.map(fmt)].join('\n');
}
