/**
 * A hostile vhost-user front end against a running agent (issue 18): the TypeScript stand-in for
 * qemu (test/helpers/vhost-frontend.ts) attaches to host1's vhost-user port, sets up its rings and
 * then writes garbage descriptors, jumps the avail index and sends malformed messages. The agent
 * counts it all on that port, stays up, and keeps forwarding between the namespace ports.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { figure8Policy } from '../../src/policy/figure8.js';
import { controlRequest } from '../../src/agent/control-client.js';
import { ping } from '../../src/lab/probes.js';
import { waitFor } from '../../src/lab/run.js';
import { startFigure8, type Figure8Run } from './lab-helpers.js';
import { ROOT_ONLY } from '../helpers/prerequisites.js';
import { REQ, RING_BASE, VhostFrontend } from '../helpers/vhost-frontend.js';

interface VhostStat { port: string; connected: boolean; connects: number; ringsBroken: number; counters: Record<string, number> }

describe('a garbage-writing vhost-user front end', ROOT_ONLY, () => {
  let run: Figure8Run | undefined;
  let dir = '';
  let socket = '';

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-vhost-garbage-'));
    socket = path.join(dir, 'vm.sock');
    const p = figure8Policy();
    p.networkInterfaces.push({ name: 'contoso-vm', host: 'host1', virtualNetwork: 'contoso', subnet: 's1', macAddress: '02:00:00:00:50:21', ipAddress: '10.1.1.21', vhostUser: { socket, mode: 'server', queues: 1 } });
    run = await startFigure8({ policy: p });
  }, 120_000);

  afterAll(async () => {
    await run?.teardown();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const vhostStats = async (): Promise<VhostStat> =>
    ((await controlRequest(run!.agents[0].socket, { op: 'stats' }, 5000)) as { vhostUser: VhostStat[] }).vhostUser[0];

  it('counts garbage as drops, stays up, and the namespaces keep talking', async () => {
    await waitFor(() => fs.existsSync(socket), 10_000, 'the vhost-user socket');
    const fe = VhostFrontend.connect(socket);
    try {
      await fe.handshake();
      await waitFor(async () => (await vhostStats()).connected, 10_000, 'connected');
      const memLen = BigInt(fe.mem.length);
      for (let i = 0; i < 50; i++) {
        fe.writeDesc(1, i, memLen + BigInt(i) * 4096n, 1500, 0, 0); // outside memory
        fe.pushAvail(1, i);
      }
      fe.writeDesc(1, 60, BigInt(RING_BASE), 0, 1, 61); // a loop
      fe.writeDesc(1, 61, BigInt(RING_BASE), 0, 1, 60);
      fe.pushAvail(1, 60);
      fe.doKick(1);
      await waitFor(async () => (await vhostStats()).counters.badAddress >= 50, 10_000, 'bad addresses counted');
      await waitFor(async () => (await vhostStats()).counters.badChain >= 1, 10_000, 'the loop counted');
      fe.setAvailIdx(1, 40000); // runs far ahead: the ring stops
      fe.doKick(1);
      await waitFor(async () => (await vhostStats()).ringsBroken === 1, 10_000, 'the ring stopped');
      expect(await fe.call1(REQ.SET_VRING_NUM, VhostFrontend.state(9, 3))).toBe(false);
      fe.send(REQ.SET_MEM_TABLE, new Uint8Array(5000)); // oversized: the agent ends the connection
      await fe.closedByPeer();
    } finally {
      fe.close();
    }
    const s = await vhostStats();
    expect(s.connected).toBe(false);
    expect(s.counters.badMessages).toBeGreaterThanOrEqual(2);
    expect(run!.agents[0].child.exitCode).toBeNull();
    const r = await ping(run!.ns('contoso-web'), '10.1.1.11', 3);
    expect(r.received).toBeGreaterThan(0);
    // a well-behaved front end can attach again
    const again = VhostFrontend.connect(socket);
    try {
      await again.handshake();
      await waitFor(async () => (await vhostStats()).connects === 2, 10_000, 'reconnect');
    } finally {
      again.close();
    }
  }, 90_000);
});
