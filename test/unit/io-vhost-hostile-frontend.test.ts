/**
 * A front end (qemu) that is hostile or broken, against the vhost-user back end, with the
 * TypeScript stand-in (test/helpers/vhost-frontend.ts):
 *   - guest memory that can shrink under the mapping (a SIGBUS in the agent): a memfd smaller than
 *     the region it claims is refused and counted; a sealable memfd is sealed by the back end, so
 *     shrinking it fails; one that can be neither is mapped and counted (memUnsealed);
 *   - a message sent in pieces: read as it comes, the main thread never waits for the rest;
 *   - more fds than a message may carry: the connection ends, the next front end is served.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { nativeAvailable } from '../../src/io/native.js';
import { allocBatch } from '../../src/io/types.js';
import { VhostQueue, VhostUserDevice } from '../../src/io/vhost.js';
import { REQ, SEAL, UVA_BASE, VhostFrontend, until, type FrontendOptions } from '../helpers/vhost-frontend.js';
import { requires } from '../helpers/prerequisites.js';

const NATIVE = requires(nativeAvailable(), 'native addon not built');

function frame(len: number, seed: number): Uint8Array {
  const f = new Uint8Array(len);
  for (let i = 0; i < len; i++) f[i] = (i * 5 + seed) & 0xff;
  f.set([2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00]);
  return f;
}

/** Lets the event loop (where the back end reads its socket) run `n` times. */
async function turns(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
}

