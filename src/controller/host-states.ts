/**
 * What each agent last reported about the views it was sent: applied (Succeeded) or refused
 * (Failed, with the dataplane's error), and at which revision. Held in the controller's memory:
 * an agent reports again on every new sync stream, so a restarted controller (or another one
 * serving the same store) learns every connected host's state within one reconnect.
 */
import type { PolicyError } from '../policy/errors.js';

export type ProvisioningState = 'Succeeded' | 'Failed';

export interface HostStateReport {
  provisioningState: ProvisioningState;
  /** The revision of the view the agent applied or refused. */
  revision: number;
  /** Why the view was refused (Failed only). */
  error?: string;
}

export interface HostState extends HostStateReport {
  reportedAt: string;
}

const MAX_ERROR = 4096;

/** A report body, checked; `errors` lists what is wrong with it. */
export function parseHostStateReport(body: unknown): { ok: true; report: HostStateReport } | { ok: false; errors: PolicyError[] } {
  const errors: PolicyError[] = [];
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return { ok: false, errors: [{ path: '(root)', message: 'expected an object' }] };
  const { provisioningState, revision, error, ...rest } = body as Record<string, unknown>;
  if (provisioningState !== 'Succeeded' && provisioningState !== 'Failed') errors.push({ path: 'provisioningState', message: 'expected Succeeded or Failed' });
  if (typeof revision !== 'number' || !Number.isSafeInteger(revision) || revision < 0) errors.push({ path: 'revision', message: 'expected an integer >= 0' });
  if (error !== undefined && (typeof error !== 'string' || error.length > MAX_ERROR)) errors.push({ path: 'error', message: `expected a string of at most ${MAX_ERROR} characters` });
  if (provisioningState === 'Failed' && (typeof error !== 'string' || error === '')) errors.push({ path: 'error', message: 'a Failed report says why' });
  for (const key of Object.keys(rest)) errors.push({ path: key, message: 'unknown field' });
  if (errors.length > 0) return { ok: false, errors };
  const report: HostStateReport = { provisioningState: provisioningState as ProvisioningState, revision: revision as number };
  if (typeof error === 'string' && provisioningState === 'Failed') report.error = error;
  return { ok: true, report };
}

export class HostStates {
  private readonly states = new Map<string, HostState>();

  set(host: string, report: HostStateReport): HostState {
    const state: HostState = { ...report, reportedAt: new Date().toISOString() };
    this.states.set(host, state);
    return state;
  }

  get(host: string): HostState | undefined {
    return this.states.get(host);
  }

  /** Hosts known from the policy or from a report, sorted. */
  hosts(policyHosts: string[]): string[] {
    return [...new Set([...policyHosts, ...this.states.keys()])].sort();
  }
}
