/**
 * Small argument helpers shared by the commands. Kept apart from controller-cmd.ts so that the
 * agent and ctl do not import the controller's modules (fastify, etcd3, SQLite) for them.
 */
import { readFile } from 'node:fs/promises';

/** "127.0.0.1:8080", "[::1]:8080", "0.0.0.0:0" -> host and port. */
export function parseListen(text: string, flag = '--listen'): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  const port = match === null ? NaN : Number(match[3]);
  if (match === null || port > 65535) throw new Error(`${flag}: expected ADDR:PORT (e.g. 127.0.0.1:8080), got ${text}`);
  return { host: (match[1] ?? match[2]) as string, port };
}

/** The API token: the first line of --token-file, else SWITCHYARD_TOKEN. */
export async function readToken(tokenFile: string | undefined): Promise<string | undefined> {
  if (tokenFile !== undefined) {
    const token = (await readFile(tokenFile, 'utf8')).split('\n')[0]?.trim() ?? '';
    if (token === '') throw new Error(`${tokenFile}: no token in it`);
    return token;
  }
  const env = process.env.SWITCHYARD_TOKEN?.trim();
  return env === undefined || env === '' ? undefined : env;
}
