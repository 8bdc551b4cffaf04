// A static mapping whose external port a socket of the host listens on (agent/host-ports.ts):
// /proc/net tables parsed, and the problems by path - only for mappings not already in force.
import { describe, expect, it } from 'vitest';
import { parseProcNet, takenPortProblems, type Listener } from '../../src/agent/host-ports.js';
import type { Nat, Policy } from '../../src/policy/types.js';

const TCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0
   1: 0100007F:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1 0 100 0 0 10 0
   2: 0100007F:9C40 0100007F:0016 01 00000000:00000000 00:00000000 00000000     0        0 3 1 0 100 0 0 10 0
`;
const TCP6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4 1 0 100 0 0 10 0
   1: 0000000000000000FFFF00000A00000A:01BB 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5 1 0 100 0 0 10 0
   2: 20010DB8000000000000000000000001:0BB8 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 6 1 0 100 0 0 10 0
`;
const UDP = `   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  10: 00000000:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 7 2 0 0
`;

describe('listening sockets from /proc/net', () => {
  it('reads TCP listeners (not connections), IPv6 wildcard and v4-mapped, UDP bound sockets', () => {
    expect(parseProcNet(TCP, 'TCP')).toEqual([
      { protocol: 'TCP', address: 0, port: 8080 },
      { protocol: 'TCP', address: 0x7f000001, port: 22 },
    ]);
    expect(parseProcNet(TCP6, 'TCP')).toEqual([
      { protocol: 'TCP', address: 0, port: 80 },
      { protocol: 'TCP', address: 0x0a00000a, port: 443 },
      { protocol: 'TCP', address: -1, port: 3000 },
    ]);
    expect(parseProcNet(UDP, 'UDP')).toEqual([{ protocol: 'UDP', address: 0, port: 53 }]);
  });
});

describe('static mappings on a taken port', () => {
  const nat = (ports: [string, number, string?][]): Nat => ({
    name: 'labnat',
    internalIPInterfaceAddressPrefix: '172.30.0.0/24',
    staticMappings: ports.map(([protocol, externalPort, ext]) => ({ protocol: protocol as 'TCP' | 'UDP', externalIPAddress: ext ?? '0.0.0.0', externalPort, internalIPAddress: '172.30.0.10', internalPort: 80 })),
  });
  const policyOf = (n: Nat): Policy => ({ hosts: [], virtualNetworks: [], networkInterfaces: [], accessControlLists: [], nats: [n] });
  const listeners: Listener[] = [...parseProcNet(TCP, 'TCP'), ...parseProcNet(TCP6, 'TCP'), ...parseProcNet(UDP, 'UDP')];

  it('reports each new mapping whose port a socket holds, by path', () => {
    const n = nat([['TCP', 8080], ['TCP', 8081], ['UDP', 53], ['TCP', 22, '10.0.0.1'], ['TCP', 22, '127.0.0.1'], ['TCP', 3000], ['TCP', 443, '10.0.0.10']]);
    const p = policyOf(n);
    expect(takenPortProblems(p, p.nats!, undefined, listeners, 'h1')).toEqual([
      'nats[0].staticMappings[0].externalPort: TCP 8080 is taken on host h1 by a listening socket (*:8080)',
      'nats[0].staticMappings[2].externalPort: UDP 53 is taken on host h1 by a listening socket (*:53)',
      'nats[0].staticMappings[4].externalPort: TCP 22 is taken on host h1 by a listening socket (127.0.0.1:22)',
      'nats[0].staticMappings[6].externalPort: TCP 443 is taken on host h1 by a listening socket (10.0.0.10:443)',
    ]);
  });

  it('leaves a mapping that is in force already alone', () => {
    const p = policyOf(nat([['TCP', 8080]]));
    expect(takenPortProblems(p, p.nats!, p, listeners, 'h1')).toEqual([]);
  });
});
