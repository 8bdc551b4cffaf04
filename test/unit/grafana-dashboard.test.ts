// examples/grafana/switchyard.json against the fields of Grafana's dashboard schema it uses (there
// is no Grafana in Debian 12 to import it into): the dashboard's own fields, each panel's type,
// title, grid position and targets; every query names only metrics the agent exposes
// (metric-names.ts), with labels those metrics have, and parses as PromQL (promtool).
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { METRIC_FAMILIES } from '../../src/agent/metric-names.js';
import { NEEDS_PROMTOOL, promtoolCheckExprs } from '../helpers/promtool.js';

const FILE = new URL('../../examples/grafana/switchyard.json', import.meta.url);
const PANEL_TYPES = ['timeseries', 'stat', 'gauge', 'bargauge', 'table', 'row'];
/** Variables Grafana defines itself. */
const BUILTIN_VARS = ['__rate_interval', '__interval', '__range'];

interface Target { refId?: unknown; expr?: unknown; datasource?: unknown }
interface Panel { id?: unknown; type?: unknown; title?: unknown; gridPos?: Record<string, unknown>; targets?: Target[]; datasource?: unknown }
interface Dashboard {
  uid?: unknown;
  title?: unknown;
  schemaVersion?: unknown;
  panels?: Panel[];
  templating?: { list?: { name?: unknown; type?: unknown; query?: unknown }[] };
}

const FAMILIES = new Map(METRIC_FAMILIES.map((f) => [f.name, new Set(['host', ...f.labels])]));
const METRIC_RE = /\b(switchyard_[a-z0-9_]+)\b/g;

/** What a PromQL expression refers to: metric names, label names in selectors, label names in by/without. */
function refsOf(expr: string): { metrics: string[]; selectorLabels: { metric: string; label: string }[]; groupLabels: string[] } {
  const metrics = [...expr.matchAll(METRIC_RE)].map((m) => m[1]!);
  const selectorLabels: { metric: string; label: string }[] = [];
  for (const m of expr.matchAll(/\b(switchyard_[a-z0-9_]+)\s*\{([^}]*)\}/g)) {
    for (const l of m[2]!.matchAll(/([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)/g)) selectorLabels.push({ metric: m[1]!, label: l[1]! });
  }
  const groupLabels = [...expr.matchAll(/\b(?:by|without)\s*\(([^)]*)\)/g)].flatMap((m) => m[1]!.split(',').map((s) => s.trim()).filter(Boolean));
  return { metrics, selectorLabels, groupLabels };
}

