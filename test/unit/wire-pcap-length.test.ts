// The length on the wire of a captured frame (wire/pcap.ts frameWireLength): a super-frame cut
// by a 65535-byte snap length gets its real length from its IP header, so its pcap record says
// both; anything captured whole keeps its captured length. tshark reads such a record.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildTcp, buildIpv6Udp, pattern } from '../../src/wire/build/frames.js';
import { frameWireLength, pcapFileHeader, pcapRecordHeader } from '../../src/wire/pcap.js';
import { requires } from '../helpers/prerequisites.js';

const haveTshark = spawnSync('tshark', ['-v'], { stdio: 'ignore' }).status === 0;

describe('frameWireLength', () => {
  // a 65535-byte IPv4 packet (a TSO super-frame as the device holds it): 65549 bytes of frame
  const superFrame = buildTcp({ srcIp: '10.1.1.11', dstIp: '10.1.1.12', payload: pattern(65535 - 40) });

  it('IPv4 and IPv6 super-frames cut at 65535 bytes: the length from the IP header', () => {
    expect(superFrame.length).toBe(65549);
    expect(frameWireLength(superFrame, 65535)).toBe(65549);
    const six = buildIpv6Udp({ srcIp6: 'fd00:1:1::11', dstIp6: 'fd00:1:1::12', payload: pattern(65535 - 8) });
    expect(frameWireLength(six, 65535)).toBe(14 + 40 + 65535);
  });

  it('a frame captured whole keeps its length (Ethernet padding, ARP, short captures)', () => {
    const small = buildTcp({ srcIp: '10.1.1.11', dstIp: '10.1.1.12' });
    const padded = new Uint8Array(60);
    padded.set(small.subarray(0, 54));
    expect(frameWireLength(padded, 60)).toBe(60);
    expect(frameWireLength(new Uint8Array(10), 10)).toBe(10);
    const arp = new Uint8Array(42);
    arp[12] = 0x08;
    arp[13] = 0x06;
    expect(frameWireLength(arp, 42)).toBe(42);
  });

  it('tshark reads the record as one TCP segment of the real length, cut by the snap length', requires(haveTshark, 'tshark is not installed (scripts/setup.sh installs it)'), () => {
    const dir = mkdtempSync(join(tmpdir(), 'pcap-len-'));
    try {
      const file = join(dir, 'super.pcap');
      const cut = superFrame.subarray(0, 65535);
      const parts = [pcapFileHeader(), pcapRecordHeader(1000, cut.length, frameWireLength(cut, cut.length)), cut];
      writeFileSync(file, Buffer.concat(parts.map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength))));
      const out = execFileSync('tshark', ['-r', file, '-T', 'fields', '-e', 'frame.len', '-e', 'frame.cap_len', '-e', 'ip.len', '-e', 'tcp.len'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      expect(out.trim().split('\t')).toEqual(['65549', '65535', '65535', '65495']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
