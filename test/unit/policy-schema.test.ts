import { describe, expect, test } from 'vitest';
import { parsePolicy } from '../../src/policy/validate.js';
import type { AclRule } from '../../src/policy/types.js';
import { expectErrors, figure8Raw, rule, withAclRaw } from './policy-fixture.js';

function parsedRule(fields: Record<string, unknown>): AclRule {
  const doc = withAclRaw();
  doc.accessControlLists[0].aclRules = [rule(fields)];
  const result = parsePolicy(doc);
  if (!result.ok) throw new Error(JSON.stringify(result.errors));
  return result.policy.accessControlLists[0]!.aclRules[0]!;
}

describe('schema: normalisation and defaults', () => {
  test('defaults: encapsulation vxlan, nvgreFlowId 0, accessControlLists []', () => {
    const doc = figure8Raw();
    delete doc.virtualNetworks[0].subnets[0].encapsulation;
    const result = parsePolicy(doc);
    if (!result.ok) throw new Error('invalid');
    expect(result.policy.virtualNetworks[0]!.subnets[0]).toEqual({
      name: 's1',
      vsid: 5001,
      addressPrefix: '10.1.1.0/24',
      encapsulation: 'vxlan',
      nvgreFlowId: 0,
    });
    expect(result.policy.accessControlLists).toEqual([]);
  });

  test('encapsulation and nvgreFlowId spellings', () => {
    const doc = figure8Raw();
    Object.assign(doc.virtualNetworks[0].subnets[0], { encapsulation: 'NVGRE', nvgreFlowId: 'Hash' });
    Object.assign(doc.virtualNetworks[1].subnets[0], { encapsulation: 'nvgre', nvgreFlowId: 255 });
    const result = parsePolicy(doc);
    if (!result.ok) throw new Error('invalid');
    expect(result.policy.virtualNetworks.map((v) => [v.subnets[0]!.encapsulation, v.subnets[0]!.nvgreFlowId])).toEqual([
      ['nvgre', 'hash'],
      ['nvgre', 255],
    ]);
  });

  test('ACL rule: case-insensitive names, numbers as ports, bare address as /32', () => {
    expect(
      parsedRule({
        protocol: 'udp',
        action: 'deny',
        type: 'OUTBOUND',
        sourceAddressPrefix: '10.1.1.12',
        destinationAddressPrefix: '10.0.0.0/8',
        sourcePortRange: 53,
        destinationPortRange: '1024-65535',
        logging: true,
      }),
    ).toEqual({
      name: 'r',
      protocol: 'UDP',
      action: 'Deny',
      type: 'Outbound',
      sourceAddressPrefix: '10.1.1.12/32',
      destinationAddressPrefix: '10.0.0.0/8',
      sourcePortRange: '53',
      destinationPortRange: '1024-65535',
      priority: 100,
      logging: true,
    });
    expect(parsedRule({ protocol: 'all' }).protocol).toBe('All');
    expect(parsedRule({ protocol: 'Icmp' }).protocol).toBe('ICMP');
    expect(parsedRule({ protocol: 47 }).protocol).toBe(47);
    expect(parsedRule({ protocol: '17' }).protocol).toBe(17);
  });
});

describe('schema: errors', () => {
  test.each([
    [{ protocol: 256 }, 'protocol: not a protocol: 256 (All, TCP, UDP, ICMP or 0..255)'],
    [{ protocol: 'SCTP' }, 'protocol: not a protocol: SCTP (All, TCP, UDP, ICMP or 0..255)'],
    [{ sourceAddressPrefix: '10.1.1.1/24' }, 'sourceAddressPrefix: host bits set in 10.1.1.1/24 (network is 10.1.1.0/24)'],
    [{ destinationAddressPrefix: 'any' }, 'destinationAddressPrefix: not an address prefix: any'],
    [{ sourcePortRange: '90-80' }, "sourcePortRange: empty port range: 90-80 ('*', 'N' or 'N-M')"],
    [{ destinationPortRange: '65536' }, "destinationPortRange: port out of range 0..65535: 65536 ('*', 'N' or 'N-M')"],
    [{ destinationPortRange: 'http' }, "destinationPortRange: not a port range: http ('*', 'N' or 'N-M')"],
    [{ destinationPortRange: -1 }, "destinationPortRange: not a port: -1 ('*', 'N' or 'N-M')"],
    [{ action: 'Permit' }, 'action: not an action: Permit (Allow or Deny)'],
    [{ type: 'Both' }, 'type: not a rule type: Both (Inbound or Outbound)'],
    [{ priority: 99 }, 'priority: priority 99 out of range 100..65500'],
    [{ priority: 65501 }, 'priority: priority 65501 out of range 100..65500'],
    [{ priority: 100.5 }, 'priority: expected an integer, got number 100.5'],
    [{ logging: 'yes' }, 'logging: expected true or false, got string "yes"'],
    [{ name: undefined }, 'name: required'],
    [{ color: 'red' }, 'color: unknown field'],
  ])('ACL rule %j', (fields, message) => {
    const doc = withAclRaw();
    doc.accessControlLists[0].aclRules[1] = rule({ name: 'second', priority: 200, ...fields });
    expectErrors(doc, [`accessControlLists[0].aclRules[1].${message}`]);
  });

  test('host, network and subnet field errors', () => {
    const doc = figure8Raw();
    doc.hosts[0].providerAddresses = [];
    doc.hosts[1].providerAddresses = ['224.0.0.1'];
    doc.virtualNetworks[0].addressPrefixes = [];
    doc.virtualNetworks[1].subnets[0].addressPrefix = '10.1.1.0/31';
    doc.virtualNetworks[1].subnets[0].nvgreFlowId = 256;
    doc.networkInterfaces[0].ipAddress = '10.1.1.011';
    doc.networkInterfaces[1].netns = 'bad/ns';
    delete doc.networkInterfaces[2].subnet;
    expectErrors(doc, [
      'hosts[0].providerAddresses: at least one provider address',
      'hosts[1].providerAddresses[0]: not a unicast provider address: 224.0.0.1',
      'virtualNetworks[0].addressPrefixes: at least one address prefix',
      'virtualNetworks[1].subnets[0].addressPrefix: subnet 10.1.1.0/31 too small (at most /30)',
      'virtualNetworks[1].subnets[0].nvgreFlowId: not an nvgre flow id: 256 (0..255 or hash)',
      'networkInterfaces[0].ipAddress: not an IPv4 address: 10.1.1.011',
      'networkInterfaces[1].netns: invalid name "bad/ns" (letters, digits, \'.\', \'_\', \'-\')',
      'networkInterfaces[2].subnet: required',
    ]);
  });

  test('top-level shape', () => {
    expectErrors({ hosts: [] }, ['virtualNetworks: required', 'networkInterfaces: required']);
    expectErrors({ hosts: {}, virtualNetworks: [], networkInterfaces: [7], extra: 1 }, [
      'hosts: expected a list of hosts, got an object',
      'networkInterfaces[0]: expected a network interface, got number 7',
      'extra: unknown field',
    ]);
  });
});

