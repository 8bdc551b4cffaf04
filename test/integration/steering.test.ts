// Flow steering across workers for real (root): the kernel runs the BPF programs of
// src/io/steering.ts and each frame must reach the worker that steerWorker() names — a VXLAN
// SO_REUSEPORT group on loopback, NVGRE raw sockets with per-worker filters, a two-queue TAP and
// the AF_PACKET fanout group of an External switch's NIC, in a namespace this test makes (and removes). ICMP errors among them: steerWorker sends one to
// the worker of the packet it quotes (test/unit/io-steering.test.ts), and the kernel must agree;
// IPv6 frames (TCP, UDP, ICMPv6 errors) in every case (test/unit/io-steering-ipv6.test.ts).
import dgram from 'node:dgram';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadNative } from '../../src/io/native.js';
import { steerNvgreSocket, steerTap, steerVxlanGroup, steerWorker } from '../../src/io/steering.js';
import { TapQueue } from '../../src/io/tap.js';
import { allocBatch } from '../../src/io/types.js';
import { addrAdd, ip, linkConfigure, linkSetNetns, netnsAdd, netnsDelete } from '../../src/io/netdev.js';
import { run, runIn, sleep } from '../../src/lab/run.js';
import { buildIcmpError, buildIcmpv6, buildIpv4Udp, buildIpv6, buildIpv6Tcp, buildIpv6Udp } from '../../src/wire/build/frames.js';
import { ROOT_ONLY } from '../helpers/prerequisites.js';

const LOOPBACK = 0x7f000001;

/** An inner Ethernet/IPv4/UDP frame (or ICMP when sport < 0) between two addresses. */
function innerFrame(src: number, dst: number, sport: number, dport: number): Uint8Array {
  const f = new Uint8Array(14 + 20 + 8 + 4);
  const v = new DataView(f.buffer);
  f.set([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1]);
  v.setUint16(12, 0x0800);
  f[14] = 0x45;
  v.setUint16(16, 32);
  f[22] = 64;
  f[23] = sport < 0 ? 1 : 17;
  v.setUint32(26, src);
  v.setUint32(30, dst);
  if (sport >= 0) {
    v.setUint16(34, sport);
    v.setUint16(36, dport);
  }
  return f;
}

function frames(): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < 40; i++) out.push(innerFrame(0x0a010102 + (i % 3), 0x0a010105, 40000 + i, 5201));
  out.push(innerFrame(0x0a010102, 0x0a010105, -1, 0));
  // port unreachables about some of them (whole quotes, and a quote too short to count)
  for (let i = 0; i < 16; i++) {
    const invoking = innerFrame(0x0a010102 + (i % 3), 0x0a010105, 40000 + i, 5201).subarray(14, 14 + 28);
    out.push(buildIcmpError({ srcIp: 0x0a010105, dstIp: 0x0a010102 + (i % 3), invoking, ...(i === 15 ? { quoteLen: 24 } : {}) }));
  }
  // IPv6: UDP and TCP by addresses and ports, echo by addresses, a hop-by-hop header (addresses
  // only), and Packet Too Big errors about TCP segments (by the quote; the last one too short)
  for (let i = 0; i < 24; i++) {
    const o = { srcIp6: `2001:db8:1::${2 + (i % 3)}`, dstIp6: '2001:db8:1::5', srcPort: 40000 + i, dstPort: 5201 };
    out.push(i % 2 ? buildIpv6Udp(o) : buildIpv6Tcp(o));
  }
  out.push(buildIcmpv6({ srcIp6: '2001:db8:1::2', dstIp6: '2001:db8:1::5', type: 128 }));
  const hbh = buildIpv6({ srcIp6: '2001:db8:1::3', dstIp6: '2001:db8:1::5', nextHeader: 0, payload: new Uint8Array([17, 0, 1, 4, 0, 0, 0, 0, 0x9c, 0x40, 0x14, 0x51, 0, 8, 0, 0]) });
  out.push(hbh);
  for (let i = 0; i < 12; i++) {
    const seg = buildIpv6Tcp({ srcIp6: `2001:db8:1::${2 + (i % 3)}`, dstIp6: '2001:db8:1::5', srcPort: 40000 + 2 * i, dstPort: 5201 });
    const quote = seg.subarray(14, i === 11 ? 14 + 47 : seg.length);
    const body = new Uint8Array(4 + quote.length);
    body.set([0, 0, 0x05, 0x00]);
    body.set(quote, 4);
    out.push(buildIcmpv6({ srcIp6: '2001:db8:ff::1', dstIp6: `2001:db8:1::${2 + (i % 3)}`, type: 2, body }));
  }
  return out;
}

