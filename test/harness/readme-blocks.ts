/**
 * The executable README: fenced shell blocks (```sh, ```bash, ```shell) each carry a marker on
 * the line right above the fence, an HTML comment GitHub does not render:
 *
 *   <!-- readme-test: run -->                 test/integration/readme.test.ts runs it, in order
 *   <!-- readme-test: skip REASON -->         not run; REASON says what it needs that CI lacks
 *
 * A shell block without a marker, or a skip without a reason, is an error (readme-blocks unit
 * test), so a new command in the README is either tested or says why not.
 */

export interface ShellBlock {
  /** 1-based line of the opening fence. */
  line: number;
  marker: 'run' | 'skip' | undefined;
  reason: string;
  code: string;
}

const FENCE = /^```(\w*)\s*$/;
const MARKER = /^<!--\s*readme-test:\s*(run|skip)\b\s*(.*?)\s*-->\s*$/;
const SHELLS = new Set(['sh', 'bash', 'shell']);

export function shellBlocks(markdown: string): ShellBlock[] {
  const lines = markdown.split('\n');
  const out: ShellBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = FENCE.exec(lines[i]!);
    if (!open) continue;
    let end = i + 1;
    while (end < lines.length && !/^```\s*$/.test(lines[end]!)) end++;
    if (SHELLS.has(open[1]!)) {
      const m = i > 0 ? MARKER.exec(lines[i - 1]!) : null;
      out.push({ line: i + 1, marker: m ? (m[1] as 'run' | 'skip') : undefined, reason: m?.[2] ?? '', code: lines.slice(i + 1, end).join('\n') });
    }
    i = end;
  }
  return out;
}

/** Problems with the markers: a block without one, a skip without a reason. */
export function markerProblems(blocks: ShellBlock[]): string[] {
  const out: string[] = [];
  for (const b of blocks) {
    if (!b.marker) out.push(`line ${b.line}: shell block without <!-- readme-test: run --> or <!-- readme-test: skip REASON -->`);
    else if (b.marker === 'skip' && !b.reason) out.push(`line ${b.line}: skip without a reason`);
  }
  return out;
}
