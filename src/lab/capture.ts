/**
 * Captures the lab's wire with `switchyard capture` (libpcap through the `cap` package) inside a
 * namespace; the tests then read the pcap with tshark, an independent dissector.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnIn } from './run.js';

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/switchyard.js');

export interface RunningCapture {
  file: string;
  /** Stops the capture; resolves when the file is complete. */
  stop(): Promise<void>;
}

export async function startCapture(ns: string, dev: string, filter: string, file: string): Promise<RunningCapture> {
  const child = spawnIn(ns, process.execPath, [BIN, 'capture', '--dev', dev, '--filter', filter, '-w', file]);
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      if (d.toString().includes('capturing')) resolve();
    });
    void exited.then(() => reject(new Error(`capture on ${dev} in ${ns} failed: ${err.trim()}`)));
  });
  return {
    file,
    stop: async () => {
      child.kill('SIGINT');
      await exited;
    },
  };
}
