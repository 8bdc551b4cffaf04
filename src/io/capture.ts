/**
 * Packet capture through libpcap (the `cap` package): frames of one device, filtered by a BPF
 * expression, written to a classic pcap file (wire/pcap.ts) that tshark can read. Used by
 * `switchyard capture`, which the lab runs inside a namespace to watch the underlay, and by
 * `switchyard ctl mirror` on a port's device. A TSO/GRO super-frame on the device is written as
 * one record, not cut into segments (Wireshark reads records of any length): it is what the
 * tenant's kernel sent or received, and segmenting it here would invent IP identifications and
 * checksums no one put on a wire.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { frameWireLength, pcapFileHeader, pcapRecordHeader } from '../wire/pcap.js';

interface CapHandle {
  open(device: string, filter: string, bufSize: number, buffer: Buffer): string;
  setMinBytes?(n: number): void;
  on(ev: 'packet', cb: (nbytes: number, trunc: boolean) => void): void;
  close(): void;
}

const require = createRequire(import.meta.url);

/**
 * cap's handles whose open() failed. The package starts its uv_poll only at the end of a
 * successful open, but its close() and its destructor (run when the handle is garbage collected)
 * stop that poll whenever libpcap's handle exists, which after a failed open is a uv_poll_t never
 * initialised: the process aborts in uv_poll_stop. So such a handle is never closed and stays
 * referenced here until the process ends (it holds one pcap socket; `switchyard capture` exits
 * after a failed open).
 */
const failedOpens: CapHandle[] = [];

export interface CaptureOptions {
  device: string;
  /** BPF expression, e.g. "udp port 4789". */
  filter?: string;
  /** pcap file to write; '-' for standard output (a pipe to tshark -r -). */
  file: string;
  /** Stop after this many frames (default: until stop()). */
  count?: number;
}

export class Capture {
  private readonly cap: CapHandle;
  private readonly buf = Buffer.alloc(65535);
  private readonly fd: number;
  private frames = 0;
  private stopped = false;
  private done: () => void = () => undefined;
  readonly finished: Promise<number>;

  constructor(private readonly o: CaptureOptions) {
    const { Cap } = require('cap') as { Cap: new () => CapHandle };
    // the file first: libpcap's handle polls on the loop from open() on, and must not be left
    // open behind a file that cannot be written
    const toStdout = o.file === '-';
    this.fd = toStdout ? 1 : fs.openSync(o.file, 'w');
    const undo = () => {
      if (toStdout) return;
      fs.closeSync(this.fd);
      fs.rmSync(o.file, { force: true });
    };
    this.cap = new Cap();
    let linkType: string;
    try {
      linkType = this.cap.open(o.device, o.filter ?? '', 10 * 1024 * 1024, this.buf);
    } catch (err) {
      failedOpens.push(this.cap);
      undo();
      const msg = (err as Error).message;
      // libpcap says only "can't parse filter expression": name the filter the user gave
      const what = /filter/i.test(msg) && o.filter ? `filter ${JSON.stringify(o.filter)} on ${o.device}: ${msg} (BPF syntax, as tcpdump takes it)` : `cannot open ${o.device}: ${msg}`;
      throw new Error(`capture: ${what}`, { cause: err });
    }
    if (linkType !== 'ETHERNET') {
      this.cap.close();
      undo();
      throw new Error(`capture: ${o.device} has link type ${linkType}, not Ethernet`);
    }
    this.cap.setMinBytes?.(0);
    fs.writeSync(this.fd, pcapFileHeader());
    this.finished = new Promise<number>((resolve) => (this.done = () => resolve(this.frames)));
    this.cap.on('packet', (nbytes, _trunc) => this.onPacket(nbytes));
  }

  private onPacket(nbytes: number): void {
    if (this.stopped) return;
    const n = Math.min(nbytes, this.buf.length);
    // a super-frame (TSO/GRO) is one record, as the device holds it; its real length comes from
    // its IP header when the 65535-byte snap length cut it (wire/pcap.ts frameWireLength); a
    // frame shorter than that was captured whole, whatever its headers claim
    fs.writeSync(this.fd, pcapRecordHeader(Date.now(), n, n === this.buf.length ? frameWireLength(this.buf, n) : n));
    fs.writeSync(this.fd, this.buf, 0, n);
    this.frames++;
    if (this.o.count !== undefined && this.frames >= this.o.count) this.stop();
  }

  /** Closes the capture and the file; resolves `finished` with the number of frames. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.cap.close();
    if (this.fd !== 1) fs.closeSync(this.fd);
    this.done();
  }
}
