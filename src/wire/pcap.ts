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
