// The bound NIC of an External switch (agent/vswitch.ts openNicSockets) with a fake addon: one
// socket per worker joined in worker order to a PACKET_FANOUT_CBPF group steered by
// io/steering.ts; a kernel that refuses it gets the kernel's hash group, a warning and a counter,
// with nothing of the refused group left open. The kernel running the program is
// test/integration/steering.test.ts, the whole path test/integration/vswitch-workers.test.ts.
import { describe, expect, it } from 'vitest';
import { openNicSockets } from '../../src/agent/vswitch.js';
import type { Logger } from '../../src/agent/logger.js';
import { packetFanoutProgram } from '../../src/io/steering.js';

interface Call {
  op: string;
  fd?: number;
  opts?: { fanout?: number; cbpf?: boolean };
  prog?: Uint32Array;
}

function fakeNative(refuse: { join?: boolean; program?: boolean } = {}) {
  const calls: Call[] = [];
  const open = new Set<number>();
  let next = 10;
  const n = {
    packetOpen(_ifname: string, opts?: { fanout?: number; cbpf?: boolean }): number {
      calls.push({ op: 'open', opts });
      if (opts?.cbpf && refuse.join && open.size === 1) throw new Error('packetOpen ext0: PACKET_FANOUT: Invalid argument');
      open.add(next);
      return next++;
    },
    attachCbpf(fd: number, kind: 'filter' | 'reuseport' | 'fanout', prog: Uint32Array): void {
      calls.push({ op: `attach-${kind}`, fd, prog });
      if (refuse.program) throw new Error('attachCbpf: setsockopt PACKET_FANOUT_DATA: Invalid argument');
    },
    close(fd: number): number {
      calls.push({ op: 'close', fd });
      open.delete(fd);
      return 0;
    },
  };
  return { n, calls, open };
}

function logger() {
  const warnings: unknown[][] = [];
  return { log: { warn: (...a: unknown[]) => warnings.push(a) } as unknown as Logger, warnings };
}

describe('External switch NIC: one AF_PACKET socket per worker, steered like the TAPs', () => {
  it('joins every socket, in worker order, to one CBPF fanout group and sets the steering program', () => {
    const { n, calls, open } = fakeNative();
    const { log, warnings } = logger();
    const stats = { fallbacks: 0 };
    const fds = openNicSockets('ext0', 3, log, stats, n);
    expect(fds).toEqual([10, 11, 12]);
    expect([...open]).toEqual(fds);
    const opens = calls.filter((c) => c.op === 'open');
    expect(opens.map((c) => c.opts?.cbpf)).toEqual([true, true, true]);
    const group = opens[0]!.opts!.fanout!;
    expect(group).toBeGreaterThan(0);
    expect(opens.every((c) => c.opts?.fanout === group)).toBe(true);
    const attach = calls.filter((c) => c.op.startsWith('attach'));
    expect(attach).toHaveLength(1);
    expect(attach[0]!.op).toBe('attach-fanout');
    expect(attach[0]!.prog).toEqual(packetFanoutProgram(3));
    expect(stats.fallbacks).toBe(0);
    expect(warnings).toEqual([]);
  });

  it('one worker: one socket, no group', () => {
    const { n, calls } = fakeNative();
    const fds = openNicSockets('ext0', 1, logger().log, { fallbacks: 0 }, n);
    expect(fds).toHaveLength(1);
    expect(calls).toEqual([{ op: 'open', opts: {} }]);
  });

  for (const refuse of [{ join: true }, { program: true }]) {
    it(`falls back to the kernel's hash when the kernel refuses the ${refuse.join ? 'CBPF group' : 'program'}: a warning, a counter, nothing left over`, () => {
      const { n, calls, open } = fakeNative(refuse);
      const { log, warnings } = logger();
      const stats = { fallbacks: 0 };
      const fds = openNicSockets('ext0', 2, log, stats, n);
      expect(fds).toHaveLength(2);
      expect([...open]).toEqual(fds);
      const last = calls.slice(-2);
      expect(last.map((c) => [c.op, c.opts?.cbpf])).toEqual([['open', false], ['open', false]]);
      expect(stats.fallbacks).toBe(1);
      expect(warnings).toHaveLength(1);
      expect(JSON.stringify(warnings[0])).toMatch(/PACKET_FANOUT_CBPF.*kernel flow hash/);
    });
  }

  it('throws (leaving nothing open) when even the hash group cannot be made', () => {
    const { n, open } = fakeNative();
    const failing = { ...n, packetOpen: (ifname: string, opts?: { fanout?: number; cbpf?: boolean }) => (open.size === 1 ? (() => { throw new Error('packetOpen: ENOBUFS'); })() : n.packetOpen(ifname, opts)) };
    const stats = { fallbacks: 0 };
    expect(() => openNicSockets('ext0', 2, logger().log, stats, failing)).toThrow(/ENOBUFS/);
    expect(open.size).toBe(0);
    expect(stats.fallbacks).toBe(1);
  });
});
