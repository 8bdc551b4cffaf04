// TAP queues for real (root): a tenant namespace with a TAP moved into it, a userspace
// "neighbour" at 10.250.0.2 played by this test through the TapQueue. The namespace's kernel
// ARPs for the neighbour and sends UDP datagrams; the test answers the ARP and echoes each
// datagram back, with checksums from the native checksum primitive, so the namespace's kernel
// accepts the replies only if batch read, batch write and the checksum all work.
// Traffic stays inside the namespace this test makes; everything it makes is removed after.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { loadNative } from '../../src/io/native.js';
import { addrAdd, linkConfigure, linkExists, linkSetNetns, netnsAdd, netnsDelete, netnsExists, getMtu } from '../../src/io/netdev.js';
import { TapQueue } from '../../src/io/tap.js';
import { allocBatch, type FrameBatch } from '../../src/io/types.js';
import { TapRing, UringStat, uringUnavailable } from '../../src/io/uring.js';
import { ROOT_ONLY } from '../helpers/prerequisites.js';


const NS_IP = [10, 250, 0, 1];
const PEER_IP = [10, 250, 0, 2];
const NS_MAC = [0x02, 0x00, 0x00, 0x00, 0x00, 0x01];
const PEER_MAC = [0x02, 0x00, 0x00, 0x00, 0x00, 0x02];
const PEER_PORT = 7777;
const DATAGRAMS = 32;

