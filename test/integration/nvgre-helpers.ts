/**
 * Shared by the NVGRE / OVS integration tests: the NVGRE Figure 8 policy (examples/nvgre.yaml), and
 * a GRE capture on the underlay read back by tshark (an independent dissector: it has no NVGRE
 * dissector, so the GRE fields are checked one by one).
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parsePolicyText } from '../../src/policy/load.js';
import type { Policy } from '../../src/policy/types.js';
import { run, sleep, spawnIn, waitFor } from '../../src/lab/run.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export function nvgrePolicy(): Policy {
  const r = parsePolicyText(fs.readFileSync(path.join(ROOT, 'examples', 'nvgre.yaml'), 'utf8'));
  if (!r.ok) throw new Error(`examples/nvgre.yaml is invalid: ${r.errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`);
  return r.policy;
}

/** One GRE frame as tshark reads it. */
export interface GreRow {
  src: string;
  dst: string;
  /** gre.flags_and_version, e.g. 0x2000 */
  flags: number;
  /** gre.proto, e.g. 0x6558 */
  proto: number;
  key: number;
  /** Inner Ethernet source MAC (second eth.src), '' when tshark did not dissect one. */
  innerSrc: string;
}

/** Captures IP protocol 47 on `dev` in `ns` (tcpdump) while `action` runs, then reads it with tshark. */
export async function captureGre(ns: string, dev: string, pcap: string, action: () => Promise<void>): Promise<GreRow[]> {
  const cap = spawnIn(ns, 'tcpdump', ['-i', dev, '-n', '-U', '--immediate-mode', '-w', pcap, 'ip proto 47']);
  let err = '';
  cap.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  cap.stdout!.resume();
  const exited = new Promise<void>((res) => cap.once('exit', () => res()));
  try {
    await waitFor(() => err.includes('listening on'), 10_000, `tcpdump on ${dev}: ${err}`);
    await action();
    await sleep(300);
  } finally {
    cap.kill('SIGINT');
    await exited;
  }
  const t = await run('tshark', ['-r', pcap, '-Y', 'gre', '-T', 'fields', '-E', 'separator=;', '-e', 'ip.src', '-e', 'ip.dst', '-e', 'gre.flags_and_version', '-e', 'gre.proto', '-e', 'gre.key', '-e', 'eth.src']);
  return t.stdout
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [src = '', dst = '', flags = '', proto = '', key = '', eth = ''] = line.split(';');
      return {
        src: src.split(',')[0]!,
        dst: dst.split(',')[0]!,
        flags: Number(flags.split(',')[0]),
        proto: Number(proto.split(',')[0]),
        key: Number(key.split(',')[0]),
        innerSrc: eth.split(',')[1] ?? '',
      };
    });
}

export const hex = (n: number, width = 4): string => `0x${n.toString(16).padStart(width, '0')}`;
