/**
 * Counts the frames that arrive on an interface inside a namespace, for tests that must prove a
 * frame was NOT delivered (and, as the control, that the same kind of frame is). A plain-Python
 * packet socket (scapy/count-frames.py) listens for a fixed window; a frame counts when it holds
 * the test's marker bytes and/or passes a BPF filter (compiled by tcpdump in that namespace).
 * Frames the namespace itself sends are never counted.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { run, sleep, spawnIn } from '../../src/lab/run.js';

const SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'scapy', 'count-frames.py');

export interface ArrivedFrame {
  /** EtherType after the kernel removed any VLAN tag (packet sockets see frames untagged). */
  type: number | null;
  /** The TCI of the tag the kernel removed, or null when the frame came untagged. */
  vlan: number | null;
  /** PACKET_HOST 0, BROADCAST 1, MULTICAST 2, OTHERHOST 3. */
  pkttype: number;
  len: number;
}

export interface FrameCount {
  count: number;
  frames: ArrivedFrame[];
}

export interface CountOptions {
  /** Count only frames containing these bytes (a string is taken as ASCII). */
  marker?: string | Buffer;
  /** A tcpdump filter expression, e.g. `icmp6 and ip6[40] == 134`. */
  filter?: string;
  /** The longest it listens after the socket is ready (default 1500 ms; end() closes it sooner). */
  windowMs?: number;
  /** End early once this many frames counted (for controls that must arrive). */
  stopAfter?: number;
}

export interface FrameCounter {
  /** Resolves when the window ends (or stopAfter is reached). */
  done: Promise<FrameCount>;
  /** Closes the window now; frames already queued on the socket still count. */
  end(): void;
  /** Ends the listener now (done then rejects unless it already resolved). */
  kill(): void;
}

/** One line for an assertion message: what arrived (EtherType, the VLAN tag the kernel removed). */
export function describeFrames(c: FrameCount): string {
  if (c.count === 0) return 'nothing';
  return c.frames.map((f) => `0x${(f.type ?? 0).toString(16).padStart(4, '0')}${f.vlan === null ? '' : ` tci ${f.vlan}`} (${f.len} B)`).join(', ');
}

/** A marker unique to this run and call: only the test's own frames carry it. */
export function newMarker(what: string): string {
  return `SYISO-${what}-${randomBytes(4).toString('hex')}`;
}

/** Starts counting on `iface` in `ns`; resolves once the socket listens. */
export async function countFrames(ns: string, iface: string, opts: CountOptions = {}): Promise<FrameCounter> {
  const args = [SCRIPT, iface, String(opts.windowMs ?? 1500)];
  if (opts.marker !== undefined) args.push('--marker', Buffer.from(opts.marker).toString('hex'));
  if (opts.filter !== undefined) {
    const c = await run('ip', ['netns', 'exec', ns, 'tcpdump', '-ddd', '-i', iface, opts.filter]);
    args.push('--bpf', c.stdout.trim().split('\n').join(','));
  }
  if (opts.stopAfter !== undefined) args.push('--stop-after', String(opts.stopAfter));
  // /usr/bin/python3: the python3 first on PATH may be another build (see FACTS.md)
  const child = spawnIn(ns, '/usr/bin/python3', args);
  let out = '';
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.startsWith('ready')) resolve();
    });
    void exited.then(() => reject(new Error(`frame counter on ${iface} in ${ns} failed: ${err.trim() || out.trim()}`)));
  });
  const done = exited.then((code) => {
    const last = out.trim().split('\n').pop() ?? '';
    if (code !== 0 || !last.startsWith('{')) throw new Error(`frame counter on ${iface} in ${ns} ended (${code}): ${err.trim() || out.trim()}`);
    return JSON.parse(last) as FrameCount;
  });
  done.catch(() => undefined); // a caller that kills it may never await done
  return { done, end: () => child.kill('SIGUSR1'), kill: () => child.kill('SIGKILL') };
}

/**
 * Listens on every `where` at once, runs `send`, lets `settleMs` pass (default 700 ms: delivery
 * takes well under a millisecond, this covers a loaded machine; 5 s with `stopAfter`) and returns how many frames each
 * saw. The window thus always ends after the last frame was sent, however slow the sender. With
 * `stopAfter`, a counter that has them all ends at once. Counters are killed if `send` throws.
 */
export async function arrivals(
  where: { ns: string; iface: string }[],
  opts: CountOptions & { settleMs?: number },
  send: () => Promise<void>,
): Promise<FrameCount[]> {
  const counters: FrameCounter[] = [];
  try {
    // the hard limit only guards against a counter that never hears end()
    for (const w of where) counters.push(await countFrames(w.ns, w.iface, { windowMs: 30_000, ...opts }));
    await send();
    const all = Promise.all(counters.map((c) => c.done));
    // a control (stopAfter) ends as soon as its frames are in: it may wait longer for them
    const settleMs = opts.settleMs ?? (opts.stopAfter !== undefined ? 5000 : 700);
    const settled = await Promise.race([all, sleep(settleMs).then(() => null)]);
    if (settled !== null) return settled;
    for (const c of counters) c.end();
    return await all;
  } catch (e) {
    for (const c of counters) c.kill();
    throw e;
  }
}
