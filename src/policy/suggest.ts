/**
 * "Did you mean": a misspelt key shows up as two problems on one object, an unknown field and a
 * missing required one. When the two names are a small edit apart, the unknown-field message
 * names the field the user meant.
 */
import type { PolicyError } from './errors.js';

/** Levenshtein distance, small strings only. */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1]!.toLowerCase() === b[j - 1]!.toLowerCase() ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length]!;
}

function split(path: string): [string, string] {
  const dot = path.lastIndexOf('.');
  return dot < 0 ? ['', path] : [path.slice(0, dot), path.slice(dot + 1)];
}

export function suggestMisspelt(errors: PolicyError[]): PolicyError[] {
  const required = errors.filter((e) => e.message === 'required').map((e) => split(e.path));
  return errors.map((e) => {
    if (e.message !== 'unknown field') return e;
    const [parent, key] = split(e.path);
    const best = required
      .filter(([p]) => p === parent)
      .map(([, k]) => ({ k, d: distance(key, k) }))
      .filter((x) => x.d <= Math.max(2, Math.floor(x.k.length / 4)))
      .sort((a, b) => a.d - b.d)[0];
    return best ? { ...e, message: `unknown field (did you mean ${best.k}?)` } : e;
  });
}
