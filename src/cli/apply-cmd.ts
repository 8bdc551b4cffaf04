/**
 * `switchyard ctl apply -f FILE | get KIND [NAME] | delete KIND NAME` against the controller's REST
 * API (--controller URL, default $SWITCHYARD_CONTROLLER or https://127.0.0.1:8443; token from
 * --token-file or SWITCHYARD_TOKEN; the controller's certificate is checked against --ca-file or
 * SWITCHYARD_CA, else the system's roots). `get hosts` also shows what each host's agent last
 * reported: the state (Succeeded, Failed, Unknown) and revision of its view, and why it failed.
 * `apply` validates the file first exactly as `validate` does (same messages, file:line:column),
 * then reads what the controller holds and sends one whole-policy PUT (`PUT /networking/v1/policy`,
 * If-Match: the revision it read): the file's resources created or replaced, every other resource
 * the controller holds kept as it is, all in one store transaction, so the controller takes all of
 * the file or none of it. It prints what changed (created, configured, unchanged) and maps a refusal
 * back to paths and lines of the file. A controller without the whole-policy PUT (404, 405, 501),
 * or one whose store cannot take the change in one transaction (413, e.g. etcd's --max-txn-ops),
 * gets the resources one PUT at a time, in dependency order (ACLs, hosts, virtual networks,
 * interfaces), as before. Output is a kubectl-style table, or JSON (--json).
 * Each function returns the exit code: 0 ok, 1 the controller refused something, 2 bad input.
 */
import { isDeepStrictEqual } from 'node:util';
import { POLICY_KINDS } from '../agent/controller-sync-protocol.js';
import type { PolicyKind } from '../agent/controller-sync-protocol.js';
import type { ErrorBody, ResourceEnvelope } from '../controller/envelope.js';
import { API_PREFIX, resourceOf } from '../controller/envelope.js';
import { readFile } from 'node:fs/promises';
import { formatErrors, loadPolicyFile, locateErrors } from '../policy/load.js';
import type { Policy } from '../policy/types.js';
import type { AccessControlList, Host, Nat, NetworkInterface, VirtualNetwork, VirtualSwitch } from '../policy/types.js';
import { readToken } from './cli-args.js';
import { controllerRequest, readCa } from '../agent/controller-http.js';
import type { HostState } from '../controller/host-states.js';

export interface ControllerClientOptions {
  controller?: string;
  tokenFile?: string;
  caFile?: string;
  json?: boolean;
}

export interface Output {
  out(text: string): void;
  err(text: string): void;
}

const consoleOutput: Output = { out: (text) => console.log(text), err: (text) => console.error(text) };

/** Apply order: what is referred to goes first. */
const APPLY_ORDER: PolicyKind[] = ['accessControlLists', 'hosts', 'virtualNetworks', 'switches', 'nats', 'networkInterfaces'];

const SINGULAR: Record<PolicyKind, string> = {
  hosts: 'host',
  virtualNetworks: 'virtualNetwork',
  networkInterfaces: 'networkInterface',
  accessControlLists: 'accessControlList',
  switches: 'switch',
  nats: 'nat',
};

const ALIASES: Record<string, PolicyKind> = {
  host: 'hosts',
  hosts: 'hosts',
  virtualnetwork: 'virtualNetworks',
  virtualnetworks: 'virtualNetworks',
  vnet: 'virtualNetworks',
  vnets: 'virtualNetworks',
  networkinterface: 'networkInterfaces',
  networkinterfaces: 'networkInterfaces',
  nic: 'networkInterfaces',
  nics: 'networkInterfaces',
  accesscontrollist: 'accessControlLists',
  accesscontrollists: 'accessControlLists',
  acl: 'accessControlLists',
  acls: 'accessControlLists',
  switch: 'switches',
  switches: 'switches',
  vmswitch: 'switches',
  nat: 'nats',
  nats: 'nats',
};

