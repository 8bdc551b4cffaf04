/** Policy: a network interface may be a VM's vhost-user port instead of a TAP. */
import { describe, expect, test } from 'vitest';
import { parsePolicy } from '../../src/policy/validate.js';
import { compileSnapshot } from '../../src/vfp/snapshot.js';
import { errorLines, figure8Raw } from './policy-fixture.js';

function withVhost(v: unknown, extra: Record<string, unknown> = {}) {
  const doc = figure8Raw();
  const nic = doc.networkInterfaces[0];
  delete nic.netns;
  delete nic.netnsMode;
  nic.vhostUser = v;
  Object.assign(nic, extra);
  return doc;
}

describe('vhostUser network interfaces', () => {
  test('a socket alone: mode server and one queue pair by default; the snapshot carries it', () => {
    const r = parsePolicy(withVhost({ socket: '/run/switchyard/vm1.sock' }));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.policy.networkInterfaces[0].vhostUser).toEqual({ socket: '/run/switchyard/vm1.sock', mode: 'server', queues: 1 });
    const host = r.policy.networkInterfaces[0].host;
    const snap = compileSnapshot(r.policy, host, 1);
    const port = snap.ports.find((p) => p.name === r.policy.networkInterfaces[0].name);
    expect(port?.vhostUser).toEqual({ socket: '/run/switchyard/vm1.sock', mode: 'server', queues: 1 });
  });

  test('client mode and queues; mode case-insensitive', () => {
    const r = parsePolicy(withVhost({ socket: '/tmp/q.sock', mode: 'Client', queues: 4 }));
    expect(r.ok && r.policy.networkInterfaces[0].vhostUser).toEqual({ socket: '/tmp/q.sock', mode: 'client', queues: 4 });
  });

  test('errors by path: relative or too long socket, unknown mode, queues out of range, unknown field, not an object', () => {
    const bad = (v: unknown) => errorLines(withVhost(v));
    expect(bad({ socket: 'vm.sock' })).toEqual(['networkInterfaces[0].vhostUser.socket: not an absolute path: vm.sock']);
    expect(bad({ socket: `/${'x'.repeat(120)}` })).toEqual(['networkInterfaces[0].vhostUser.socket: socket path longer than 107 bytes']);
    expect(bad({ socket: '/a.sock', mode: 'both' })).toEqual(['networkInterfaces[0].vhostUser.mode: not a vhost-user mode: both (server or client)']);
    expect(bad({ socket: '/a.sock', queues: 9 })).toEqual(['networkInterfaces[0].vhostUser.queues: queues 9 out of range 1..8']);
    expect(bad({ socket: '/a.sock', path: '/b' })).toEqual(['networkInterfaces[0].vhostUser.path: unknown field']);
    expect(bad({})).toEqual(['networkInterfaces[0].vhostUser.socket: required']);
    expect(bad('/a.sock')[0]).toMatch(/^networkInterfaces\[0\]\.vhostUser: expected a vhost-user port/);
  });

  test('a vhost-user port has no netns', () => {
    expect(errorLines(withVhost({ socket: '/a.sock' }, { netns: 'ns1' }))).toEqual([
      'networkInterfaces[0].netns: a vhost-user port has no netns (the VM is the tenant)',
    ]);
  });

  test('two ports of one host on one socket', () => {
    const doc = withVhost({ socket: '/a.sock' });
    const other = doc.networkInterfaces.findIndex((n: { host: string }, i: number) => i > 0 && n.host === doc.networkInterfaces[0].host);
    expect(other).toBeGreaterThan(0);
    delete doc.networkInterfaces[other].netns;
    delete doc.networkInterfaces[other].netnsMode;
    doc.networkInterfaces[other].vhostUser = { socket: '/a.sock' };
    expect(errorLines(doc)).toEqual([`networkInterfaces[${other}].vhostUser.socket: duplicate vhost-user socket /a.sock on host ${doc.networkInterfaces[0].host} (also networkInterfaces[0])`]);
  });
});