function run(cmd: string, args: string[], timeout = 20_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')}: ${err.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

/** Sends DATAGRAMS UDP datagrams to the peer from inside the namespace and prints the replies. */
const SENDER = `
const dgram = require('node:dgram');
const s = dgram.createSocket('udp4');
const got = [];
const finish = (code) => { console.log(JSON.stringify(got)); process.exit(code); };
s.on('error', (e) => { console.error(e); finish(2); });
s.on('message', (m) => { got.push(m.toString()); if (got.length === ${DATAGRAMS}) finish(0); });
s.bind(0, '${NS_IP.join('.')}', () => {
  for (let i = 0; i < ${DATAGRAMS}; i++) s.send('ping' + i, ${PEER_PORT}, '${PEER_IP.join('.')}');
});
setTimeout(() => finish(1), 10000);
`;

interface Stats {
  batches: number;
  maxBatch: number;
  arpReplies: number;
  udpEchoed: number;
  vnetFlags: number[];
}

/** The fake neighbour: reads a batch from the TAP, answers ARP for PEER_IP and echoes UDP to
 * PEER_PORT, writes all answers in one batch. Its first ARP answer waits 100 ms, so all the
 * datagrams queue behind the unresolved neighbour and then reach the TAP together. */
/** Writes at t[o..o+42) the ARP reply to the request at f[s..s+42): PEER_IP is at PEER_MAC. */
function arpReply(f: Uint8Array, s: number, t: Uint8Array, o: number): void {
  t.set(f.subarray(s + 6, s + 12), o); // to the asker
  t.set(PEER_MAC, o + 6);
  t.set(f.subarray(s + 12, s + 20), o + 12); // type, htype, ptype, hlen, plen
  t[o + 20] = 0;
  t[o + 21] = 2; // reply
  t.set(PEER_MAC, o + 22);
  t.set(PEER_IP, o + 28);
  t.set(f.subarray(s + 22, s + 32), o + 32); // asker's MAC and IP
}

function responder(tap: TapQueue, stats: Stats): () => void {
  const n = loadNative();
  const rx = allocBatch(64, 2048);
  const tx = allocBatch(64, 2048);
  const idx = new Int32Array(64);
  let arpHeld = false;
  const eq = (b: Uint8Array, off: number, v: number[]): boolean => v.every((x, i) => b[off + i] === x);
  return () => {
    const got = tap.read(rx);
    if (got === 0) return;
    stats.batches++;
    stats.maxBatch = Math.max(stats.maxBatch, got);
    let out = 0;
    for (let i = 0; i < got; i++) {
      const f = rx.slab;
      const s = rx.start[i];
      const l = rx.len[i];
      if (tap.vnetHdrSize) stats.vnetFlags.push(f[s - tap.vnetHdrSize]);
      const type = (f[s + 12] << 8) | f[s + 13];
      const o = tx.start[out];
      const t = tx.slab;
      const arpForPeer = type === 0x0806 && l >= 42 && f[s + 21] === 1 && eq(f, s + 38, PEER_IP);
      if (arpForPeer && !arpHeld) {
        arpHeld = true;
        const req = f.slice(s, s + 42);
        setTimeout(() => {
          const h = allocBatch(1, 2048);
          arpReply(req, 0, h.slab, h.start[0]);
          h.len[0] = 42;
          stats.arpReplies++;
          expect(tap.write(h, Int32Array.of(0), 1)).toBe(1);
        }, 100);
      } else if (arpForPeer) {
        arpReply(f, s, t, o);
        tx.len[out] = 42;
        idx[out] = out;
        out++;
        stats.arpReplies++;
      } else if (type === 0x0800 && f[s + 23] === 17 && eq(f, s + 30, PEER_IP) && ((f[s + 36] << 8) | f[s + 37]) === PEER_PORT) {
        const ihl = (f[s + 14] & 15) * 4;
        const u = s + 14 + ihl;
        const payloadLen = ((f[u + 4] << 8) | f[u + 5]) - 8;
        const reply = 'pong' + new TextDecoder().decode(f.subarray(u + 8 + 4, u + 8 + payloadLen));
        const ul = 8 + reply.length;
        t.set(f.subarray(s + 6, s + 12), o);
        t.set(PEER_MAC, o + 6);
        t[o + 12] = 0x08;
        t[o + 13] = 0x00;
        const ip = o + 14;
        t.set([0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0], ip);
        t[ip + 2] = (20 + ul) >> 8;
        t[ip + 3] = (20 + ul) & 255;
        t.set(PEER_IP, ip + 12);
        t.set(f.subarray(s + 26, s + 30), ip + 16); // back to the sender's address
        const ipsum = ~n.checksum(t, ip, 20, 0) & 0xffff;
        t[ip + 10] = ipsum >> 8;
        t[ip + 11] = ipsum & 255;
        const udp = ip + 20;
        t[udp] = PEER_PORT >> 8;
        t[udp + 1] = PEER_PORT & 255;
        t[udp + 2] = f[u];
        t[udp + 3] = f[u + 1];
        t[udp + 4] = ul >> 8;
        t[udp + 5] = ul & 255;
        t[udp + 6] = 0;
        t[udp + 7] = 0;
        t.set(new TextEncoder().encode(reply), udp + 8);
        // Pseudo-header: addresses, protocol, UDP length; then the UDP header and payload.
        const pseudo = n.checksum(t, ip + 12, 8, 17 + ul);
        let usum = ~n.checksum(t, udp, ul, pseudo) & 0xffff;
        if (usum === 0) usum = 0xffff;
        t[udp + 6] = usum >> 8;
        t[udp + 7] = usum & 255;
        tx.len[out] = 14 + 20 + ul;
        idx[out] = out;
        out++;
        stats.udpEchoed++;
      }
    }
    if (out > 0) expect(tap.write(tx, idx, out)).toBe(out);
  };
}

describe('TAP queue in a tenant namespace', ROOT_ONLY, () => {
  const tag = `${process.pid}-${randomBytes(3).toString('hex')}`;
  const namespaces: string[] = [];
  const taps: TapQueue[] = [];

  afterAll(async () => {
    for (const t of taps) t.close();
    for (const ns of namespaces) await netnsDelete(ns, true);
  });

  async function tenant(suffix: string, opts: Parameters<typeof TapQueue.open>[1]): Promise<{ ns: string; tap: TapQueue }> {
    const ns = `sy-t-${tag}-${suffix}`;
    await netnsAdd(ns);
    namespaces.push(ns);
    const tap = TapQueue.open(`syt${randomBytes(4).toString('hex')}`, opts);
    taps.push(tap);
    await linkSetNetns(tap.name, ns);
    expect(await linkExists(tap.name)).toBe(false); // gone from here, still ours
    await linkConfigure(tap.name, { mac: NS_MAC.map((x) => x.toString(16).padStart(2, '0')).join(':'), mtu: 1500, up: true }, ns);
    await addrAdd(tap.name, `${NS_IP.join('.')}/24`, ns);
    expect(await getMtu(NS_IP.join('.'), ns)).toBe(1500);
    return { ns, tap };
  }

  async function exchange(ns: string, tap: TapQueue): Promise<Stats> {
    const stats: Stats = { batches: 0, maxBatch: 0, arpReplies: 0, udpEchoed: 0, vnetFlags: [] };
    tap.onReadable(responder(tap, stats));
    try {
      const out = await run('ip', ['netns', 'exec', ns, process.execPath, '-e', SENDER]);
      const replies = JSON.parse(out) as string[];
      expect(replies.sort()).toEqual(Array.from({ length: DATAGRAMS }, (_, i) => `pong${i}`).sort());
    } finally {
      tap.stopPolling();
    }
    expect(stats.arpReplies).toBeGreaterThanOrEqual(1);
    expect(stats.udpEchoed).toBe(DATAGRAMS);
    // The datagrams queued behind the ARP resolution arrive together: one read takes several.
    expect(stats.maxBatch).toBeGreaterThan(1);
    return stats;
  }

  it('answers ARP and echoes UDP through batched reads and writes', async () => {
    const { ns, tap } = await tenant('plain', {});
    await exchange(ns, tap);
  });

  it('does the same with a virtio-net header in front of each frame', async () => {
    const { ns, tap } = await tenant('vnet', { vnetHdr: true });
    expect(tap.vnetHdrSize).toBe(12);
    const stats = await exchange(ns, tap);
    expect(stats.vnetFlags.length).toBeGreaterThan(0);
  });

  it('with TUN_F_CSUM the kernel hands over partial checksums (flag NEEDS_CSUM)', async () => {
    const n = loadNative();
    const { ns, tap } = await tenant('csum', { vnetHdr: true, offload: n.constants.TUN_F_CSUM });
    const stats = await exchange(ns, tap);
    expect(stats.vnetFlags.some((f) => (f & 1) === 1)).toBe(true);
  });

  // The same exchange through an io_uring (io/uring.ts): one io_uring_enter per batch, the same
  // frames and replies. The echoes of the queued datagrams go out as batches through the ring
  // (reads may go either way: after a lone ARP request the next read is a read()).
  for (const vnetHdr of [false, true]) {
    it(`does the same through io_uring batches${vnetHdr ? ' with a virtio-net header' : ''}`, async () => {
      expect(uringUnavailable()).toBeUndefined(); // this machine has io_uring (CONFIG_IO_URING=y)
      const { ns, tap } = await tenant(vnetHdr ? 'uring-vnet' : 'uring', { vnetHdr });
      const ring = TapRing.create();
      try {
        const q = TapQueue.fromFd(tap.fd, tap.name, { vnetHdr }, ring);
        expect(q.ioMode).toBe('uring');
        const stats = await exchange(ns, q);
        if (vnetHdr) expect(stats.vnetFlags.length).toBeGreaterThan(0);
        const s = ring.stats;
        expect(s[UringStat.TxFrames]).toBeGreaterThan(1);
        expect(s[UringStat.Enters]).toBeGreaterThan(0);
        expect(s[UringStat.Enters]).toBeLessThan(s[UringStat.RxFrames] + s[UringStat.TxFrames]);
        expect(s[UringStat.Fallbacks]).toBe(0);
        expect(q.ioMode).toBe('uring');
        // Empty queue: 0 frames, no error; a batch of zero writes is 0.
        const b = allocBatch(8, 2048);
        while (q.read(b) > 0);
        expect(q.read(b)).toBe(0);
        expect(q.readErrors).toBe(0);
        expect(q.write(b, new Int32Array(1), 0)).toBe(0);
      } finally {
        ring.close();
        ring.close(); // idempotent
      }
    });
  }

  it('batch read returns 0 when nothing is queued, and close removes the device', async () => {
    const { ns, tap } = await tenant('close', {});
    const b: FrameBatch = allocBatch(4, 2048);
    // The namespace's kernel may still send IPv6 router solicitations: drain, then expect quiet.
    while (tap.read(b) > 0);
    expect(tap.read(b)).toBe(0);
    tap.close();
    tap.close(); // idempotent
    expect(await linkExists(tap.name, ns)).toBe(false);
    expect(await netnsExists(ns)).toBe(true);
  });
});

describe('TAP setup calls', ROOT_ONLY, () => {
  const n = loadNative();

  it('reports the kernel features, with multi-queue and vnet header', () => {
    const f = n.tapFeatures();
    expect(f & n.constants.IFF_TAP).toBeTruthy();
    expect(f & n.constants.IFF_MULTI_QUEUE).toBeTruthy();
    expect(f & n.constants.IFF_VNET_HDR).toBeTruthy();
  });

  it('opens two queues of one multi-queue device, detaches and re-attaches one', async () => {
    const name = `sym${randomBytes(4).toString('hex')}`;
    const q1 = TapQueue.open(name, { multiQueue: true, vnetHdr: true, offload: n.constants.TUN_F_CSUM | n.constants.TUN_F_TSO4 });
    try {
      const q2 = TapQueue.open(name, { multiQueue: true, vnetHdr: true });
      try {
        expect(q2.name).toBe(name);
        q2.setQueueAttached(false);
        q2.setQueueAttached(true);
        // The same name without IFF_MULTI_QUEUE does not match the device: an Error with a code.
        let err: NodeJS.ErrnoException | undefined;
        try {
          TapQueue.open(name, {}).close();
        } catch (e) {
          err = e as NodeJS.ErrnoException;
        }
        expect(err?.code).toMatch(/^E[A-Z]+$/);
        expect(err?.message).toContain(name);
      } finally {
        q2.close();
      }
      expect(await linkExists(name)).toBe(true);
    } finally {
      q1.close();
    }
    expect(await linkExists(name)).toBe(false);
  });

  it('lets the kernel pick a name from a pattern', () => {
    const q = TapQueue.open('sytp%d');
    try {
      expect(q.name).toMatch(/^sytp\d+$/);
    } finally {
      q.close();
    }
  });

  it('throws an Error with an errno code for bad names', () => {
    expect(() => TapQueue.open('bad name/x')).toThrow(expect.objectContaining({ code: 'EINVAL', syscall: 'ioctl' }));
    expect(() => TapQueue.open('bad name/x')).toThrow(/tapOpen bad name\/x: TUNSETIFF/);
    expect(() => TapQueue.open('x'.repeat(16))).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => TapQueue.open('sytoff0', { offload: 1 })).toThrow(/offload needs vnetHdr/);
  });
});

