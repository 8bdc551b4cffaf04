/**
 * How deep a JSON text nests, found by one flat scan (no recursion, no parse), so that a body
 * nested 400 000 levels deep is refused before a recursive parser or validator overflows the stack.
 */

/** Deepest nesting of arrays and objects a REST body may have (a policy needs about 6). */
export const DEFAULT_MAX_DEPTH = 64;

/** Why `text` nests deeper than `maxDepth`, or undefined. Strings are skipped, escapes honoured. */
export function jsonDepthProblem(text: string, maxDepth: number): string | undefined {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > maxDepth) return `the body nests deeper than ${maxDepth} levels (at character ${i})`;
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    }
  }
  return undefined;
}
