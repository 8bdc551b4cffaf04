/**
 * `switchyard agent`: one host's dataplane, its policy from a file (--policy; SIGHUP re-reads it)
 * or from a controller (--controller; the last policy is kept on disk so the agent starts and
 * forwards while the controller is away). Stops cleanly on SIGTERM/SIGINT.
 */
import type { Policy } from '../policy/types.js';
import { Agent } from '../agent/agent.js';
import { controlSocketPath } from '../agent/control-protocol.js';
import { ControllerSync } from '../agent/controller-sync.js';
import { readCa } from '../agent/controller-http.js';
import { createLogger, type Logger } from '../agent/logger.js';
import type http from 'node:http';
import { parseListen, readToken } from './cli-args.js';
import { controlRequest } from '../agent/control-client.js';
import type { DataplaneLimits } from '../agent/worker-protocol.js';
import { TAP_IO_MODES } from '../agent/tap-io.js';
import type { TapIoMode } from '../io/uring.js';
import { resolveGroup } from '../agent/control-server.js';
import type { StatsSnapshot } from '../agent/metrics.js';

export interface AgentCommandOptions {
  policy?: string;
  controller?: string;
  host: string;
  control?: string;
  /** --control-group: name or gid allowed on the control socket. */
  controlGroup?: string;
  stateDir?: string;
  cache?: string;
  tokenFile?: string;
  /** --ca-file: the CA that signs the controller's certificate (default $SWITCHYARD_CA, else the system's roots). */
  caFile?: string;
  workers?: number;
  /** ADDR:PORT to serve Prometheus metrics on. */
  metrics?: string;
  /** false with --no-offload; SWITCHYARD_OFFLOAD=0 in the environment does the same. */
  offload?: boolean;
  /** false with --no-underlay-offload; SWITCHYARD_UNDERLAY_OFFLOAD=0 does the same. */
  underlayOffload?: boolean;
  ctCapacity?: number;
  ctPerPort?: number;
  newFlowsPerSecond?: number;
  /** --busy-poll <us>; SWITCHYARD_BUSY_POLL in the environment does the same. */
  busyPoll?: number;
  /** --tap-io uring|syscall; SWITCHYARD_TAP_IO in the environment does the same. */
  tapIo?: TapIoMode;
  /** false with --no-keep-conntrack. */
  keepConntrack?: boolean;
}

/** Dataplane settings from the flags, else the environment (SWITCHYARD_WORKERS, SWITCHYARD_OFFLOAD: the lab and bench use these). */
function dataplaneOptions(o: AgentCommandOptions): { workers?: number; offload: boolean; underlayOffload: boolean; limits: DataplaneLimits; stateDir?: string; controlGroup?: number } {
  const envWorkers = Number(process.env.SWITCHYARD_WORKERS);
  const workers = o.workers ?? (Number.isInteger(envWorkers) && envWorkers > 0 ? envWorkers : undefined);
  // commander sets offload=true unless --no-offload; the environment can turn it off too
  const offload = o.offload !== false && process.env.SWITCHYARD_OFFLOAD !== '0';
  const underlayOffload = o.underlayOffload !== false && process.env.SWITCHYARD_UNDERLAY_OFFLOAD !== '0';
  const limits: DataplaneLimits = {
    ...(o.ctCapacity !== undefined ? { ctCapacity: o.ctCapacity } : {}),
    ...(o.ctPerPort !== undefined ? { ctPerPort: o.ctPerPort } : {}),
    ...(o.newFlowsPerSecond !== undefined ? { newFlowsPerSecond: o.newFlowsPerSecond } : {}),
    ...busyPoll(o.busyPoll),
    ...tapIo(o.tapIo),
    ...(o.keepConntrack === false ? { keepConntrack: false } : {}),
  };
  return {
    offload,
    underlayOffload,
    limits,
    ...(workers === undefined ? {} : { workers }),
    ...(o.stateDir === undefined ? {} : { stateDir: o.stateDir }),
    ...(o.controlGroup === undefined ? {} : { controlGroup: resolveGroup(o.controlGroup) }),
  };
}

/** --tap-io, else SWITCHYARD_TAP_IO (bench and lab), else the agent's default (agent/tap-io.ts). */
function tapIo(flag: TapIoMode | undefined): { tapIo?: TapIoMode } {
  if (flag !== undefined) return { tapIo: flag };
  const env = process.env.SWITCHYARD_TAP_IO;
  if (env === undefined || env === '') return {};
  if (!(TAP_IO_MODES as readonly string[]).includes(env)) throw new Error(`SWITCHYARD_TAP_IO=${env}: expected one of ${TAP_IO_MODES.join(', ')}`);
  return { tapIo: env as TapIoMode };
}

/** --busy-poll, else SWITCHYARD_BUSY_POLL (bench and lab), else the worker's default. */
function busyPoll(flag: number | undefined): { busyPollUs?: number } {
  if (flag !== undefined) return { busyPollUs: flag };
  const env = process.env.SWITCHYARD_BUSY_POLL;
  if (env === undefined || env === '') return {};
  const v = Number(env);
  if (!Number.isInteger(v) || v < 0 || v > 100_000) throw new Error(`SWITCHYARD_BUSY_POLL=${env}: expected microseconds, an integer from 0 to 100000`);
  return { busyPollUs: v };
}

