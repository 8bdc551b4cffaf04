/**
 * Policy documents from text or a file: YAML or JSON (told apart by content), then `parsePolicy`.
 * Syntax errors carry line and column; schema and reference errors get the line of the node they
 * point at when it can be found.
 */
import { readFile } from 'node:fs/promises';
import { LineCounter, isNode, parseDocument } from 'yaml';
import type { Document } from 'yaml';
import { ROOT_PATH } from './errors.js';
import type { PolicyError, PolicyResult } from './errors.js';
import type { Policy } from './types.js';
import { parsePolicy } from './validate.js';

export { formatErrors } from './errors.js';
export type { PolicyError, PolicyResult } from './errors.js';

/** "networkInterfaces[2].macAddress" -> ["networkInterfaces", 2, "macAddress"]. */
function pathSegments(path: string): (string | number)[] {
  if (path === ROOT_PATH) return [];
  const segments: (string | number)[] = [];
  for (const match of path.matchAll(/([^.[\]]+)|\[(\d+)\]/g)) {
    segments.push(match[2] !== undefined ? Number(match[2]) : (match[1] as string));
  }
  return segments;
}

/** Line and column of the deepest node along `path` that exists in the document. */
function locate(doc: Document, counter: LineCounter, path: string): { line: number; column: number } | undefined {
  const segments = pathSegments(path);
  for (let length = segments.length; length >= 0; length--) {
    const node: unknown = length === 0 ? doc.contents : doc.getIn(segments.slice(0, length), true);
    if (isNode(node) && node.range) {
      const position = counter.linePos(node.range[0]);
      return { line: position.line, column: position.col };
    }
  }
  return undefined;
}

function syntaxError(kind: string, message: string, line?: number, column?: number): PolicyResult<Policy> {
  const where = line === undefined ? '' : ` at line ${line}, column ${column ?? 1}`;
  const error: PolicyError = { path: ROOT_PATH, message: `${kind} syntax error${where}: ${message}` };
  if (line !== undefined) Object.assign(error, { line, column: column ?? 1 });
  return { ok: false, errors: [error] };
}

/** Line and column of a character offset. */
function positionOf(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset).split('\n');
  return { line: before.length, column: (before[before.length - 1]?.length ?? 0) + 1 };
}

function firstLine(message: string): string {
  return (message.split('\n')[0] ?? message).replace(/ at line \d+, column \d+:?$/, '');
}

/** Parse and validate a policy document given as YAML or JSON text. */
export function parsePolicyText(text: string): PolicyResult<Policy> {
  if (/^\s*[{[]/.test(text)) {
    try {
      JSON.parse(text);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      const offset = /position (\d+)/.exec(message);
      const position = offset ? positionOf(text, Number(offset[1])) : undefined;
      const description = message.replace(/ in JSON at position \d+.*$/, '');
      return syntaxError('json', description.charAt(0).toLowerCase() + description.slice(1), position?.line, position?.column);
    }
  }
  const counter = new LineCounter();
  const doc = parseDocument(text, { lineCounter: counter, prettyErrors: false, uniqueKeys: true });
  const first = doc.errors[0];
  if (first !== undefined) {
    const position = counter.linePos(first.pos[0]);
    return syntaxError('yaml', firstLine(first.message).toLowerCase(), position.line, position.col);
  }
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 100 });
  } catch (error) {
    return syntaxError('yaml', error instanceof Error ? firstLine(error.message).toLowerCase() : String(error));
  }
  const result = parsePolicy(raw);
  if (result.ok) return result;
  return {
    ok: false,
    errors: result.errors.map((error) => {
      const position = locate(doc, counter, error.path);
      return position === undefined ? error : { ...error, ...position };
    }),
  };
}

/**
 * Line and column in `text` (a policy document, YAML or JSON) of each error's path, where the path
 * is in the document: e.g. the controller's verdict on a document made from this file.
 */
export function locateErrors(text: string, errors: readonly PolicyError[]): PolicyError[] {
  const counter = new LineCounter();
  const doc = parseDocument(text, { lineCounter: counter, prettyErrors: false });
  return errors.map((error) => {
    const position = locate(doc, counter, error.path);
    return position === undefined ? error : { ...error, ...position };
  });
}

/** Read and validate a policy file (YAML or JSON). */
export async function loadPolicyFile(path: string): Promise<PolicyResult<Policy>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason =
      code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : String(error);
    return { ok: false, errors: [{ path: ROOT_PATH, message: `cannot read ${path}: ${reason}` }] };
  }
  return parsePolicyText(text);
}
