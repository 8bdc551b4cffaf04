/**
 * The classic pcap file format (libpcap, microsecond timestamps), written so that captures made
 * by switchyard's own tools open in tshark and tcpdump. Pure: it returns bytes, the caller writes.
 */

/** Link type of Ethernet frames (LINKTYPE_ETHERNET). */
export const LINKTYPE_ETHERNET = 1;
export const PCAP_MAGIC = 0xa1b2c3d4;
export const PCAP_FILE_HEADER_LEN = 24;
export const PCAP_RECORD_HEADER_LEN = 16;

/** The 24-byte file header (little-endian, version 2.4). */
export function pcapFileHeader(snaplen = 262144, linktype = LINKTYPE_ETHERNET): Uint8Array {
  const b = new Uint8Array(PCAP_FILE_HEADER_LEN);
  const v = new DataView(b.buffer);
  v.setUint32(0, PCAP_MAGIC, true);
  v.setUint16(4, 2, true);
  v.setUint16(6, 4, true);
  v.setInt32(8, 0, true); // thiszone
  v.setUint32(12, 0, true); // sigfigs
  v.setUint32(16, snaplen, true);
  v.setUint32(20, linktype, true);
  return b;
}

/** The 16-byte header of one record: time, bytes kept, bytes on the wire. */
export function pcapRecordHeader(timeMs: number, capturedLen: number, wireLen: number): Uint8Array {
  const b = new Uint8Array(PCAP_RECORD_HEADER_LEN);
  const v = new DataView(b.buffer);
  const sec = Math.floor(timeMs / 1000);
  v.setUint32(0, sec, true);
  v.setUint32(4, Math.round((timeMs - sec * 1000) * 1000), true);
  v.setUint32(8, capturedLen, true);
  v.setUint32(12, wireLen, true);
  return b;
}

/**
 * The length on the wire of a captured Ethernet frame whose first `caplen` bytes are in `b`: the
 * IPv4 total length or IPv6 payload length (after one VLAN tag, if any) + the headers before it,
 * when that is more than was captured, else `caplen`. A capture on a device with TSO/GRO sees
 * super-frames of up to 64 KB + 14 bytes as one packet, and a capture library whose snap length is
 * 65535 (the `cap` package's) keeps at most that much of it and does not say how long it was: the
 * record then says both (Wireshark shows "packet size limited during capture").
 */
export function frameWireLength(b: Uint8Array, caplen: number): number {
  if (caplen < 14) return caplen;
  let l3 = 14;
  let et = (b[12] << 8) | b[13];
  if (et === 0x8100 && caplen >= 18) {
    et = (b[16] << 8) | b[17];
    l3 = 18;
  }
  let len = caplen;
  if (et === 0x0800 && caplen >= l3 + 4 && b[l3] >>> 4 === 4) len = l3 + ((b[l3 + 2] << 8) | b[l3 + 3]);
  else if (et === 0x86dd && caplen >= l3 + 6 && b[l3] >>> 4 === 6) len = l3 + 40 + ((b[l3 + 4] << 8) | b[l3 + 5]);
  return Math.max(len, caplen);
}