export function parseKind(text: string): PolicyKind {
  const kind = ALIASES[text.toLowerCase()];
  if (kind === undefined) throw new Error(`unknown kind ${text} (one of ${POLICY_KINDS.join(', ')}; or host, vnet, nic, acl)`);
  return kind;
}

type Reply<T> = { ok: true; status: number; body: T } | { ok: false; status: number; body: ErrorBody };

class ControllerClient {
  constructor(
    private readonly base: string,
    private readonly token: string | undefined,
    private readonly ca: Buffer | undefined,
  ) {}

  async request<T>(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<Reply<T>> {
    let url: URL;
    try {
      url = new URL(`${this.base.replace(/\/$/, '')}${API_PREFIX}${path}`);
    } catch {
      throw new Error(`not a controller URL: ${this.base} (e.g. https://127.0.0.1:8443)`);
    }
    let response: { status: number; text: string };
    try {
      response = await controllerRequest(url, method, body, { ...(this.token === undefined ? {} : { token: this.token }), ...(this.ca === undefined ? {} : { ca: this.ca }), ...(headers === undefined ? {} : { headers }) });
    } catch (error) {
      throw new Error(`cannot reach the controller at ${this.base}: ${(error as Error).message}`, { cause: error });
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(response.text);
    } catch {
      parsed = { code: 'BadReply', message: response.text.slice(0, 200), errors: [] };
    }
    const ok = response.status >= 200 && response.status < 300;
    return ok ? { ok: true, status: response.status, body: parsed as T } : { ok: false, status: response.status, body: parsed as ErrorBody };
  }
}

async function clientOf(o: ControllerClientOptions): Promise<ControllerClient> {
  const base = o.controller ?? process.env.SWITCHYARD_CONTROLLER ?? 'https://127.0.0.1:8443';
  return new ControllerClient(base, await readToken(o.tokenFile), readCa(o.caFile));
}

function describeError(body: ErrorBody, pathPrefix = ''): string {
  const lines = [`error: ${body.message}`];
  for (const error of body.errors ?? []) {
    const path = pathPrefix === '' || error.path.includes('/') ? error.path : error.path === '(root)' ? pathPrefix : error.path.startsWith('[') ? `${pathPrefix}${error.path}` : `${pathPrefix}.${error.path}`;
    lines.push(`  ${path}: ${error.message}`);
  }
  return lines.join('\n');
}

/** Columns of a kubectl-style table. */
function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((header, i) => Math.max(header.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('   ').trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

type HostStateRow = Partial<HostState> & { host: string; provisioningState: string; streams?: number };

function rowsOf(kind: PolicyKind, items: ResourceEnvelope[], states = new Map<string, HostStateRow>()): { headers: string[]; rows: string[][] } {
  const resources = items.map((item) => resourceOf(item));
  switch (kind) {
    case 'hosts':
      return {
        headers: ['NAME', 'PROVIDER-ADDRESSES', 'REVISION', 'STATE', 'APPLIED', 'CONNECTED', 'ERROR'],
        rows: (resources as unknown as Host[]).map((h, i) => {
          const state = states.get(h.name);
          return [
            h.name,
            h.providerAddresses.join(','),
            String(items[i]?.revision),
            state?.provisioningState ?? 'Unknown',
            state?.revision === undefined ? '-' : String(state.revision),
            state?.streams ? 'yes' : 'no',
            state?.error === undefined ? '' : state.error.replace(/\s+/g, ' ').slice(0, 80),
          ];
        }),
      };
    case 'virtualNetworks':
      return {
        headers: ['NAME', 'ADDRESS-PREFIXES', 'SUBNETS', 'REVISION'],
        rows: (resources as unknown as VirtualNetwork[]).map((v, i) => [
          v.name,
          v.addressPrefixes.join(','),
          v.subnets.map((s) => `${s.name}(${s.vsid} ${s.addressPrefix}${s.ipv6AddressPrefix !== undefined ? ` ${s.ipv6AddressPrefix}` : ''} ${s.encapsulation})`).join(',') || '<none>',
          String(items[i]?.revision),
        ]),
      };
    case 'networkInterfaces':
      return {
        headers: ['NAME', 'HOST', 'VIRTUAL-NETWORK', 'SUBNET', 'MAC', 'IP', 'ACL', 'REVISION'],
        rows: (resources as unknown as NetworkInterface[]).map((n, i) => [n.name, n.host, n.virtualNetwork ?? `switch ${n.switch ?? '?'}`, n.subnet ?? '-', n.macAddress, n.ipv6Address !== undefined ? `${n.ipAddress ?? '-'},${n.ipv6Address}` : (n.ipAddress ?? '-'), n.accessControlList ?? '<none>', String(items[i]?.revision)]),
      };
    case 'accessControlLists':
      return { headers: ['NAME', 'RULES', 'REVISION'], rows: (resources as unknown as AccessControlList[]).map((a, i) => [a.name, String(a.aclRules.length), String(items[i]?.revision)]) };
    case 'switches':
      return {
        headers: ['NAME', 'TYPE', 'HOST-ADDRESS', 'NET-ADAPTER', 'REVISION'],
        rows: (resources as unknown as VirtualSwitch[]).map((s, i) => [s.name, s.switchType, s.hostAddress ?? '-', s.netAdapterName ?? '-', String(items[i]?.revision)]),
      };
    case 'nats':
      return {
        headers: ['NAME', 'INTERNAL-PREFIX', 'STATIC-MAPPINGS', 'REVISION'],
        rows: (resources as unknown as Nat[]).map((n, i) => [
          n.name,
          n.internalIPInterfaceAddressPrefix,
          n.staticMappings.map((m) => `${m.protocol} ${m.externalIPAddress}:${m.externalPort}->${m.internalIPAddress}:${m.internalPort}`).join(',') || '<none>',
          String(items[i]?.revision),
        ]),
      };
  }
}

/** `ctl get KIND [NAME]`. */
export async function ctlGet(o: ControllerClientOptions & { kind: string; name?: string }, io: Output = consoleOutput): Promise<number> {
  const kind = parseKind(o.kind);
  const client = await clientOf(o);
  const reply = await client.request<ResourceEnvelope | { value: ResourceEnvelope[] }>('GET', o.name === undefined ? `/${kind}` : `/${kind}/${encodeURIComponent(o.name)}`);
  if (!reply.ok) {
    io.err(describeError(reply.body));
    return 1;
  }
  if (o.json) {
    io.out(JSON.stringify(reply.body, null, 2));
    return 0;
  }
  const items = 'value' in reply.body ? reply.body.value : [reply.body];
  if (items.length === 0) {
    io.out(`no ${kind} found`);
    return 0;
  }
  const states = new Map<string, HostStateRow>();
  if (kind === 'hosts') {
    const reported = await client.request<{ value: HostStateRow[] }>('GET', '/hostStates');
    if (reported.ok) for (const state of reported.body.value) states.set(state.host, state);
  }
  const { headers, rows } = rowsOf(kind, items, states);
  io.out(table(headers, rows));
  return 0;
}

/** `ctl delete KIND NAME`. */
export async function ctlDelete(o: ControllerClientOptions & { kind: string; name: string }, io: Output = consoleOutput): Promise<number> {
  const kind = parseKind(o.kind);
  const client = await clientOf(o);
  const reply = await client.request<{ resourceId: string; revision: number }>('DELETE', `/${kind}/${encodeURIComponent(o.name)}`);
  if (!reply.ok) {
    io.err(describeError(reply.body));
    return 1;
  }
  io.out(o.json ? JSON.stringify(reply.body, null, 2) : `${SINGULAR[kind]}/${o.name} deleted`);
  return 0;
}

type ApplyResult = { resource: string; result: 'created' | 'configured' | 'unchanged' | 'failed'; revision?: number; errors?: ErrorBody };

/** How often `ctl apply` reads and sends again when another writer moved the store in between. */
const APPLY_ATTEMPTS = 3;

/** `ctl apply -f FILE`. */
export async function ctlApply(o: ControllerClientOptions & { file: string }, io: Output = consoleOutput): Promise<number> {
  const loaded = await loadPolicyFile(o.file);
  if (!loaded.ok) {
    io.err(`${o.file}: invalid policy, nothing applied\n${formatErrors(loaded.errors, { file: o.file })}`);
    return 2;
  }
  const client = await clientOf(o);
  for (let attempt = 0; attempt < APPLY_ATTEMPTS; attempt++) {
    const held = await heldPolicy(client);
    if (!held.ok) {
      io.err(describeError(held.body));
      return 1;
    }
    const plan = planApply(loaded.policy, held.resources);
    if (plan.results.every((r) => r.result === 'unchanged')) return report(o, io, plan.results, `nothing to change (revision ${held.revision})`);
    const reply = await client.request<{ revision: number; changed: number }>('PUT', '/policy', plan.document, { 'if-match': `"${held.revision}"` });
    if (reply.ok) {
      for (const r of plan.results) if (r.result !== 'unchanged') r.revision = reply.body.revision;
      return report(o, io, plan.results, `applied in one transaction: revision ${reply.body.revision}`);
    }
    if (reply.status === 412) continue; // another writer came between the read and the PUT: read again
    if (reply.status === 404 || reply.status === 405 || reply.status === 501 || reply.status === 413) {
      if (reply.status === 413) io.err(`note: ${reply.body.message}; applying resource by resource instead (not atomic)`);
      return applyEach(o, io, client, loaded.policy);
    }
    if (reply.status === 400 && reply.body.code === 'InvalidPolicy') {
      io.err(`${o.file}: refused by the controller, nothing applied\n${await refusalInFile(o.file, reply.body, plan.document, loaded.policy)}`);
      if (o.json) io.out(JSON.stringify({ applied: false, errors: reply.body }, null, 2));
      return 1;
    }
    io.err(describeError(reply.body));
    return 1;
  }
  io.err(`error: the policy on the controller kept changing while applying (${APPLY_ATTEMPTS} tries); nothing applied: try again`);
  return 1;
}

/** The controller's policy and its revision (every list read at one revision: else read again). */
async function heldPolicy(client: ControllerClient): Promise<{ ok: true; revision: number; resources: Map<PolicyKind, Map<string, unknown>> } | { ok: false; body: ErrorBody }> {
  for (let attempt = 0; ; attempt++) {
    const resources = new Map<PolicyKind, Map<string, unknown>>();
    const revisions = new Set<number>();
    for (const kind of POLICY_KINDS) {
      const reply = await client.request<{ value: ResourceEnvelope[]; revision: number }>('GET', `/${kind}`);
      if (!reply.ok) return reply;
      revisions.add(reply.body.revision);
      resources.set(kind, new Map(reply.body.value.map((item) => [item.resourceId, resourceOf(item)])));
    }
    if (revisions.size === 1) return { ok: true, revision: [...revisions][0]!, resources };
    if (attempt >= APPLY_ATTEMPTS) return { ok: false, body: { code: 'Busy', message: `the policy on the controller kept changing while it was read (${APPLY_ATTEMPTS} tries): try again`, errors: [] } };
  }
}

/**
 * The document to send and what it changes: per kind the file's resources first, in file order
 * (so a path the controller names, e.g. networkInterfaces[2].host, is the same path in the file),
 * then the resources only the controller holds, unchanged.
 */
function planApply(policy: Policy, held: Map<PolicyKind, Map<string, unknown>>): { document: Record<string, unknown[]>; results: ApplyResult[] } {
  const document: Record<string, unknown[]> = {};
  const results: ApplyResult[] = [];
  for (const kind of APPLY_ORDER) {
    const items = (policy[kind] ?? []) as unknown as { name: string }[];
    const theirs = held.get(kind) ?? new Map<string, unknown>();
    const names = new Set(items.map((item) => item.name));
    for (const resource of items) {
      const before = theirs.get(resource.name);
      const result = before === undefined ? 'created' : isDeepStrictEqual(JSON.parse(JSON.stringify(resource)), before) ? 'unchanged' : 'configured';
      results.push({ resource: `${SINGULAR[kind]}/${resource.name}`, result });
    }
    document[kind] = [...items, ...[...theirs].filter(([name]) => !names.has(name)).map(([, resource]) => resource)];
  }
  return { document, results };
}

/** The controller's problems as the file's paths and lines; a problem of a resource only the controller holds, by its name. */
async function refusalInFile(file: string, body: ErrorBody, document: Record<string, unknown[]>, policy: Policy): Promise<string> {
  const text = await readFile(file, 'utf8').catch(() => '');
  const inFile: { path: string; message: string }[] = [];
  const elsewhere: string[] = [];
  for (const error of body.errors ?? []) {
    const m = /^(\w+)\[(\d+)\](.*)$/.exec(error.path);
    const kind = m?.[1] as PolicyKind | undefined;
    const index = Number(m?.[2]);
    const fileCount = kind === undefined ? 0 : ((policy[kind] ?? []) as unknown[]).length;
    if (m !== null && kind !== undefined && index >= fileCount && document[kind] !== undefined) {
      const name = (document[kind][index] as { name?: string } | undefined)?.name ?? `#${index}`;
      elsewhere.push(`  ${kind}/${name}${m[3]} (on the controller, not in the file): ${error.message}`);
    } else inFile.push({ path: error.path, message: error.message });
  }
  const located = formatErrors(locateErrors(text, inFile), { file });
  return [`error: ${body.message}`, ...(located === '' ? [] : [located]), ...elsewhere].join('\n');
}

function report(o: ControllerClientOptions, io: Output, results: ApplyResult[], summary: string): number {
  const count = (what: ApplyResult['result']) => results.filter((r) => r.result === what).length;
  if (o.json) {
    io.out(JSON.stringify(results, null, 2));
    return 0;
  }
  for (const r of results) io.out(`${r.resource} ${r.result}`);
  io.out(`${summary}: ${count('created')} created, ${count('configured')} configured, ${count('unchanged')} unchanged`);
  return 0;
}

/** The old way, for a controller without the whole-policy PUT: one PUT per resource, in dependency order. */
async function applyEach(o: ControllerClientOptions & { file: string }, io: Output, client: ControllerClient, policy: Policy): Promise<number> {
  const results: ApplyResult[] = [];
  let failed = false;
  for (const kind of APPLY_ORDER) {
    const existing = await client.request<{ value: ResourceEnvelope[] }>('GET', `/${kind}`);
    if (!existing.ok) {
      io.err(describeError(existing.body));
      return 1;
    }
    const held = new Map(existing.body.value.map((item) => [item.resourceId, resourceOf(item)]));
    const items = (policy[kind] ?? []) as unknown as { name: string }[];
    for (const [index, resource] of items.entries()) {
      const label = `${SINGULAR[kind]}/${resource.name}`;
      const before = held.get(resource.name);
      if (before !== undefined && isDeepStrictEqual(JSON.parse(JSON.stringify(resource)), before)) {
        results.push({ resource: label, result: 'unchanged' });
        continue;
      }
      const reply = await client.request<ResourceEnvelope>('PUT', `/${kind}/${encodeURIComponent(resource.name)}`, resource);
      if (!reply.ok) {
        failed = true;
        results.push({ resource: label, result: 'failed', errors: reply.body });
        if (!o.json) io.err(`${label}: ${describeError(reply.body, `${kind}[${index}]`)}`);
        continue;
      }
      results.push({ resource: label, result: reply.status === 201 ? 'created' : 'configured', revision: reply.body.revision });
    }
  }
  if (o.json) io.out(JSON.stringify(results, null, 2));
  else for (const r of results) if (r.result !== 'failed') io.out(`${r.resource} ${r.result}`);
  return failed ? 1 : 0;
}
