/**
 * "Did you mean": a misspelt key shows up as two problems on one object, an unknown field and a
 * missing required one. When the two names are a small edit apart, the unknown-field message
 * names the field the user meant.
 */
import type { PolicyError } from './errors.js';

/** Levenshtein distance, small strings only. */
export function distance(a: string, b: string): number {
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

/** The known name closest to `name` when it is a plausible typo (at most a third of it differs). */
export function closestName(name: string, known: readonly string[]): string | undefined {
  let best: { k: string; d: number } | undefined;
  for (const k of known) {
    const d = distance(name, k);
    if (!best || d < best.d) best = { k, d };
  }
  // a prefix of a name is a plausible start too (e.g. "contoso" for "contoso-sql")
  const prefixed = known.filter((k) => k.startsWith(name));
  if (prefixed.length === 1 && name.length >= 3) return prefixed[0];
  return best && best.d <= Math.max(1, Math.floor(Math.max(name.length, best.k.length) / 3)) ? best.k : undefined;
}

/** `no port "nope" on host host1 (did you mean contoso-sql?) (ports: a, b)`: one wording for every unknown name. */
export function unknownNameMessage(what: string, name: string, where: string, known: readonly string[]): string {
  const hint = closestName(name, known);
  return `no ${what} "${name}"${where ? ` on ${where}` : ''}${hint ? ` (did you mean ${hint}?)` : ''} (${what}s: ${known.join(', ') || 'none'})`;
}