describe('vhost-user back end against a hostile front end', NATIVE, () => {
  let dir: string;
  let sock: string;
  let dev: VhostUserDevice | undefined;
  let fe: VhostFrontend | undefined;
  let extraFds: number[] = [];

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-vhost-hostile-'));
    sock = path.join(dir, 'vm.sock');
  });
  afterEach(() => {
    fe?.close();
    fe = undefined;
    dev?.close();
    dev = undefined;
    for (const fd of extraFds) fs.closeSync(fd);
    extraFds = [];
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function up(opts: FrontendOptions = {}): Promise<{ q: VhostQueue; fe: VhostFrontend; dev: VhostUserDevice }> {
    dev = VhostUserDevice.open({ socket: sock, mode: 'server' });
    fe = VhostFrontend.connect(sock, opts);
    await until(() => dev!.connected, 'accept');
    await fe.handshake();
    return { q: VhostQueue.forLane(dev.id, 0, 'vm0', true), fe, dev };
  }

  function forwards(q: VhostQueue, front: VhostFrontend, seed: number): number {
    front.transmit(frame(90, seed));
    return q.read(allocBatch(8, 2048));
  }

  it('refuses a memfd smaller than the region it claims (memRefused); the old table stays and the device forwards on', async () => {
    const { q, fe, dev } = await up();
    const small = fe.n.memfdCreate('vhost-test-small', 64 << 10);
    extraFds.push(small);
    const table = fe.memTable([{ gpa: 0n, size: BigInt(fe.mem.length), uva: UVA_BASE, offset: 0n }]);
    expect(await fe.call1(REQ.SET_MEM_TABLE, table, [small])).toBe(false);
    const st = dev.status();
    expect(st.counters.memRefused).toBe(1);
    expect(st.counters.badMessages).toBe(1);
    expect(st.ringsReady).toBe(2);
    expect(dev.connected).toBe(true);
    expect(forwards(q, fe, 1)).toBe(1);
  });

  it('a memfd that cannot be sealed (qemu seal=off) is mapped and counted as unsealed', async () => {
    const { dev, fe, q } = await up();
    expect(fe.n.memfdSeals(fe.memFd) & SEAL.SHRINK).toBe(0);
    expect(dev.status().counters.memUnsealed).toBe(1);
    expect(dev.status().counters.memSealed).toBe(0);
    expect(forwards(q, fe, 2)).toBe(1);
  });

  it('a sealable memfd is sealed against shrinking by the back end: the front end can no longer shrink it', async () => {
    const { dev, fe, q } = await up({ seals: 0 });
    const c = dev.status().counters;
    expect(c.memSealed).toBe(1);
    expect(c.memUnsealed).toBe(0);
    expect(fe.n.memfdSeals(fe.memFd) & SEAL.SHRINK).toBe(SEAL.SHRINK);
    expect(() => fs.ftruncateSync(fe.memFd, 4096)).toThrow(/EPERM/);
    expect(fs.fstatSync(fe.memFd).size).toBe(fe.mem.length);
    expect(forwards(q, fe, 3)).toBe(1);
  });

  it("qemu's own seals (seal=on: GROW|SHRINK|SEAL) are taken as they are", async () => {
    const { dev } = await up({ seals: SEAL.GROW | SEAL.SHRINK | SEAL.SEAL });
    const c = dev.status().counters;
    expect(c.memSealed).toBe(0);
    expect(c.memUnsealed).toBe(0);
    expect(c.memRefused).toBe(0);
  });

  it('a message sent in pieces (header split, fds with the middle) is read as it comes, without dropping the connection', async () => {
    const { q, fe, dev } = await up();
    const before = dev.status().counters.messages;
    const payload = fe.memTable([{ gpa: 0n, size: BigInt(fe.mem.length), uva: UVA_BASE, offset: 0n }]);
    const m = new Uint8Array(12 + payload.length);
    const v = new DataView(m.buffer);
    v.setUint32(0, REQ.SET_MEM_TABLE, true);
    v.setUint32(4, 1 | 8, true); // version 1, NEED_REPLY
    v.setUint32(8, payload.length, true);
    m.set(payload, 12);
    expect(fe.n.unixSendMsg(fe.conn, m.subarray(0, 5))).toBe(5);
    await turns(50);
    expect(dev.connected).toBe(true);
    expect(dev.status().counters.messages).toBe(before);
    expect(fe.n.unixSendMsg(fe.conn, m.subarray(5, 20), Int32Array.from([fe.memFd]))).toBe(15);
    await turns(50);
    expect(dev.connected).toBe(true);
    expect(dev.status().counters.messages).toBe(before);
    expect(fe.n.unixSendMsg(fe.conn, m.subarray(20))).toBe(m.length - 20);
    expect((await fe.reply(REQ.SET_MEM_TABLE)).getBigUint64(0, true)).toBe(0n);
    expect(dev.status().counters.messages).toBe(before + 1);
    expect(dev.status().counters.badMessages).toBe(0);
    expect(forwards(q, fe, 4)).toBe(1);
  });

  it('a front end that goes away half way through a message: the device lets go and serves the next one', async () => {
    const { fe: first, dev } = await up();
    const m = new Uint8Array(12);
    new DataView(m.buffer).setUint32(0, REQ.SET_MEM_TABLE, true);
    expect(first.n.unixSendMsg(first.conn, m.subarray(0, 7), Int32Array.from([first.memFd]))).toBe(7);
    await turns(20);
    expect(dev.connected).toBe(true);
    first.close();
    fe = undefined;
    await until(() => !dev.connected, 'the device to see the front end go');
    const next = (fe = VhostFrontend.connect(sock));
    await until(() => dev.connected, 'the next front end');
    await next.handshake();
    expect(dev.status().ringsReady).toBe(2);
    expect(forwards(VhostQueue.forLane(dev.id, 0, 'vm0', true), next, 5)).toBe(1);
  });

  it('more fds than a message may carry end the connection (counted); the next front end is served', async () => {
    const { fe: first, dev } = await up();
    const fds = Array.from({ length: 10 }, () => first.n.eventfdCreate());
    extraFds.push(...fds);
    first.send(REQ.SET_OWNER, new Uint8Array(0), fds);
    await first.closedByPeer();
    await until(() => !dev.connected, 'disconnect');
    expect(dev.status().counters.badMessages).toBe(1);
    first.close();
    const next = (fe = VhostFrontend.connect(sock));
    await until(() => dev.connected, 'the next front end');
    await next.handshake();
    expect(dev.status().ringsReady).toBe(2);
  });
});
