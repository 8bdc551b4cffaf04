/** `switchyard agent`: load and validate the policy, start the agent, stop it on SIGTERM/SIGINT. */
import { formatErrors, loadPolicyFile } from '../policy/load.js';
import { Agent } from '../agent/agent.js';
import { controlSocketPath } from '../agent/control-protocol.js';
import { createLogger } from '../agent/logger.js';

export async function runAgentCommand(o: { policy: string; host: string; control?: string; workers?: number }): Promise<void> {
  const log = createLogger(`agent:${o.host}`);
  const r = await loadPolicyFile(o.policy);
  if (!r.ok) {
    console.error(`${o.policy}: invalid policy, agent not started\n${formatErrors(r.errors, { file: o.policy })}`);
    process.exitCode = 2;
    return;
  }
  if (process.getuid?.() !== 0) log.warn('not running as root: creating TAP devices will fail');
  const agent = await Agent.start({ policy: r.policy, host: o.host, controlSocket: o.control ?? controlSocketPath(o.host), log });
  await new Promise<void>((resolve) => {
    const stop = (sig: string) => {
      log.info({ signal: sig }, 'shutting down');
      agent.stop().then(resolve, (err: Error) => {
        log.error({ err: err.message }, 'shutdown failed');
        resolve();
      });
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}
