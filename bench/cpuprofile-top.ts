/**
 * Top self-time functions of a V8 .cpuprofile (node --cpu-prof):
 *   npx tsx bench/cpuprofile-top.ts FILE.cpuprofile [N]
 * Self time per function (name + file:line), from the samples and their time deltas; idle,
 * program (native code outside JS: syscalls inside N-API calls show up under the JS caller only
 * when V8 attributes them, otherwise here) and GC are listed like functions.
 */
import fs from 'node:fs';
import path from 'node:path';

interface CpuNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}
export interface CpuProfile {
  nodes: CpuNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export function summarise(p: CpuProfile, top = 20): string {
  const byId = new Map<number, CpuNode>();
  for (const n of p.nodes) byId.set(n.id, n);
  const self = new Map<string, number>();
  let total = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const dt = p.timeDeltas[i + 1] ?? 0; // delta i+1 is how long sample i lasted
    const n = byId.get(p.samples[i]);
    if (!n) continue;
    const cf = n.callFrame;
    const where = cf.url ? `${path.basename(cf.url.replace(/^file:\/\//, ''))}:${cf.lineNumber + 1}` : '';
    const k = `${cf.functionName || '(anonymous)'}${where ? ' ' + where : ''}`;
    self.set(k, (self.get(k) ?? 0) + dt);
    total += dt;
  }
  const idle = self.get('(idle)') ?? 0;
  const rows = [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, top);
  const lines = [`wall ${(total / 1e6).toFixed(2)} s, busy ${(((total - idle) / total) * 100).toFixed(1)}% (of one core)`];
  for (const [k, us] of rows) lines.push(`${((us / total) * 100).toFixed(1).padStart(5)}%  ${(us / 1000).toFixed(0).padStart(6)} ms  ${k}`);
  return lines.join('\n');
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  const f = process.argv[2];
  if (!f) {
    console.error('usage: cpuprofile-top FILE.cpuprofile [N]');
    process.exit(2);
  }
  console.log(summarise(JSON.parse(fs.readFileSync(f, 'utf8')) as CpuProfile, Number(process.argv[3] ?? 20)));
}
