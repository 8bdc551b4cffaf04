/**
 * The second opinion on raw IP: datagrams sent by the raw-socket package (raw-socket-send.ts, run
 * in the sender's namespace), not by our addon or scapy. Payloads are whole IP payloads, e.g. a
 * GRE header and the frame it carries.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runIn } from '../../src/lab/run.js';

const SENDER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'raw-socket-send.ts');

/** Sends each payload as one IPv4 datagram of protocol `proto` from `ns` to `dst`; resolves to the number the kernel took. */
export async function rawSocketSend(ns: string, dst: string, proto: number, payloads: readonly Uint8Array[]): Promise<number> {
  const hex = payloads.map((p) => Buffer.from(p).toString('hex'));
  const r = await runIn(ns, process.execPath, ['--import', 'tsx', SENDER, dst, String(proto), ...hex], { timeoutMs: 30_000 });
  return Number(r.stdout.trim());
}
