// addr.ts: text forms of MACs, IPv4 addresses and CIDR prefixes; round trips and clear errors.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cidrContains, formatCidr, formatIpv4, formatMac, parseCidr, parseIpv4, parseMac, prefixMask } from '../../src/wire/addr.js';

describe('MAC text', () => {
  it('parses colon and dash forms, any case', () => {
    expect(parseMac('02:00:00:00:01:11')).toBe(0x020000000111);
    expect(parseMac('FF-FF-FF-FF-FF-FF')).toBe(0xffffffffffff);
    expect(parseMac('9a:A5:6e:4c:ce:01')).toBe(0x9aa56e4cce01);
    expect(formatMac(0x020000000111)).toBe('02:00:00:00:01:11');
    expect(formatMac(0)).toBe('00:00:00:00:00:00');
  });
  it.each(['', '02:00:00:00:01', '02:00:00:00:01:11:22', '02-00:00:00:01:11', '2:0:0:0:1:11', '02:00:00:00:01:1g', ' 02:00:00:00:01:11'])(
    'rejects %j with a message naming it',
    (t) => {
      expect(() => parseMac(t)).toThrow(`invalid MAC address ${JSON.stringify(t)}: expected six hex octets like 02:00:00:00:01:11`);
    },
  );
  it('round-trips every 48-bit value', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 2 ** 48 - 1 }), (m) => parseMac(formatMac(m)) === m));
  });
});

describe('IPv4 text', () => {
  it('parses strict dotted quads', () => {
    expect(parseIpv4('10.1.1.11')).toBe(0x0a01010b);
    expect(parseIpv4('255.255.255.255')).toBe(0xffffffff);
    expect(parseIpv4('0.0.0.0')).toBe(0);
    expect(formatIpv4(0xc0a83d01)).toBe('192.168.61.1');
    expect(formatIpv4(0xffffffff)).toBe('255.255.255.255');
  });
  it.each(['', '10.1.1', '10.1.1.1.1', '10.1.1.256', '010.1.1.1', '10.1.1.-1', '10.1.1.1 ', '1e1.1.1.1', '0x1.1.1.1', '10..1.1'])(
    'rejects %j',
    (t) => {
      expect(() => parseIpv4(t)).toThrow(`invalid IPv4 address ${JSON.stringify(t)}: expected a dotted quad like 10.1.1.11`);
    },
  );
  it('round-trips every uint32', () => {
    fc.assert(fc.property(fc.nat({ max: 0xffffffff }), (a) => parseIpv4(formatIpv4(a)) === a));
  });
});

describe('CIDR text', () => {
  it('parses prefixes to { addr, len }', () => {
    expect(parseCidr('10.1.1.0/24')).toEqual({ addr: 0x0a010100, len: 24 });
    expect(parseCidr('0.0.0.0/0')).toEqual({ addr: 0, len: 0 });
    expect(parseCidr('10.1.1.11/32')).toEqual({ addr: 0x0a01010b, len: 32 });
    expect(formatCidr({ addr: 0x0a010100, len: 24 })).toBe('10.1.1.0/24');
  });
  it('rejects host bits unless asked, naming the network', () => {
    expect(() => parseCidr('10.1.1.5/24')).toThrow('invalid CIDR prefix "10.1.1.5/24": host bits set (the network is 10.1.1.0/24)');
    expect(parseCidr('10.1.1.5/24', true)).toEqual({ addr: 0x0a010105, len: 24 });
  });
  it.each(['10.1.1.0', '10.1.1.0/', '10.1.1.0/33', '10.1.1.0/024', '10.1.1/24', '/24', '10.1.1.0/2 4'])('rejects %j', (t) => {
    expect(() => parseCidr(t)).toThrow(`invalid CIDR prefix ${JSON.stringify(t)}: expected address/length like 10.1.1.0/24`);
  });
  it('masks and containment', () => {
    expect(prefixMask(0)).toBe(0);
    expect(prefixMask(24)).toBe(0xffffff00);
    expect(prefixMask(32)).toBe(0xffffffff);
    const c = parseCidr('10.1.1.0/24');
    expect(cidrContains(c, parseIpv4('10.1.1.255'))).toBe(true);
    expect(cidrContains(c, parseIpv4('10.1.2.0'))).toBe(false);
    expect(cidrContains(parseCidr('0.0.0.0/0'), 0xffffffff)).toBe(true);
  });
  it('round-trips every network prefix', () => {
    fc.assert(
      fc.property(fc.nat({ max: 0xffffffff }), fc.integer({ min: 0, max: 32 }), (a, len) => {
        const addr = (a & prefixMask(len)) >>> 0;
        expect(parseCidr(formatCidr({ addr, len }))).toEqual({ addr, len });
      }),
    );
  });
});
