/** Policy problems: one `path: message` per problem, the same text through every door. */
import type { z } from 'zod';

export interface PolicyError {
  /** Where in the document: "networkInterfaces[2].macAddress"; "(root)" for the whole document. */
  path: string;
  /** Short, lower case, names the offending value. */
  message: string;
  /** 1-based position in the source text, when the document came from a file or text. */
  line?: number;
  column?: number;
}

export type PolicyResult<T> = { ok: true; policy: T } | { ok: false; errors: PolicyError[] };

export type PathSegment = string | number;

export const ROOT_PATH = '(root)';

/** ["networkInterfaces", 2, "macAddress"] -> "networkInterfaces[2].macAddress". */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else out += out === '' ? String(segment) : `.${String(segment)}`;
  }
  return out === '' ? ROOT_PATH : out;
}

/** Zod issues as policy errors; an unknown-fields issue becomes one error per field. */
export function fromZodIssues(issues: readonly z.core.$ZodIssue[]): PolicyError[] {
  const errors: PolicyError[] = [];
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) errors.push({ path: formatPath([...issue.path, key]), message: 'unknown field' });
    } else {
      errors.push({ path: formatPath(issue.path), message: issue.message });
    }
  }
  return errors;
}

export interface FormatOptions {
  /** Prefix each line with "file:line:column: " when the position is known. */
  file?: string;
}

/** One problem per line as `path: message`. */
export function formatErrors(errors: readonly PolicyError[], options: FormatOptions = {}): string {
  return errors
    .map((error) => {
      const where =
        options.file !== undefined && error.line !== undefined
          ? `${options.file}:${error.line}:${error.column ?? 1}: `
          : '';
      return `${where}${error.path}: ${error.message}`;
    })
    .join('\n');
}
