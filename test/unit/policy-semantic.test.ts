import { describe, expect, test } from 'vitest';
import { parsePolicy } from '../../src/policy/validate.js';
import { errorLines, expectErrors, figure8Raw, rule, withAclRaw } from './policy-fixture.js';

describe('semantic checks: one minimal bad document per rule', () => {
  test('the same CA in two virtual networks is valid (Figure 8)', () => {
    expect(parsePolicy(figure8Raw()).ok).toBe(true);
  });

  test('duplicate host name', () => {
    const doc = figure8Raw();
    doc.hosts.push({ name: 'host1', providerAddresses: ['192.168.3.30'] });
    expectErrors(doc, ['hosts[2].name: duplicate host name host1 (also hosts[0])']);
  });

  test('provider address used by two hosts, or twice by one', () => {
    const doc = figure8Raw();
    doc.hosts[1].providerAddresses = ['192.168.2.20', '192.168.1.10', '192.168.2.20'];
    expectErrors(doc, [
      'hosts[1].providerAddresses[1]: provider address 192.168.1.10 already used by host host1',
      'hosts[1].providerAddresses[2]: duplicate provider address 192.168.2.20',
    ]);
  });

  test('duplicate virtual network name', () => {
    const doc = figure8Raw();
    doc.virtualNetworks[1].name = 'contoso';
    doc.networkInterfaces = [];
    expectErrors(doc, ['virtualNetworks[1].name: duplicate virtual network name contoso (also virtualNetworks[0])']);
  });

  test('duplicate subnet name within one virtual network', () => {
    const doc = figure8Raw();
    doc.virtualNetworks[0].subnets.push({ name: 's1', vsid: 5002, addressPrefix: '10.1.2.0/24' });
    expectErrors(doc, [
      'virtualNetworks[0].subnets[1].name: duplicate subnet name s1 (also virtualNetworks[0].subnets[0])',
    ]);
  });

  test('duplicate vsid anywhere', () => {
    const doc = figure8Raw();
    doc.virtualNetworks[1].subnets[0].vsid = 5001;
    expectErrors(doc, ['virtualNetworks[1].subnets[0].vsid: duplicate vsid 5001 (also virtualNetworks[0].subnets[0])']);
  });

  test('vsid out of range', () => {
    const doc = figure8Raw();
    doc.virtualNetworks[0].subnets[0].vsid = 4095;
    doc.virtualNetworks[1].subnets[0].vsid = 16777215;
    expectErrors(doc, [
      'virtualNetworks[0].subnets[0].vsid: vsid 4095 out of range 4096..16777214',
      'virtualNetworks[1].subnets[0].vsid: vsid 16777215 out of range 4096..16777214',
    ]);
  });

  test('subnet prefix outside the virtual network', () => {
    const doc = figure8Raw();
    doc.virtualNetworks[0].subnets.push({ name: 's2', vsid: 5002, addressPrefix: '10.2.1.0/24' });
    expectErrors(doc, [
      'virtualNetworks[0].subnets[1].addressPrefix: subnet 10.2.1.0/24 outside the address prefixes of virtual network contoso',
    ]);
  });

  test('overlapping subnets within one virtual network', () => {
    const doc = figure8Raw();
    doc.virtualNetworks[0].subnets.push({ name: 's2', vsid: 5002, addressPrefix: '10.1.1.128/25' });
    expectErrors(doc, ['virtualNetworks[0].subnets[1].addressPrefix: subnet 10.1.1.128/25 overlaps subnet s1 (10.1.1.0/24)']);
  });

  test('duplicate interface name', () => {
    const doc = figure8Raw();
    doc.networkInterfaces[1].name = 'contoso-sql';
    doc.networkInterfaces[1].ifname = 'sy-cweb';
    expectErrors(doc, ['networkInterfaces[1].name: duplicate interface name contoso-sql (also networkInterfaces[0])']);
  });

  test('duplicate MAC within a subnet', () => {
    const doc = figure8Raw();
    doc.networkInterfaces[1].macAddress = '02-00-00-00-50-11';
    expectErrors(doc, ['networkInterfaces[1].macAddress: duplicate MAC 02:00:00:00:50:11 in subnet s1 (also networkInterfaces[0])']);
  });

  test('duplicate MAC on one host (different virtual networks) is an error too', () => {
    const doc = figure8Raw();
    doc.networkInterfaces[2].macAddress = '02:00:00:00:50:11';
    expectErrors(doc, ['networkInterfaces[2].macAddress: duplicate MAC 02:00:00:00:50:11 on host host1 (also networkInterfaces[0])']);
  });

  test('the same MAC on different hosts in different virtual networks is valid', () => {
    const doc = figure8Raw();
    doc.networkInterfaces[3].macAddress = '02:00:00:00:50:11';
    expect(parsePolicy(doc).ok).toBe(true);
  });

  test('duplicate IP address within a virtual network', () => {
    const doc = figure8Raw();
    doc.networkInterfaces[1].ipAddress = '10.1.1.11';
    expectErrors(doc, [
      'networkInterfaces[1].ipAddress: duplicate address 10.1.1.11 in virtual network contoso (also networkInterfaces[0])',
    ]);
  });

  test.each([
    ['10.1.2.5', 'address 10.1.2.5 outside subnet s1 (10.1.1.0/24)'],
    ['10.1.1.0', 'address 10.1.1.0 is the network address of subnet s1'],
    ['10.1.1.255', 'address 10.1.1.255 is the broadcast address of subnet s1'],
    ['10.1.1.1', 'address 10.1.1.1 is the gateway of subnet s1 (owned by the distributed router)'],
  ])('interface address %s', (ip, message) => {
    const doc = figure8Raw();
    doc.networkInterfaces[0].ipAddress = ip;
    expectErrors(doc, [`networkInterfaces[0].ipAddress: ${message}`]);
  });

  test.each([
    ['01:00:5e:00:00:01', 'not a unicast MAC: 01:00:5e:00:00:01'],
    ['FF:FF:FF:FF:FF:FF', 'not a unicast MAC: ff:ff:ff:ff:ff:ff'],
    ['00:00:00:00:00:00', 'not a unicast MAC: 00:00:00:00:00:00'],
    ['02:00:00:00:50', 'not a MAC address: 02:00:00:00:50'],
    ['02:00-00:00:50:11', 'not a MAC address: 02:00-00:00:50:11'],
  ])('MAC %s', (mac, message) => {
    const doc = figure8Raw();
    doc.networkInterfaces[2].macAddress = mac;
    expectErrors(doc, [`networkInterfaces[2].macAddress: ${message}`]);
  });

  test('MACs are normalised to lower case with colons', () => {
    const doc = figure8Raw();
    doc.networkInterfaces[0].macAddress = '02-AB-00-00-50-11';
    const result = parsePolicy(doc);
    expect(result.ok && result.policy.networkInterfaces[0]?.macAddress).toBe('02:ab:00:00:50:11');
  });

  test('unknown host, virtual network, subnet', () => {
    const doc = figure8Raw();
    doc.networkInterfaces[0].host = 'host9';
    doc.networkInterfaces[1].virtualNetwork = 'initech';
    doc.networkInterfaces[2].subnet = 's9';
    expectErrors(doc, [
      'networkInterfaces[0].host: unknown host host9',
      'networkInterfaces[1].virtualNetwork: unknown virtual network initech',
      'networkInterfaces[2].subnet: unknown subnet s9 in virtual network fabrikam',
    ]);
  });

  test('unknown access control list on an interface and on a subnet', () => {
    const doc = figure8Raw();
    doc.networkInterfaces[0].accessControlList = 'nope';
    doc.virtualNetworks[1].subnets[0].accessControlList = 'nada';
    expectErrors(doc, [
      'virtualNetworks[1].subnets[0].accessControlList: unknown access control list nada',
      'networkInterfaces[0].accessControlList: unknown access control list nope',
    ]);
  });

  test.each([
    ['sy-this-is-too-long', 'ifname sy-this-is-too-long longer than 15 characters'],
    ['sy/sql', 'invalid ifname "sy/sql" (no \'/\', \':\' or whitespace)'],
    ['sy sql', 'invalid ifname "sy sql" (no \'/\', \':\' or whitespace)'],
    ['', 'empty ifname'],
  ])('invalid ifname %j', (ifname, message) => {
    const doc = figure8Raw();
    doc.networkInterfaces[0].ifname = ifname;
    expectErrors(doc, [`networkInterfaces[0].ifname: ${message}`]);
  });

  test('two interfaces on one host with the same ifname (explicit or derived)', () => {
    const doc = figure8Raw();
    doc.networkInterfaces[2].ifname = 'sy-contoso-sql';
    expectErrors(doc, ['networkInterfaces[2].ifname: duplicate ifname sy-contoso-sql on host host1 (also networkInterfaces[0])']);
    const derived = figure8Raw();
    derived.networkInterfaces[0].ifname = 'sy-fabrikam-sql';
    expectErrors(derived, ['networkInterfaces[2].name: duplicate ifname sy-fabrikam-sql on host host1 (also networkInterfaces[0])']);
  });

  test('the same ifname on two hosts is valid', () => {
    const doc = figure8Raw();
    doc.networkInterfaces[0].ifname = 'tap0';
    doc.networkInterfaces[1].ifname = 'tap0';
    expect(parsePolicy(doc).ok).toBe(true);
  });

  test('duplicate ACL name', () => {
    const doc = withAclRaw();
    doc.accessControlLists.push({ name: 'sql-acl', aclRules: [] });
    expectErrors(doc, ['accessControlLists[1].name: duplicate access control list name sql-acl (also accessControlLists[0])']);
  });

  test('duplicate rule name within an ACL', () => {
    const doc = withAclRaw();
    doc.accessControlLists[0].aclRules[1].name = 'allow-sql';
    expectErrors(doc, [
      'accessControlLists[0].aclRules[1].name: duplicate rule name allow-sql (also accessControlLists[0].aclRules[0])',
    ]);
  });

  test('duplicate priority within one ACL and type; other type or ACL is fine', () => {
    const doc = withAclRaw();
    doc.accessControlLists[0].aclRules[1].priority = 100;
    doc.accessControlLists[0].aclRules.push(rule({ name: 'out', type: 'Outbound', priority: 100 }));
    doc.accessControlLists.push({ name: 'other', aclRules: [rule({ priority: 100 })] });
    expectErrors(doc, [
      'accessControlLists[0].aclRules[1].priority: duplicate Inbound priority 100 (also accessControlLists[0].aclRules[0])',
    ]);
  });
});