describe('schema: names the agent hands to ip and TUNSETIFF (issue 16)', () => {
  test.each([
    ['-sy', 'invalid ifname "-sy" (letters, digits, \'_\', \'.\', \'-\'; not starting with \'.\' or \'-\')'],
    ['tap%d', 'invalid ifname "tap%d" (letters, digits, \'_\', \'.\', \'-\'; not starting with \'.\' or \'-\')'],
    ['a$(id)', 'invalid ifname "a$(id)" (letters, digits, \'_\', \'.\', \'-\'; not starting with \'.\' or \'-\')'],
    ['x;y', 'invalid ifname "x;y" (letters, digits, \'_\', \'.\', \'-\'; not starting with \'.\' or \'-\')'],
    ['..', 'invalid ifname ".." (letters, digits, \'_\', \'.\', \'-\'; not starting with \'.\' or \'-\')'],
    ['tap\u00e9', 'invalid ifname "tap\u00e9" (letters, digits, \'_\', \'.\', \'-\'; not starting with \'.\' or \'-\')'],
  ])('ifname %j is refused by path', (ifname, message) => {
    const doc = figure8Raw();
    doc.networkInterfaces[1].ifname = ifname;
    expectErrors(doc, [`networkInterfaces[1].ifname: ${message}`]);
  });

  test('valid ifnames pass', () => {
    for (const ifname of ['tap0', 'sy_web.1', 'a-b', '_x', 'A123456789abcde']) {
      const doc = figure8Raw();
      doc.networkInterfaces[1].ifname = ifname;
      expect(parsePolicy(doc).ok, ifname).toBe(true);
    }
  });

  test('an all-digit netns is refused (ip takes it for a pid); other names pass', () => {
    const doc = figure8Raw();
    doc.networkInterfaces[0].netns = '1234';
    doc.networkInterfaces[1].netns = '-x';
    expectErrors(doc, [
      'networkInterfaces[0].netns: invalid netns name 1234 (all digits: `ip` can take it for a process id)',
      'networkInterfaces[1].netns: invalid name "-x" (letters, digits, \'.\', \'_\', \'-\')',
    ]);
    const ok = figure8Raw();
    ok.networkInterfaces[0].netns = '12a';
    expect(parsePolicy(ok).ok).toBe(true);
  });

  test('netnsMode: create or adopt (any case), only with netns', () => {
    const doc = figure8Raw();
    doc.networkInterfaces[0].netnsMode = 'Adopt';
    doc.networkInterfaces[1].netnsMode = 'create';
    const r = parsePolicy(doc);
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    expect(r.policy.networkInterfaces[0]!.netnsMode).toBe('adopt');
    expect(r.policy.networkInterfaces[1]!.netnsMode).toBe('create');
    expect(r.policy.networkInterfaces[2]!.netnsMode).toBeUndefined();
    const bad = figure8Raw();
    bad.networkInterfaces[0].netnsMode = 'take';
    delete bad.networkInterfaces[1].netns;
    bad.networkInterfaces[1].netnsMode = 'adopt';
    expectErrors(bad, [
      'networkInterfaces[0].netnsMode: not a netns mode: take (create or adopt)',
      'networkInterfaces[1].netnsMode: netnsMode without netns',
    ]);
  });
});
