/**
 * `switchyard vtep`: keeps a hardware_vtep OVSDB in step with the controller's policy, and the
 * controller's policy in step with the VTEP's locally learned MACs (what and why: vtep-plan.ts).
 *
 * The VTEP needs every VXLAN network of the policy, not one host's view, so it reads the policy
 * through the REST API (the one door that shows all of it), polling the store revision
 * (`GET /networking/v1`, a few bytes) every `pollMs` and fetching the lists only when it moved.
 * Its own endpoints go back through the same REST API with the admin token, so they are validated
 * like any other write and reach every agent by the usual sync streams; the VTEP's host
 * (`hosts/<name>`, provider address = the Physical_Switch's tunnel IP) is written the same way.
 * Several controller URLs may be given: a request that cannot reach one goes to the next.
 *
 * Database side: one monitor over the tables it reads, a mirror of them, and one transaction per
 * reconcile with whatever `planVtep` says is missing; reconciles are serialised and coalesced, and
 * run on every policy change and every database change (so rows deleted by someone else come
 * back). A lost OVSDB connection is reopened with backoff.
 */
import { EventEmitter } from 'node:events';
import type { NetworkInterface, Policy } from '../policy/types.js';
import { OvsdbClient } from './ovsdb-client.js';
import { controllerRequest } from '../agent/controller-http.js';
import type { TableUpdates } from './ovsdb-client.js';
import { VTEP_DB, VTEP_TABLES, applyUpdates, emptyMirror, endpointName, localEndpoints, planVtep, tunnelIp } from './vtep-plan.js';
import type { VtepMirror } from './vtep-plan.js';

export interface VtepSyncOptions {
  /** `unix:PATH` of the ovsdb-server holding the hardware_vtep database. */
  ovsdb: string;
  /** Controller base URL(s), comma-separated. */
  controller: string;
  /** Admin token (the VTEP writes its endpoints and its host). */
  token?: string;
  /** CA certificate(s) that sign the controller's (default: the system's roots). */
  ca?: Buffer;
  /** The VTEP's host name in the policy (default `vtep`). */
  host?: string;
  /** Provider address to register for the host (default: the Physical_Switch's tunnel_ips). */
  tunnelIp?: string;
  /** Policy revision poll period (default 500 ms). */
  pollMs?: number;
  log?: { info(obj: object, msg?: string): void; warn(obj: object, msg?: string): void };
}

export interface VtepSyncEvents {
  /** A reconcile finished: the database transaction (operations) and endpoint writes it made. */
  reconciled: [stats: { operations: number; endpointWrites: number; revision: number }];
}

interface Envelope {
  resourceId: string;
  properties: Record<string, unknown>;
}

const KINDS = ['hosts', 'virtualNetworks', 'networkInterfaces'] as const;

export class VtepSync extends EventEmitter<VtepSyncEvents> {
  readonly counters = { transactions: 0, ovsdbErrors: 0, controllerErrors: 0, endpointPuts: 0, endpointDeletes: 0, localWithoutIp: 0, reconnects: 0 };
  private readonly controllers: string[];
  private controllerIndex = 0;
  private readonly host: string;
  private client: OvsdbClient | undefined;
  private mirror: VtepMirror = emptyMirror();
  private policy: Policy | undefined;
  private revision = -1;
  private running = false;
  private again = false;
  private stopped = false;
  private pollTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private failures = 0;

  constructor(private readonly options: VtepSyncOptions) {
    super();
    this.controllers = options.controller.split(',').map((url) => url.trim()).filter((url) => url !== '');
    if (this.controllers.length === 0) throw new Error('vtep: no controller URL');
    this.host = options.host ?? 'vtep';
  }

  get policyRevision(): number {
    return this.revision;
  }