describe('TAP opened exclusively (IFF_TUN_EXCL, issue 16)', ROOT_ONLY, () => {
  const victim = `syx${randomBytes(4).toString('hex')}`;
  afterAll(async () => {
    await run('ip', ['tuntap', 'del', 'dev', victim, 'mode', 'tap']).catch(() => undefined);
  });

  it('refuses a TAP that exists (someone\'s persistent one) with EBUSY; a plain open would attach to it', async () => {
    await run('ip', ['tuntap', 'add', 'dev', victim, 'mode', 'tap']);
    let err: NodeJS.ErrnoException | undefined;
    try {
      TapQueue.open(victim, { exclusive: true }).close();
    } catch (e) {
      err = e as NodeJS.ErrnoException;
    }
    expect(err?.code).toBe('EBUSY');
    // what the agent did before: TUNSETIFF without IFF_TUN_EXCL takes the existing device
    const attached = TapQueue.open(victim, {});
    expect(attached.name).toBe(victim);
    attached.close();
    expect(await linkExists(victim)).toBe(true);
  });

  it('creates a new device exclusively; further queues of it attach by name', () => {
    const name = `syx${randomBytes(4).toString('hex')}`;
    const q0 = TapQueue.open(name, { exclusive: true, multiQueue: true });
    try {
      const q1 = TapQueue.open(name, { multiQueue: true });
      expect(q1.name).toBe(name);
      q1.close();
    } finally {
      q0.close();
    }
  });
});
