/**
 * `switchyard ctl`: talks to a running agent over its control socket and prints what it says,
 * as a table for people or as JSON (--json) for programs.
 */
import { controlRequest } from '../agent/control-client.js';
import { controlSocketPath, type FrameSpec } from '../agent/control-protocol.js';

export interface CtlTarget {
  host: string;
  socket?: string;
  json?: boolean;
}

export function socketFor(t: CtlTarget): string {
  return t.socket ?? controlSocketPath(t.host);
}

interface StatsReply {
  host: string;
  generation: number;
  counters: Record<string, number>;
  drops: Record<string, number>;
  ports: Record<string, Record<string, number>>;
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
  return lines.join('\n');
}

export async function ctlDumpFlows(t: CtlTarget, port?: string): Promise<string> {
  const r = (await controlRequest(socketFor(t), port ? { op: 'dump-flows', port } : { op: 'dump-flows' })) as unknown[];
  if (t.json) return JSON.stringify(r, null, 2);
  if (!r.length) return '(no flows)';
  return r.map((e) => formatFlow(e)).join('\n');
}

export async function ctlTrace(t: CtlTarget, port: string, direction: 'out' | 'in', spec: FrameSpec): Promise<string> {
  const r = await controlRequest(socketFor(t), { op: 'trace', port, direction, spec });
  if (t.json) return JSON.stringify(r, null, 2);
  return formatTrace(r);
}

function formatFlow(e: unknown): string {
  if (typeof e !== 'object' || e === null) return String(e);
  return Object.entries(e as Record<string, unknown>)
    .map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
    .join(' ');
}

function formatTrace(r: unknown): string {
  if (typeof r !== 'object' || r === null) return String(r);
  const o = r as { steps?: unknown[]; verdict?: unknown; flow?: unknown };
  const out: string[] = [];
  if (o.flow !== undefined) out.push(`flow: ${typeof o.flow === 'string' ? o.flow : JSON.stringify(o.flow)}`);
  for (const s of o.steps ?? []) {
    out.push(`  ${typeof s === 'string' ? s : formatFlow(s)}`);
  }
  out.push(`verdict: ${typeof o.verdict === 'string' ? o.verdict : JSON.stringify(o.verdict)}`);
  return out.join('\n');
}

/** A plain left-aligned text table. */
export function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const fmt = (r: string[]) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [fmt(head), ...rows.map(fmt)].join('\n');
}
