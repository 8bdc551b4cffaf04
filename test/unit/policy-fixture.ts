/** Shared helpers for the policy tests: a fresh raw Figure 8 document and error assertions. */
import { expect } from 'vitest';
import { parse } from 'yaml';
import { FIGURE8_YAML } from '../../src/policy/figure8.js';
import { formatErrors } from '../../src/policy/errors.js';
import { parsePolicy } from '../../src/policy/validate.js';

// Raw documents are loose JSON trees that tests mutate freely.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Raw = any;

/** A fresh, mutable raw Figure 8 document (as parsed from YAML, before validation). */
export function figure8Raw(): Raw {
  return parse(FIGURE8_YAML);
}

/** A fresh raw document with one ACL (two rules) attached to contoso-sql. */
export function withAclRaw(): Raw {
  const doc = figure8Raw();
  doc.networkInterfaces[0].accessControlList = 'sql-acl';
  doc.accessControlLists = [
    {
      name: 'sql-acl',
      aclRules: [
        rule({ name: 'allow-sql', destinationPortRange: '1433', priority: 100 }),
        rule({ name: 'deny-all', action: 'Deny', priority: 200 }),
      ],
    },
  ];
  return doc;
}

export function rule(fields: Record<string, unknown> = {}): Raw {
  return {
    name: 'r',
    protocol: 'TCP',
    sourceAddressPrefix: '*',
    destinationAddressPrefix: '*',
    sourcePortRange: '*',
    destinationPortRange: '*',
    action: 'Allow',
    type: 'Inbound',
    priority: 100,
    ...fields,
  };
}

/** The formatted error lines of a document that must be invalid. */
export function errorLines(doc: unknown): string[] {
  const result = parsePolicy(doc);
  if (result.ok) throw new Error('expected the document to be invalid');
  return formatErrors(result.errors).split('\n');
}

/** Assert the document's problems are exactly `lines` (in order). */
export function expectErrors(doc: unknown, lines: string[]): void {
  expect(errorLines(doc)).toEqual(lines);
}
