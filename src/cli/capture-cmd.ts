/**
 * `switchyard capture --dev DEV [--filter BPF] -w FILE [--count N] [--seconds S]`: a small
 * libpcap capture to a pcap file, for looking at the underlay (run it in the host's namespace).
 * Prints "capturing" once the device is open, so scripts know when to start traffic.
 */
import { Capture } from '../io/capture.js';

export async function runCapture(o: { dev: string; filter?: string; write: string; count?: number; seconds?: number }): Promise<number> {
  const c = new Capture({ device: o.dev, file: o.write, ...(o.filter ? { filter: o.filter } : {}), ...(o.count ? { count: o.count } : {}) });
  // with -w - the pcap is standard output: the words go to standard error
  const say = o.write === '-' ? (s: string) => console.error(s) : (s: string) => console.log(s);
  say(`capturing on ${o.dev}${o.filter ? ` (${o.filter})` : ''} to ${o.write === '-' ? 'standard output' : o.write}`);
  const stop = () => c.stop();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const timer = o.seconds ? setTimeout(stop, o.seconds * 1000) : undefined;
  const frames = await c.finished;
  if (timer) clearTimeout(timer);
  say(`${frames} frames written to ${o.write === '-' ? 'standard output' : o.write}`);
  return 0;
}