/** Reads everything pending on `fds` (recvBatch) and returns, per fd, the payload bytes it got. */
function drain(fds: number[], headroom: number): Uint8Array[][] {
  const n = loadNative();
  const b = allocBatch(64, 2048);
  const src = new Uint32Array(64);
  const dst = new Uint32Array(64);
  return fds.map((fd) => {
    const got: Uint8Array[] = [];
    for (;;) {
      const r = n.recvBatch(fd, b.slab, b.start, b.len, b.slotSize, headroom, src, dst, 64);
      if (r <= 0) break;
      for (let i = 0; i < r; i++) got.push(b.slab.slice(b.start[i], b.start[i] + b.len[i]));
    }
    return got;
  });
}

describe('flow steering (BPF)', ROOT_ONLY, () => {
  let n: ReturnType<typeof loadNative> | undefined;
  beforeAll(() => {
    n = loadNative();
  });
  const ns = `sy-steer-${process.pid}`;
  afterAll(async () => {
    await netnsDelete(ns, true).catch(() => undefined);
  });

  it('spreads a VXLAN reuseport group by inner flow, as steerWorker says', async () => {
    const a = n!.udpOpen(LOOPBACK, 0, { reusePort: true });
    const port = n!.sockName(a).port;
    const b = n!.udpOpen(LOOPBACK, port, { reusePort: true });
    try {
      steerVxlanGroup(a, 2);
      const s = dgram.createSocket('udp4');
      const sent = frames();
      for (const f of sent) {
        const m = new Uint8Array(8 + f.length);
        m[0] = 0x08;
        m.set(f, 8);
        await new Promise<void>((r) => s.send(m, port, '127.0.0.1', () => r()));
      }
      s.close();
      await sleep(100);
      const got = drain([a, b], 128);
      expect(got[0]!.length + got[1]!.length).toBe(sent.length);
      for (let w = 0; w < 2; w++) for (const m of got[w]!) expect(steerWorker(m, 8, m.length, 2)).toBe(w);
      expect(got[0]!.length).toBeGreaterThan(0);
      expect(got[1]!.length).toBeGreaterThan(0);
    } finally {
      n!.close(a);
      n!.close(b);
    }
  });

  it('gives each NVGRE raw socket only its share', async () => {
    const fds = [n!.rawOpen(47, LOOPBACK), n!.rawOpen(47, LOOPBACK)];
    const tx = n!.rawOpen(47, 0, { sendOnly: true });
    try {
      fds.forEach((fd, w) => steerNvgreSocket(fd, 2, w));
      drain(fds, 128);
      const sent = frames();
      const b = allocBatch(sent.length, 2048);
      sent.forEach((f, i) => {
        b.slab.set([0x20, 0x00, 0x65, 0x58, 0x00, 0x10, 0x00, 0x00], b.start[i]);
        b.slab.set(f, b.start[i] + 8);
        b.len[i] = 8 + f.length;
      });
      const idx = Int32Array.from(sent.keys());
      const addr = new Uint32Array(sent.length).fill(LOOPBACK);
      expect(n!.sendBatch(tx, b.slab, b.start, b.len, idx, new Uint32Array(sent.length), addr, 0, sent.length)).toBe(sent.length);
      await sleep(100);
      const got = drain(fds, 128);
      expect(got[0]!.length + got[1]!.length).toBe(sent.length);
      // received with the outer IPv4 header (20 bytes) + GRE (8)
      for (let w = 0; w < 2; w++) for (const m of got[w]!) expect(steerWorker(m, 28, m.length, 2)).toBe(w);
      expect(got[0]!.length).toBeGreaterThan(0);
      expect(got[1]!.length).toBeGreaterThan(0);
    } finally {
      for (const fd of [...fds, tx]) n!.close(fd);
    }
  });

  it('picks the TAP queue of frames the tenant sends', async () => {
    const name = `sysq${process.pid % 10000}`;
    const q0 = TapQueue.open(name, { multiQueue: true });
    const q1 = TapQueue.open(name, { multiQueue: true });
    try {
      steerTap(q0.fd, 2);
      await netnsAdd(ns);
      await linkSetNetns(name, ns);
      await linkConfigure(name, { up: true }, ns);
      await addrAdd(name, '10.250.7.1/24', ns);
      await ip(['addr', 'add', '2001:db8:7::1/64', 'dev', name, 'nodad'], ns);
      await ip(['neigh', 'add', '10.250.7.2', 'lladdr', '02:00:00:00:00:02', 'dev', name, 'nud', 'permanent'], ns);
      await ip(['neigh', 'add', '2001:db8:7::2', 'lladdr', '02:00:00:00:00:02', 'dev', name, 'nud', 'permanent'], ns);
      const script = `const d=require('node:dgram');let k=0;for(let i=0;i<48;i++){const v6=i>=24;const s=d.createSocket(v6?'udp6':'udp4');s.bind(41000+i,v6?'2001:db8:7::1':'10.250.7.1',()=>s.send('x',5201,v6?'2001:db8:7::2':'10.250.7.2',()=>{s.close();if(++k===48)process.exit(0)}))}`;
      await runIn(ns, process.execPath, ['-e', script]);
      // datagrams to closed ports of the namespace: its kernel answers each with a port
      // unreachable, which the TAP's program steers (no ICMP rate limits in this namespace)
      await runIn(ns, 'sysctl', ['-q', '-w', 'net.ipv4.icmp_ratelimit=0', 'net.ipv6.icmp.ratelimit=0', 'net.ipv4.icmp_msgs_burst=1000']);
      const tapMac = JSON.parse((await run('ip', ['-n', ns, '-j', 'link', 'show', name])).stdout)[0].address as string;
      const wb = allocBatch(48, 2048);
      for (let i = 0; i < 48; i++) {
        const o = { srcMac: '02:00:00:00:00:02', dstMac: tapMac, srcPort: 50000 + i, dstPort: 9 };
        const f = i < 24 ? buildIpv4Udp({ ...o, srcIp: '10.250.7.2', dstIp: '10.250.7.1' }) : buildIpv6Udp({ ...o, srcIp6: '2001:db8:7::2', dstIp6: '2001:db8:7::1' });
        wb.slab.set(f, wb.start[i]);
        wb.len[i] = f.length;
      }
      expect(q0.write(wb, Int32Array.from({ length: 48 }, (_, i) => i), 48)).toBe(48);
      await sleep(100);
      const seen = [0, 0];
      const seen6 = [0, 0];
      let udp = 0;
      let unreachables = 0;
      let udp6 = 0;
      let unreachables6 = 0;
      [q0, q1].forEach((q, w) => {
        const b = allocBatch(64, 2048);
        for (let r = q.read(b); r > 0; r = q.read(b)) {
          for (let i = 0; i < r; i++) {
            const s = b.start[i];
            const v4 = b.slab[s + 12] === 8 && b.slab[s + 13] === 0;
            const v6 = b.slab[s + 12] === 0x86 && b.slab[s + 13] === 0xdd;
            if (v4 && b.slab[s + 23] === 17) udp++;
            if (v4 && b.slab[s + 23] === 1 && b.slab[s + 34] === 3) unreachables++;
            if (v6 && b.slab[s + 20] === 17) udp6++;
            if (v6 && b.slab[s + 20] === 58 && b.slab[s + 54] === 1) unreachables6++;
            expect(steerWorker(b.slab, s, s + b.len[i], 2)).toBe(w);
            seen[w]!++;
            if (v6 && (b.slab[s + 20] === 17 || b.slab[s + 54] === 1)) seen6[w]!++;
          }
        }
      });
      expect(udp).toBe(24);
      expect(unreachables).toBe(24);
      expect(udp6).toBe(24);
      expect(unreachables6).toBe(24);
      expect(seen[0]).toBeGreaterThan(0);
      expect(seen[1]).toBeGreaterThan(0);
      expect(seen6[0]).toBeGreaterThan(0);
      expect(seen6[1]).toBeGreaterThan(0);
    } finally {
      q0.close();
      q1.close();
    }
  });

  it("splits a NIC's AF_PACKET fanout group by flow in join order, and leaves out the host's transmissions", async () => {
    const child = path.join(path.dirname(fileURLToPath(import.meta.url)), 'packet-fanout-child.ts');
    await netnsAdd(ns).catch(() => undefined);
    await ip(['link', 'add', 'fa', 'type', 'veth', 'peer', 'name', 'fb'], ns);
    // no IPv6: its neighbour discovery would be frames this test did not send
    await runIn(ns, 'sysctl', ['-q', '-w', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
    for (const d of ['fa', 'fb']) await linkConfigure(d, { up: true }, ns);
    // 3 workers: the program's result is taken modulo the members, and member i is the i-th to join
    const sent = frames();
    const r = await runIn(ns, process.execPath, ['--import', 'tsx', child, 'fa', 'fb', '3', ...sent.map((f) => Buffer.from(f).toString('hex'))], { timeoutMs: 30_000 });
    const got = (JSON.parse(r.stdout) as string[][]).map((l) => l.map((h) => Buffer.from(h, 'hex')));
    expect(got.flat()).toHaveLength(sent.length);
    for (let w = 0; w < 3; w++) {
      for (const f of got[w]!) {
        expect(f[11]).not.toBe(0x99);
        expect(steerWorker(f, 0, f.length, 3)).toBe(w);
      }
      expect(got[w]!.length).toBeGreaterThan(0);
    }
  });

  it("gives a NIC's frames back with the VLAN tag the kernel took off (802.1Q, priority tag, QinQ), untagged ones as they were", async () => {
    const child = path.join(path.dirname(fileURLToPath(import.meta.url)), 'packet-vlan-child.ts');
    await netnsAdd(ns).catch(() => undefined);
    await ip(['link', 'add', 'va', 'type', 'veth', 'peer', 'name', 'vb'], ns);
    await runIn(ns, 'sysctl', ['-q', '-w', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
    for (const d of ['va', 'vb']) await linkConfigure(d, { up: true }, ns);
    const plain = Buffer.from(innerFrame(0x0a000001, 0x0a000002, 1000, 2000));
    const tagged = (...tags: [number, number][]) => Buffer.concat([plain.subarray(0, 12), ...tags.map(([tpid, tci]) => Buffer.from([tpid >> 8, tpid & 255, tci >> 8, tci & 255])), plain.subarray(12)]);
    // VLAN 5; VLAN 0 with priority 5 (a priority tag); VLAN 0 with nothing set (TCI 0); QinQ
    const sent = [plain, tagged([0x8100, 5]), tagged([0x8100, 0xa000]), tagged([0x8100, 0]), tagged([0x88a8, 5], [0x8100, 6])];
    const r = await runIn(ns, process.execPath, ['--import', 'tsx', child, 'va', 'vb', ...sent.map((f) => f.toString('hex'))], { timeoutMs: 30_000 });
    expect(JSON.parse(r.stdout)).toEqual(sent.map((f) => f.toString('hex')));
  });
});