describe('many problems in one document', () => {
  test('schema and semantic errors are all reported, in document order', () => {
    const doc = withAclRaw();
    doc.hosts[1].providerAddresses = ['192.168.1.10'];
    doc.hosts.push({ name: 'host3', providerAddresses: ['10.0.0.300'], extra: true });
    doc.virtualNetworks[1].subnets[0].vsid = 5001;
    doc.virtualNetworks[1].subnets[0].encapsulation = 'geneve';
    doc.networkInterfaces[0].macAddress = '01:00:00:00:00:01';
    doc.networkInterfaces[0].ipAddress = '10.1.1.1';
    doc.networkInterfaces[1].host = 'host9';
    doc.networkInterfaces[3].ifname = 'way-too-long-ifname';
    doc.networkInterfaces[3].ipAddress = '10.1.1.11';
    doc.accessControlLists[0].aclRules[1].priority = 100;
    doc.accessControlLists[0].aclRules[1].protocol = 'SCTP';
    expect(errorLines(doc)).toEqual([
      'hosts[1].providerAddresses[0]: provider address 192.168.1.10 already used by host host1',
      'hosts[2].extra: unknown field',
      'hosts[2].providerAddresses[0]: not an IPv4 address: 10.0.0.300',
      'virtualNetworks[1].subnets[0].encapsulation: not an encapsulation: geneve (vxlan or nvgre)',
      'virtualNetworks[1].subnets[0].vsid: duplicate vsid 5001 (also virtualNetworks[0].subnets[0])',
      'networkInterfaces[0].macAddress: not a unicast MAC: 01:00:00:00:00:01',
      'networkInterfaces[0].ipAddress: address 10.1.1.1 is the gateway of subnet s1 (owned by the distributed router)',
      'networkInterfaces[1].host: unknown host host9',
      'networkInterfaces[3].ifname: ifname way-too-long-ifname longer than 15 characters',
      'networkInterfaces[3].ipAddress: duplicate address 10.1.1.11 in virtual network fabrikam (also networkInterfaces[2])',
      'accessControlLists[0].aclRules[1].protocol: not a protocol: SCTP (All, TCP, UDP, ICMP or 0..255)',
      'accessControlLists[0].aclRules[1].priority: duplicate Inbound priority 100 (also accessControlLists[0].aclRules[0])',
    ]);
  });

  test('a malformed element does not hide the checks of its well-formed siblings', () => {
    const doc = figure8Raw();
    doc.virtualNetworks[0].addressPrefixes = ['10.1.0.0/33'];
    doc.virtualNetworks[0].subnets.push({ name: 's2', vsid: 6001, addressPrefix: '10.1.1.0/25' });
    expectErrors(doc, [
      'virtualNetworks[0].addressPrefixes[0]: not a CIDR prefix: 10.1.0.0/33',
      'virtualNetworks[0].subnets[1].addressPrefix: subnet 10.1.1.0/25 overlaps subnet s1 (10.1.1.0/24)',
      'virtualNetworks[1].subnets[0].vsid: duplicate vsid 6001 (also virtualNetworks[0].subnets[1])',
    ]);
  });

  test('references to a malformed (but named) object are not reported as unknown', () => {
    const doc = figure8Raw();
    doc.hosts[0].providerAddresses = 'nope';
    doc.virtualNetworks[0].subnets[0].vsid = 'x';
    expectErrors(doc, [
      'hosts[0].providerAddresses: expected a list of IPv4 addresses, got string "nope"',
      'virtualNetworks[0].subnets[0].vsid: expected an integer, got string "x"',
    ]);
  });
});
