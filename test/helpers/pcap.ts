/**
 * Classic libpcap files (not pcapng) for tests: read golden captures into frames, and write
 * frames out (pcap-out tests, or to look at a failing test's output with tshark). Both byte
 * orders and the nanosecond variant are read.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** LINKTYPE_ETHERNET. */
export const LINKTYPE_ETHERNET = 1;

export interface PcapFrame {
  /** Capture time in seconds (fractional). */
  ts: number;
  /** The captured bytes (a view into the file's buffer). */
  data: Uint8Array;
  /** Length on the wire (larger than data.length when the capture was cut by the snaplen). */
  origLen: number;
}

export interface PcapFile {
  linkType: number;
  snaplen: number;
  nanosecond: boolean;
  frames: PcapFrame[];
}

/** Parses the bytes of a classic pcap file; throws on a bad magic or a truncated record. */
export function parsePcap(bytes: Uint8Array): PcapFile {
  if (bytes.length < 24) throw new Error(`pcap: ${bytes.length} bytes is shorter than the 24-byte file header`);
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magicLe = v.getUint32(0, true);
  let le: boolean;
  let nanosecond: boolean;
  if (magicLe === 0xa1b2c3d4) [le, nanosecond] = [true, false];
  else if (magicLe === 0xa1b23c4d) [le, nanosecond] = [true, true];
  else if (magicLe === 0xd4c3b2a1) [le, nanosecond] = [false, false];
  else if (magicLe === 0x4d3cb2a1) [le, nanosecond] = [false, true];
  else throw new Error(`pcap: bad magic 0x${magicLe.toString(16)} (pcapng is not supported)`);
  const snaplen = v.getUint32(16, le);
  const linkType = v.getUint32(20, le) & 0x0fffffff;
  const frames: PcapFrame[] = [];
  let p = 24;
  while (p < bytes.length) {
    if (p + 16 > bytes.length) throw new Error(`pcap: truncated record header at byte ${p}`);
    const sec = v.getUint32(p, le);
    const frac = v.getUint32(p + 4, le);
    const inclLen = v.getUint32(p + 8, le);
    const origLen = v.getUint32(p + 12, le);
    p += 16;
    if (p + inclLen > bytes.length) throw new Error(`pcap: record ${frames.length + 1} truncated at byte ${p}`);
    frames.push({ ts: sec + frac / (nanosecond ? 1e9 : 1e6), data: bytes.subarray(p, p + inclLen), origLen });
    p += inclLen;
  }
  return { linkType, snaplen, nanosecond, frames };
}

/** Reads a classic pcap file. */
export function readPcap(path: string): PcapFile {
  return parsePcap(new Uint8Array(readFileSync(path)));
}

/** Reads the frames (bytes only) of a classic pcap file. */
export function readPcapFrames(path: string): Uint8Array[] {
  return readPcap(path).frames.map((f) => f.data);
}

/** Absolute path of a file in test/fixtures (e.g. "vxlan-kernel.pcap"). */
export function fixturePath(name: string): string {
  return fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url));
}

/** The bytes of a little-endian, microsecond pcap file holding `frames` (Ethernet), 1 ms apart. */
export function buildPcap(frames: readonly Uint8Array[], linkType = LINKTYPE_ETHERNET): Uint8Array {
  const size = 24 + frames.reduce((n, f) => n + 16 + f.length, 0);
  const out = new Uint8Array(size);
  const v = new DataView(out.buffer);
  v.setUint32(0, 0xa1b2c3d4, true);
  v.setUint16(4, 2, true);
  v.setUint16(6, 4, true);
  v.setUint32(16, 262144, true);
  v.setUint32(20, linkType, true);
  let p = 24;
  frames.forEach((f, i) => {
    v.setUint32(p, Math.floor(i / 1000), true);
    v.setUint32(p + 4, (i % 1000) * 1000, true);
    v.setUint32(p + 8, f.length, true);
    v.setUint32(p + 12, f.length, true);
    out.set(f, p + 16);
    p += 16 + f.length;
  });
  return out;
}

/** Writes `frames` to a pcap file at `path` (open it with tshark -r). */
export function writePcap(path: string, frames: readonly Uint8Array[]): void {
  writeFileSync(path, buildPcap(frames));
}
