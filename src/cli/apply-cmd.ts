/**
 * `switchyard ctl apply -f FILE | get KIND [NAME] | delete KIND NAME` against the controller's REST
 * API (--controller URL, default $SWITCHYARD_CONTROLLER or https://127.0.0.1:8443; token from
 * --token-file or SWITCHYARD_TOKEN; the controller's certificate is checked against --ca-file or
 * SWITCHYARD_CA, else the system's roots). `get hosts` also shows what each host's agent last
 * reported: the state (Succeeded, Failed, Unknown) and revision of its view, and why it failed. `apply` validates the file first exactly as `validate` does
 * (same messages, file:line:column), then PUTs each resource in dependency order (ACLs, hosts,
 * virtual networks, interfaces), skipping those the controller already holds unchanged, and maps
 * the controller's problems back to file paths. Output is a kubectl-style table, or JSON (--json).
 * Each function returns the exit code: 0 ok, 1 the controller refused something, 2 bad input.
 */
import { isDeepStrictEqual } from 'node:util';
import { POLICY_KINDS } from '../agent/controller-sync-protocol.js';
import type { PolicyKind } from '../agent/controller-sync-protocol.js';
import type { ErrorBody, ResourceEnvelope } from '../controller/envelope.js';
import { API_PREFIX, resourceOf } from '../controller/envelope.js';
import { formatErrors, loadPolicyFile } from '../policy/load.js';
import type { AccessControlList, Host, Nat, NetworkInterface, VirtualNetwork, VirtualSwitch } from '../policy/types.js';
import { readToken } from './controller-cmd.js';
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

  async request<T>(method: string, path: string, body?: unknown): Promise<Reply<T>> {
    let url: URL;
    try {
      url = new URL(`${this.base.replace(/\/$/, '')}${API_PREFIX}${path}`);
    } catch {
      throw new Error(`not a controller URL: ${this.base} (e.g. https://127.0.0.1:8443)`);
    }
    let response: { status: number; text: string };
    try {
      response = await controllerRequest(url, method, body, { ...(this.token === undefined ? {} : { token: this.token }), ...(this.ca === undefined ? {} : { ca: this.ca }) });
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

/** `ctl apply -f FILE`. */
export async function ctlApply(o: ControllerClientOptions & { file: string }, io: Output = consoleOutput): Promise<number> {
  const loaded = await loadPolicyFile(o.file);
  if (!loaded.ok) {
    io.err(`${o.file}: invalid policy, nothing applied\n${formatErrors(loaded.errors, { file: o.file })}`);
    return 2;
  }
  const client = await clientOf(o);
  const results: { resource: string; result: string; revision?: number; errors?: ErrorBody }[] = [];
  let failed = false;
  for (const kind of APPLY_ORDER) {
    const existing = await client.request<{ value: ResourceEnvelope[] }>('GET', `/${kind}`);
    if (!existing.ok) {
      io.err(describeError(existing.body));
      return 1;
    }
    const held = new Map(existing.body.value.map((item) => [item.resourceId, resourceOf(item)]));
    const items = loaded.policy[kind] as unknown as { name: string }[];
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