export async function runAgentCommand(o: AgentCommandOptions): Promise<void> {
  const log = createLogger(`agent:${o.host}`);
  if (process.getuid?.() !== 0) log.warn('not running as root: creating TAP devices will fail');
  const controlSocket = o.control ?? controlSocketPath(o.host);
  // arguments are checked before anything is made
  const metricsAt = o.metrics ? parseListen(o.metrics, '--metrics') : undefined;
  if (o.controlGroup !== undefined) resolveGroup(o.controlGroup);
  let agent: Agent | undefined;
  let sync: ControllerSync | undefined;
  let metrics: http.Server | undefined;

  // one way down, whatever state start-up reached; a signal during start-up waits for it
  let stopping: Promise<void> | undefined;
  const shutdown = (why: string) =>
    (stopping ??= (async () => {
      log.info({ reason: why }, 'shutting down');
      await sync?.stop().catch(() => undefined);
      if (metrics) await new Promise<void>((r) => metrics!.close(() => r()));
      await agent?.stop().catch((err: Error) => log.error({ err: err.message }, 'shutdown failed'));
    })());
  let signalled: (() => void) | undefined;
  const stopped = new Promise<void>((r) => (signalled = r));
  const onSignal = (sig: string) => void shutdown(sig).then(() => signalled!());
  process.once('SIGTERM', () => onSignal('SIGTERM'));
  process.once('SIGINT', () => onSignal('SIGINT'));

  try {
    if (o.policy) {
      const file = o.policy;
      // the YAML parser only for a policy file (a controller's agent reads JSON)
      const { formatErrors, loadPolicyFile } = await import('../policy/load.js');
      const r = await loadPolicyFile(file);
      if (!r.ok) {
        console.error(`${file}: invalid policy, agent not started\n${formatErrors(r.errors, { file })}`);
        process.exitCode = 2;
        await shutdown('invalid policy');
        return;
      }
      agent = await Agent.start({ policy: r.policy, host: o.host, controlSocket, log, ...dataplaneOptions(o) });
      const a = agent;
      process.on('SIGHUP', () => void reloadFile(a, file, log));
    } else {
      const token = await readToken(o.tokenFile);
      const ca = readCa(o.caFile);
      sync = new ControllerSync({
        controller: o.controller!,
        host: o.host,
        cacheFile: o.cache ?? `/var/lib/switchyard/${o.host}.policy.json`,
        ...(token ? { token } : {}),
        ...(ca ? { ca } : {}),
        log,
      });
      sync.on('error', (err) => log.warn({ err: err.message }, 'controller sync'));
      sync.on('disconnected', (reason) => log.warn({ reason, next: sync!.controller }, 'controller connection lost; forwarding on the last policy'));
      let latest: { policy: Policy; revision: number } | undefined;
      const first = new Promise<void>((resolve) =>
        sync!.on('policy', (policy, revision) => {
          latest = { policy, revision };
          resolve();
        }),
      );
      const cached = await sync.start();
      if (!cached) log.info({ controller: o.controller }, 'waiting for the first policy from the controller');
      await Promise.race([first, stopped]);
      if (stopping) return;
      const started = latest!;
      const s = sync;
      try {
        agent = await Agent.start({ policy: started.policy, host: o.host, controlSocket, log, ...dataplaneOptions(o) });
      } catch (err) {
        s.refused(started.revision, (err as Error).message);
        throw err;
      }
      s.accepted(started.revision);
      const a = agent;
      // every view is answered: applied (cached as good, reported Succeeded) or refused (reported
      // Failed, not cached; the agent keeps forwarding on the previous one and tries the next)
      const apply = (p: Policy, revision: number) =>
        a.applyPolicy(p).then(
          () => {
            s.accepted(revision);
            log.info({ revision }, 'controller policy applied');
          },
          (err: Error) => {
            s.refused(revision, err.message);
            log.error({ revision, err: err.message }, 'controller policy refused; keeping the previous one');
          },
        );
      sync.on('policy', (p, revision) => void apply(p, revision));
      // a policy that arrived while the agent was starting
      if (latest!.revision !== started.revision) void apply(latest!.policy, latest!.revision);
    }
    if (stopping) {
      // a signal came while the agent was starting: shutdown() ran before it existed
      await agent?.stop();
      return;
    }
    if (metricsAt) {
      metrics = await serveMetrics(metricsAt, controlSocket);
      log.info({ metrics: o.metrics }, 'Prometheus metrics at /metrics');
    }
  } catch (err) {
    await shutdown('start-up failed');
    throw err;
  }
  await stopped;
}

/** Prometheus endpoint fed by the agent's own stats (over its control socket). */
async function serveMetrics({ host, port }: { host: string; port: number }, controlSocket: string): Promise<http.Server> {
  // prom-client (0.1-0.2 s to import) after the agent forwards, and only when asked for
  const { createMetricsRegistry, startMetricsServer } = await import('../agent/metrics.js');
  const registry = createMetricsRegistry(() => controlRequest(controlSocket, { op: 'stats' }) as Promise<StatsSnapshot>);
  return startMetricsServer(host, port, registry);
}

async function reloadFile(agent: Agent, file: string, log: Logger): Promise<void> {
  const { loadPolicyFile } = await import('../policy/load.js');
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
