import { describe, expect, test } from 'vitest';
import { cidrsOverlap, normaliseMac, parseCidr, parseIpv4 } from '../../src/policy/addr.js';
import { figure8Policy } from '../../src/policy/figure8.js';
import {
  aclByName,
  gatewayOf,
  hostOf,
  interfacesInSubnet,
  interfacesOnHost,
  subnetByVsid,
  subnetOf,
  vnetOf,
} from '../../src/policy/lookup.js';
import { deriveIfname } from '../../src/policy/names.js';

describe('deriveIfname', () => {
  test('explicit ifname wins', () => {
    expect(deriveIfname({ name: 'contoso-sql', ifname: 'tap7' })).toBe('tap7');
  });

  test('short names: "sy-" + name', () => {
    expect(deriveIfname({ name: 'contoso-sql' })).toBe('sy-contoso-sql');
    expect(deriveIfname({ name: 'fabrikam-web' })).toBe('sy-fabrikam-web');
  });

  test('long or unusual names: truncated + hash, always <= 15 and distinct', () => {
    const long1 = deriveIfname({ name: 'contoso-database-primary' });
    const long2 = deriveIfname({ name: 'contoso-database-replica' });
    expect(long1).toMatch(/^sy-contoso[0-9a-f]{5}$/);
    expect(long1).toHaveLength(15);
    expect(long1).not.toBe(long2);
    expect(deriveIfname({ name: 'contoso-database-primary' })).toBe(long1);
    const odd = deriveIfname({ name: 'a:b' });
    expect(odd).toMatch(/^sy-a-b[0-9a-f]{5}$/);
    expect(odd).not.toBe(deriveIfname({ name: 'a-b' }));
  });
});

describe('lookups over Figure 8', () => {
  const policy = figure8Policy();
  const [contosoSql, contosoWeb, fabrikamSql] = policy.networkInterfaces;

  test('gatewayOf', () => {
    expect(gatewayOf({ addressPrefix: '10.1.1.0/24' })).toBe('10.1.1.1');
    expect(gatewayOf({ addressPrefix: '172.16.0.0/12' })).toBe('172.16.0.1');
  });

  test('hostOf, vnetOf, subnetOf', () => {
    expect(hostOf(policy, fabrikamSql!).providerAddresses).toEqual(['192.168.1.10']);
    expect(vnetOf(policy, fabrikamSql!).name).toBe('fabrikam');
    expect(subnetOf(policy, fabrikamSql!).vsid).toBe(6001);
    expect(subnetOf(policy, contosoWeb!).vsid).toBe(5001);
    expect(() => hostOf(policy, { ...contosoSql!, host: 'nope' })).toThrow('policy has no host nope');
  });

  test('interfacesOnHost, interfacesInSubnet, subnetByVsid, aclByName', () => {
    expect(interfacesOnHost(policy, 'host1').map((n) => n.name)).toEqual(['contoso-sql', 'fabrikam-sql']);
    expect(interfacesOnHost(policy, policy.hosts[1]!).map((n) => n.name)).toEqual(['contoso-web', 'fabrikam-web']);
    expect(interfacesInSubnet(policy, 'contoso', 's1').map((n) => n.name)).toEqual(['contoso-sql', 'contoso-web']);
    expect(subnetByVsid(policy, 6001)?.vnet.name).toBe('fabrikam');
    expect(subnetByVsid(policy, 7001)).toBeUndefined();
    expect(() => aclByName(policy, 'x')).toThrow('policy has no access control list x');
  });
});

describe('addr', () => {
  test('IPv4 and CIDR parsing is strict', () => {
    expect(parseIpv4('10.1.1.11')).toBe(0x0a01010b);
    expect(parseIpv4('255.255.255.255')).toBe(0xffffffff);
    for (const bad of ['10.1.1', '10.1.1.256', '10.01.1.1', ' 10.1.1.1', '10.1.1.1.', '']) expect(parseIpv4(bad)).toBeUndefined();
    expect(parseCidr('0.0.0.0/0')).toEqual({ network: 0, prefixLength: 0 });
    expect(parseCidr('10.1.1.7', true)).toEqual({ network: 0x0a010107, prefixLength: 32 });
    expect(parseCidr('10.1.1.7')).toBe('not a CIDR prefix: 10.1.1.7');
    expect(parseCidr('10.1.1.0/024')).toBe('not a CIDR prefix: 10.1.1.0/024');
    expect(cidrsOverlap(parseCidr('10.0.0.0/8') as never, parseCidr('10.1.1.0/24') as never)).toBe(true);
    expect(cidrsOverlap(parseCidr('10.1.2.0/24') as never, parseCidr('10.1.1.0/24') as never)).toBe(false);
  });

  test('MAC normalisation', () => {
    expect(normaliseMac('00-1D-D8-B7-1C-01')).toBe('00:1d:d8:b7:1c:01');
    expect(normaliseMac('00:1d:d8:b7:1c:01')).toBe('00:1d:d8:b7:1c:01');
    expect(normaliseMac('001d.d8b7.1c01')).toBeUndefined();
    expect(normaliseMac('00:1d-d8:b7:1c:01')).toBeUndefined();
  });
});