/** Problems of a dashboard, one line each (empty: it is fine). */
function dashboardProblems(d: Dashboard): string[] {
  const bad: string[] = [];
  if (typeof d.title !== 'string' || !d.title) bad.push('dashboard: no title');
  if (typeof d.uid !== 'string' || !d.uid) bad.push('dashboard: no uid');
  if (typeof d.schemaVersion !== 'number') bad.push('dashboard: no schemaVersion');
  if (!Array.isArray(d.panels) || d.panels.length === 0) return [...bad, 'dashboard: no panels'];
  const vars = new Set([...BUILTIN_VARS, ...(d.templating?.list ?? []).map((v) => String(v.name))]);
  const exprs: { where: string; expr: string }[] = [];
  for (const v of d.templating?.list ?? []) {
    const q = typeof v.query === 'object' && v.query !== null ? (v.query as { query?: unknown }).query : v.query;
    if (v.type === 'query' && typeof q === 'string') exprs.push({ where: `variable ${String(v.name)}`, expr: q });
  }
  const ids = new Set<unknown>();
  const cells = new Set<string>();
  d.panels.forEach((p, i) => {
    const where = `panel ${i} (${String(p.title)})`;
    if (typeof p.id !== 'number' || ids.has(p.id)) bad.push(`${where}: id missing or not unique`);
    ids.add(p.id);
    if (typeof p.type !== 'string' || !PANEL_TYPES.includes(p.type)) bad.push(`${where}: type ${String(p.type)} is not one of ${PANEL_TYPES.join(', ')}`);
    if (typeof p.title !== 'string' || !p.title) bad.push(`${where}: no title`);
    const g = p.gridPos;
    const num = (k: string) => (g && Number.isInteger(g[k]) ? (g[k] as number) : NaN);
    const [x, y, w, h] = [num('x'), num('y'), num('w'), num('h')];
    if ([x, y, w, h].some(Number.isNaN) || x < 0 || y < 0 || w < 1 || h < 1 || x + w > 24) bad.push(`${where}: gridPos must have integer x, y, w, h within 24 columns`);
    else {
      for (let r = y; r < y + h; r++) {
        for (let c = x; c < x + w; c++) {
          if (cells.has(`${r},${c}`)) bad.push(`${where}: overlaps another panel at row ${r}, column ${c}`);
          cells.add(`${r},${c}`);
        }
      }
    }
    if (p.type === 'row') return;
    if (!Array.isArray(p.targets) || p.targets.length === 0) {
      bad.push(`${where}: no targets`);
      return;
    }
    const refIds = new Set<unknown>();
    for (const t of p.targets) {
      if (typeof t.refId !== 'string' || refIds.has(t.refId)) bad.push(`${where}: target refId missing or not unique`);
      refIds.add(t.refId);
      if (typeof t.expr !== 'string' || !t.expr.trim()) bad.push(`${where}: target ${String(t.refId)} has no expr`);
      else exprs.push({ where: `${where} target ${String(t.refId)}`, expr: t.expr });
    }
  });
  for (const { where, expr } of exprs) {
    const r = refsOf(expr);
    if (r.metrics.length === 0) bad.push(`${where}: names no switchyard metric: ${expr}`);
    for (const m of r.metrics) if (!FAMILIES.has(m)) bad.push(`${where}: ${m} is not a metric the agent exposes`);
    for (const { metric, label } of r.selectorLabels) if (FAMILIES.has(metric) && !FAMILIES.get(metric)!.has(label)) bad.push(`${where}: ${metric} has no label ${label}`);
    for (const label of r.groupLabels) if (!r.metrics.some((m) => FAMILIES.get(m)?.has(label))) bad.push(`${where}: no metric of the query has label ${label} (by/without)`);
    for (const v of expr.matchAll(/\$\{?([A-Za-z_][A-Za-z0-9_]*)/g)) if (!vars.has(v[1]!)) bad.push(`${where}: variable $${v[1]} is not defined`);
  }
  return bad;
}

/** The dashboard's PromQL with Grafana's variables replaced by values Prometheus takes. */
function exprsForPromtool(d: Dashboard): string[] {
  const all = (d.panels ?? []).flatMap((p) => (p.targets ?? []).map((t) => String(t.expr)));
  return all.map((e) => e.replace(/\$__rate_interval|\$__interval|\$__range/g, '5m').replace(/\$\{?host\}?/g, '.*'));
}

const dashboard = JSON.parse(fs.readFileSync(FILE, 'utf8')) as Dashboard;

describe('examples/grafana/switchyard.json', () => {
  it('has the dashboard and panel fields Grafana needs, and queries only metrics the agent exposes', () => {
    expect(dashboardProblems(dashboard)).toEqual([]);
  });

  it('shows per-port throughput, drops by reason, the UFT hit rate and conntrack use', () => {
    const text = JSON.stringify(dashboard.panels);
    expect(text).toContain('rate(switchyard_port_bytes_total');
    expect(text).toMatch(/sum by \(reason\) \(rate\(switchyard_drops_total/);
    expect(text).toContain('switchyard_uft_lookups_total{host=~\\"$host\\",result=\\"hit\\"}');
    expect(text).toContain('switchyard_conntrack_entries_limit');
  });

  it('the check finds what is wrong in a broken dashboard', () => {
    const broken = structuredClone(dashboard);
    const p = broken.panels!;
    p[0]!.targets![0]!.expr = 'rate(switchyard_port_total{counter="rx-bytes"}[5m])';
    p[1]!.targets![0]!.expr = 'sum by (reason) (rate(switchyard_port_frames_total{direction="rx"}[5m]))';
    delete p[2]!.gridPos;
    p[3]!.type = 'graph-ish';
    p[4]!.targets = [];
    const problems = dashboardProblems(broken);
    expect(problems.some((x) => x.includes('switchyard_port_total is not a metric the agent exposes'))).toBe(true);
    expect(problems.some((x) => x.includes('label reason (by/without)'))).toBe(true);
    expect(problems.some((x) => x.includes('gridPos'))).toBe(true);
    expect(problems.some((x) => x.includes('type graph-ish'))).toBe(true);
    expect(problems.some((x) => x.includes('no targets'))).toBe(true);
    expect(problems).toHaveLength(5);
  });

  it('its queries parse as PromQL (promtool check rules)', NEEDS_PROMTOOL, async () => {
    const r = await promtoolCheckExprs(exprsForPromtool(dashboard));
    expect(r.code, `${r.stdout}${r.stderr}`).toBe(0);
    const bad = await promtoolCheckExprs(['sum by (host (rate(switchyard_frames_total[5m]))']);
    expect(bad.code).not.toBe(0);
  });
});
