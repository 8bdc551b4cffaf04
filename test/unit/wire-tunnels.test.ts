// vxlan.ts and gre.ts: golden writer bytes (0xa5 poison), accessors, and every validator reason,
// table-driven from the builders.
import { describe, expect, it } from 'vitest';
import * as gre from '../../src/wire/gre.js';
import * as vxlan from '../../src/wire/vxlan.js';
import { buildArpRequest, concat, fromHex, toHex } from '../../src/wire/build/frames.js';

const inner = buildArpRequest();

describe('vxlan', () => {
  it('writeVxlan: flags I, reserved zero, VNI big-endian; nothing outside the 8 bytes', () => {
    const b = new Uint8Array(12).fill(0xa5);
    vxlan.writeVxlan(b, 2, 5001);
    expect(toHex(b)).toBe('a5a5' + '0800000000138900' + 'a5a5');
    vxlan.writeVxlan(b, 2, vxlan.VXLAN_VNI_MAX);
    expect(toHex(b)).toBe('a5a5' + '08000000ffffff00' + 'a5a5');
  });
  it('setVni changes only the VNI; vni/flags read back', () => {
    const b = fromHex('08ffffff001389ee');
    vxlan.setVni(b, 0, 0xabcdef);
    expect(toHex(b)).toBe('08ffffffabcdefee');
    expect([vxlan.flags(b, 0), vxlan.vni(b, 0)]).toEqual([0x08, 0xabcdef]);
  });
  it('vxlanCheck reasons (reserved bits ignored, RFC 7348)', () => {
    const hdr = (h: string): Uint8Array => concat(fromHex(h), inner);
    const cases: [string, Uint8Array, number, number][] = [
      ['valid', hdr('0800000000138900'), 8 + inner.length, vxlan.VXLAN_OK],
      ['all reserved bits set', hdr('ffffffff001389ff'), 8 + inner.length, vxlan.VXLAN_OK],
      ['GPE-looking P bit and next protocol', hdr('0c00000300138900'), 8 + inner.length, vxlan.VXLAN_OK],
      ['I clear', hdr('0000000000138900'), 8 + inner.length, vxlan.VXLAN_NO_I_FLAG],
      ['I clear, others set', hdr('f7ffffff00138900'), 8 + inner.length, vxlan.VXLAN_NO_I_FLAG],
      ['7 bytes', hdr('0800000000138900'), 7, vxlan.VXLAN_TRUNCATED],
      ['0 bytes', hdr('0800000000138900'), 0, vxlan.VXLAN_TRUNCATED],
      ['header only', hdr('0800000000138900'), 8, vxlan.VXLAN_INNER_TRUNCATED],
      ['13-byte inner', hdr('0800000000138900'), 21, vxlan.VXLAN_INNER_TRUNCATED],
      ['14-byte inner (a bare Ethernet header)', hdr('0800000000138900'), 22, vxlan.VXLAN_OK],
    ];
    for (const [what, b, len, reason] of cases) {
      expect(vxlan.VXLAN_REASONS[vxlan.vxlanCheck(b, 0, len)], what).toBe(vxlan.VXLAN_REASONS[reason]);
    }
  });
  it('constants', () => {
    expect([vxlan.VXLAN_PORT, vxlan.VXLAN_HEADER_LEN, vxlan.VXLAN_OVERHEAD_IPV4, vxlan.VXLAN_OVERHEAD_IPV6]).toEqual([4789, 8, 50, 70]);
  });
});

