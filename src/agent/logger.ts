/** Structured logs (pino) to stderr, so stdout stays free for command output. */
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(name: string, level = process.env.SWITCHYARD_LOG_LEVEL ?? 'info'): Logger {
  return pino({ name, level, base: { pid: process.pid } }, pino.destination(2));
}