  /** Connect to the database (retrying) and start polling the controller. */
  async start(): Promise<void> {
    this.stopped = false;
    await this.connectOvsdb();
    void this.poll();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.pollTimer);
    clearTimeout(this.retryTimer);
    this.client?.close();
    while (this.running) await new Promise((resolve) => setTimeout(resolve, 10));
  }

  private async connectOvsdb(): Promise<void> {
    try {
      const client = await OvsdbClient.connect(this.options.ovsdb);
      this.client = client;
      const mirror = emptyMirror();
      client.on('update', (_id, updates: TableUpdates) => {
        applyUpdates(mirror, updates);
        this.schedule();
      });
      client.on('close', (reason) => {
        if (this.stopped) return;
        this.options.log?.warn({ reason }, 'vtep database connection lost; reconnecting');
        this.retryOvsdb();
      });
      const tables = Object.fromEntries(VTEP_TABLES.map((table) => [table, {}]));
      applyUpdates(mirror, await client.monitor(VTEP_DB, 'switchyard', tables));
      this.mirror = mirror;
      this.failures = 0;
      this.schedule();
    } catch (error) {
      this.counters.ovsdbErrors++;
      this.options.log?.warn({ err: (error as Error).message, ovsdb: this.options.ovsdb }, 'cannot open the vtep database; retrying');
      this.retryOvsdb();
    }
  }

  private retryOvsdb(): void {
    if (this.stopped) return;
    this.counters.reconnects++;
    const delay = Math.min(5000, 100 * 2 ** this.failures++);
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => void this.connectOvsdb(), delay);
  }

  /** One REST call, trying each controller once from the current one. */
  private async call(method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }> {
    let lastError: Error | undefined;
    for (let tried = 0; tried < this.controllers.length; tried++) {
      const base = this.controllers[this.controllerIndex] as string;
      try {
        // the agents' and ctl's client: the controller's certificate checked against --ca-file
        const { token, ca } = this.options;
        const response = await controllerRequest(new URL(path, base), method, body, { timeoutMs: 5000, ...(token === undefined ? {} : { token }), ...(ca === undefined ? {} : { ca }) });
        return { status: response.status, body: response.text === '' ? undefined : (JSON.parse(response.text) as unknown) };
      } catch (error) {
        lastError = error as Error;
        this.controllerIndex = (this.controllerIndex + 1) % this.controllers.length;
      }
    }
    throw new Error(`no controller answered (${this.controllers.join(', ')}): ${lastError?.message ?? ''}`);
  }

  private async poll(): Promise<void> {
    if (this.stopped) return;
    try {
      await this.refresh();
    } catch (error) {
      this.counters.controllerErrors++;
      this.options.log?.warn({ err: (error as Error).message }, 'vtep: cannot read the policy');
    }
    if (!this.stopped) this.pollTimer = setTimeout(() => void this.poll(), this.options.pollMs ?? 500);
  }

  /** Fetch the policy if the store revision moved (and schedule a reconcile). */
  private async refresh(): Promise<void> {
    const root = await this.call('GET', '/networking/v1');
    const revision = (root.body as { revision?: unknown } | undefined)?.revision;
    if (root.status !== 200 || typeof revision !== 'number') throw new Error(`controller answered ${root.status} to GET /networking/v1`);
    if (revision !== this.revision) {
      const policy: Record<string, unknown[]> = { accessControlLists: [] };
      for (const kind of KINDS) {
        const list = await this.call('GET', `/networking/v1/${kind}`);
        if (list.status !== 200) throw new Error(`controller answered ${list.status} to GET /networking/v1/${kind}`);
        policy[kind] = ((list.body as { value: Envelope[] }).value ?? []).map((item) => ({ name: item.resourceId, ...item.properties }));
      }
      this.policy = policy as unknown as Policy;
      this.revision = revision;
      this.schedule();
    }
  }

  private schedule(): void {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    void this.reconcile().finally(() => {
      this.running = false;
      if (this.again && !this.stopped) {
        this.again = false;
        this.schedule();
      }
    });
  }

  private async reconcile(): Promise<void> {
    const policy = this.policy;
    const client = this.client;
    if (policy === undefined || client === undefined || client.isClosed) return;
    const revision = this.revision;
    let operations = 0;
    let endpointWrites: number;
    try {
      const ops = planVtep(this.mirror, policy, this.host);
      if (ops.length > 0) {
        await client.transact(VTEP_DB, ops);
        this.counters.transactions++;
        operations = ops.length;
      }
      endpointWrites = await this.writeEndpoints(policy);
      // read back what we wrote before the next reconcile, so it is not written twice
      if (endpointWrites > 0) await this.refresh();
    } catch (error) {
      this.counters.ovsdbErrors++;
      this.options.log?.warn({ err: (error as Error).message }, 'vtep reconcile failed');
      return;
    }
    this.emit('reconciled', { operations, endpointWrites, revision });
  }

  /** The VTEP's host and endpoints into the policy; returns the number of writes made. */
  private async writeEndpoints(policy: Policy): Promise<number> {
    let writes = 0;
    const ip = this.options.tunnelIp ?? tunnelIp(this.mirror);
    if (ip === undefined) return 0; // no tunnel IP yet: nothing can reach the VTEP
    const host = policy.hosts.find((item) => item.name === this.host);
    if (host === undefined || host.providerAddresses.join(',') !== ip) {
      await this.put('hosts', this.host, { providerAddresses: [ip] });
      writes++;
    }
    const local = localEndpoints(this.mirror, policy, this.host);
    this.counters.localWithoutIp = local.withoutIp;
    // only endpoints this process names are its own: an operator's NIC on the VTEP host stays
    const held = new Map(policy.networkInterfaces.filter((nic) => nic.host === this.host && nic.name.startsWith(endpointName(this.host, ''))).map((nic) => [nic.name, nic]));
    for (const nic of local.nics) {
      const current = held.get(nic.name);
      held.delete(nic.name);
      if (current !== undefined && sameEndpoint(current, nic)) continue;
      const { name, ...properties } = nic;
      await this.put('networkInterfaces', name, properties);
      this.counters.endpointPuts++;
      writes++;
    }
    for (const name of held.keys()) {
      const reply = await this.call('DELETE', `/networking/v1/networkInterfaces/${encodeURIComponent(name)}`);
      if (reply.status !== 200 && reply.status !== 404) throw new Error(`controller refused DELETE networkInterfaces/${name}: ${reply.status} ${JSON.stringify(reply.body)}`);
      this.counters.endpointDeletes++;
      writes++;
    }
    return writes;
  }

  private async put(kind: string, name: string, body: unknown): Promise<void> {
    const reply = await this.call('PUT', `/networking/v1/${kind}/${encodeURIComponent(name)}`, body);
    if (reply.status !== 200 && reply.status !== 201) throw new Error(`controller refused PUT ${kind}/${name}: ${reply.status} ${JSON.stringify(reply.body)}`);
  }
}

function sameEndpoint(a: NetworkInterface, b: NetworkInterface): boolean {
  return a.virtualNetwork === b.virtualNetwork && a.subnet === b.subnet && a.macAddress.toLowerCase() === b.macAddress && a.ipAddress === b.ipAddress && a.host === b.host;
}