describe('gre / nvgre', () => {
  it('writeNvgre: 0x2000, 0x6558, key = VSID << 8 | FlowID', () => {
    const b = new Uint8Array(12).fill(0xa5);
    gre.writeNvgre(b, 2, 0xabcd, 7);
    expect(toHex(b)).toBe('a5a5' + '2000655800abcd07' + 'a5a5');
    gre.writeNvgre(b, 2, gre.NVGRE_VSID_MAX, 0xff);
    expect(toHex(b)).toBe('a5a5' + '20006558ffffffff' + 'a5a5');
    gre.setFlowId(b, 2, 0x42);
    expect([gre.vsid(b, 2), gre.flowId(b, 2), gre.nvgreKey(b, 2)]).toEqual([0xffffff, 0x42, 0xffffff42]);
  });
  it('key helpers', () => {
    expect(gre.makeNvgreKey(0xabcd, 7)).toBe(0x00abcd07);
    expect(gre.makeNvgreKey(0xffffff, 0xff)).toBe(0xffffffff);
    expect(gre.makeNvgreKey(4096, 0x1ff)).toBe(0x001000ff);
    expect([gre.keyVsid(0xffffff42), gre.keyFlowId(0xffffff42)]).toEqual([0xffffff, 0x42]);
  });
  it('general GRE accessors with C, K and S present (RFC 2890 order: checksum, key, sequence)', () => {
    const b = fromHex('b0006558 de260000 00abcd07 00000001');
    expect([gre.hasChecksum(b, 0), gre.hasKey(b, 0), gre.hasSeq(b, 0)]).toEqual([true, true, true]);
    expect([gre.headerLength(b, 0), gre.greChecksum(b, 0), gre.key(b, 0), gre.sequence(b, 0)]).toEqual([16, 0xde26, 0x00abcd07, 1]);
    const ks = fromHex('30006558 00abcd07 00000009');
    expect([gre.headerLength(ks, 0), gre.key(ks, 0), gre.sequence(ks, 0)]).toEqual([12, 0x00abcd07, 9]);
    expect([gre.headerLength(fromHex('00000800'), 0), gre.protocol(fromHex('00000800'), 0), gre.version(fromHex('20016558'), 0)]).toEqual([4, 0x0800, 1]);
  });
  it('nvgreCheck reasons', () => {
    const g = (h: string): Uint8Array => concat(fromHex(h), inner);
    const full = 8 + inner.length;
    const cases: [string, Uint8Array, number, number][] = [
      ['valid', g('2000655800abcd07'), full, gre.NVGRE_OK],
      ['reserved bits 6..12 set: ignored', g('23f8655800abcd07'), full, gre.NVGRE_OK],
      ['no K', g('0000655800abcd07'), full, gre.NVGRE_NO_KEY],
      ['C and K', g('a000655800abcd07'), full, gre.NVGRE_BAD_FLAGS],
      ['K and S', g('3000655800abcd07'), full, gre.NVGRE_BAD_FLAGS],
      ['routing bit (RFC 1701 R)', g('6000655800abcd07'), full, gre.NVGRE_BAD_FLAGS],
      ['strict source route bit', g('2800655800abcd07'), full, gre.NVGRE_BAD_FLAGS],
      ['recursion bits', g('2400655800abcd07'), full, gre.NVGRE_BAD_FLAGS],
      ['version 1 (PPTP)', g('2001655800abcd07'), full, gre.NVGRE_BAD_VERSION],
      ['version 7', g('2007655800abcd07'), full, gre.NVGRE_BAD_VERSION],
      ['protocol IPv4', g('2000080000abcd07'), full, gre.NVGRE_BAD_PROTOCOL],
      ['7 bytes', g('2000655800abcd07'), 7, gre.NVGRE_TRUNCATED],
      ['4 bytes', g('2000655800abcd07'), 4, gre.NVGRE_TRUNCATED],
      ['header only', g('2000655800abcd07'), 8, gre.NVGRE_INNER_TRUNCATED],
      ['14-byte inner', g('2000655800abcd07'), 22, gre.NVGRE_OK],
    ];
    for (const [what, b, len, reason] of cases) {
      expect(gre.NVGRE_REASONS[gre.nvgreCheck(b, 0, len)], what).toBe(gre.NVGRE_REASONS[reason]);
    }
  });
  it('constants', () => {
    expect([gre.IPPROTO_GRE, gre.GRE_PROTO_TEB, gre.NVGRE_FLAGS, gre.NVGRE_HEADER_LEN, gre.NVGRE_OVERHEAD_IPV4]).toEqual([47, 0x6558, 0x2000, 8, 42]);
  });
});
