/**
 * `switchyard agent`: one host's dataplane, its policy from a file (--policy; SIGHUP re-reads it)
 * or from a controller (--controller; the last policy is kept on disk so the agent starts and
 * forwards while the controller is away). Stops cleanly on SIGTERM/SIGINT.
 */
import { formatErrors, loadPolicyFile } from '../policy/load.js';
import type { Policy } from '../policy/types.js';
import { Agent } from '../agent/agent.js';
import { controlSocketPath } from '../agent/control-protocol.js';
import { ControllerSync } from '../agent/controller-sync.js';
import { createLogger, type Logger } from '../agent/logger.js';
import { parseListen, readToken } from './controller-cmd.js';
import { controlRequest } from '../agent/control-client.js';
import { createMetricsRegistry, startMetricsServer, type StatsSnapshot } from '../agent/metrics.js';

export interface AgentCommandOptions {
  policy?: string;
  controller?: string;
  host: string;
  control?: string;
  cache?: string;
  tokenFile?: string;
  workers?: number;
  /** ADDR:PORT to serve Prometheus metrics on. */
  metrics?: string;
  /** false with --no-offload; SWITCHYARD_OFFLOAD=0 in the environment does the same. */
  offload?: boolean;
}

/** Dataplane settings from the flags, else the environment (SWITCHYARD_WORKERS, SWITCHYARD_OFFLOAD: the lab and bench use these). */
function dataplaneOptions(o: AgentCommandOptions): { workers?: number; offload: boolean } {
  const envWorkers = Number(process.env.SWITCHYARD_WORKERS);
  const workers = o.workers ?? (Number.isInteger(envWorkers) && envWorkers > 0 ? envWorkers : undefined);
  // commander sets offload=true unless --no-offload; the environment can turn it off too
  const offload = o.offload !== false && process.env.SWITCHYARD_OFFLOAD !== '0';
  return workers === undefined ? { offload } : { workers, offload };
}

export async function runAgentCommand(o: AgentCommandOptions): Promise<void> {
  const log = createLogger(`agent:${o.host}`);
  if (process.getuid?.() !== 0) log.warn('not running as root: creating TAP devices will fail');
  const controlSocket = o.control ?? controlSocketPath(o.host);
  let agent: Agent | undefined;
  let sync: ControllerSync | undefined;

  if (o.policy) {
    const file = o.policy;
    const r = await loadPolicyFile(file);
    if (!r.ok) {
      console.error(`${file}: invalid policy, agent not started\n${formatErrors(r.errors, { file })}`);
      process.exitCode = 2;
      return;
    }
    agent = await Agent.start({ policy: r.policy, host: o.host, controlSocket, log, ...dataplaneOptions(o) });
    const a = agent;
    process.on('SIGHUP', () => void reloadFile(a, file, log));
  } else {
    const token = await readToken(o.tokenFile);
    sync = new ControllerSync({
      controller: o.controller!,
      host: o.host,
      cacheFile: o.cache ?? `/var/lib/switchyard/${o.host}.policy.json`,
      ...(token ? { token } : {}),
      log,
    });
    sync.on('error', (err) => log.warn({ err: err.message }, 'controller sync'));
    sync.on('disconnected', (reason) => log.warn({ reason }, 'controller connection lost; forwarding on the last policy'));
    let latest: { policy: Policy; revision: number } | undefined;
    const first = new Promise<void>((resolve) =>
      sync!.on('policy', (policy, revision) => {
        latest = { policy, revision };
        resolve();
      }),
    );
    const cached = await sync.start();
    if (!cached) log.info({ controller: o.controller }, 'waiting for the first policy from the controller');
    await first;
    const started = latest!;
    agent = await Agent.start({ policy: started.policy, host: o.host, controlSocket, log, ...dataplaneOptions(o) });
    const a = agent;
    const apply = (p: Policy, revision: number) =>
      a.applyPolicy(p).then(
        () => log.info({ revision }, 'controller policy applied'),
        (err: Error) => log.error({ revision, err: err.message }, 'controller policy refused; keeping the previous one'),
      );
    sync.on('policy', (p, revision) => void apply(p, revision));
    // a policy that arrived while the agent was starting
    if (latest!.revision !== started.revision) void apply(latest!.policy, latest!.revision);
  }

  const running = agent;
  const metrics = o.metrics ? await serveMetrics(o.metrics, controlSocket) : undefined;
  if (metrics) log.info({ metrics: o.metrics }, 'Prometheus metrics at /metrics');
  await new Promise<void>((resolve) => {
    const stop = (sig: string) => {
      log.info({ signal: sig }, 'shutting down');
      Promise.resolve(sync?.stop())
        .then(() => metrics?.close())
        .then(() => running.stop())
        .then(resolve, (err: Error) => {
          log.error({ err: err.message }, 'shutdown failed');
          resolve();
        });
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}

/** Prometheus endpoint fed by the agent's own stats (over its control socket). */
async function serveMetrics(listen: string, controlSocket: string) {
  const { host, port } = parseListen(listen);
  const registry = createMetricsRegistry(() => controlRequest(controlSocket, { op: 'stats' }) as Promise<StatsSnapshot>);
  return startMetricsServer(host, port, registry);
}

async function reloadFile(agent: Agent, file: string, log: Logger): Promise<void> {
  const r = await loadPolicyFile(file);
  if (!r.ok) {
    log.error({ file, errors: r.errors.map((e) => `${e.path}: ${e.message}`) }, 'SIGHUP: invalid policy, keeping the current one');
    return;
  }
  try {
    await agent.applyPolicy(r.policy);
  } catch (err) {
    log.error({ file, err: (err as Error).message }, 'SIGHUP: policy refused, keeping the current one');
  }
}
