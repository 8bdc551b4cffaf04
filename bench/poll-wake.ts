/**
 * What a uv_poll wake-up costs here: UDP ping-pong over loopback where the echo side is the
 * agent's receive path (native pollStart readiness + recvBatch + sendBatch, one batch per wake),
 * against the same echo in C-like blocking style (a busy loop of recvBatch in this process).
 *   npx tsx bench/poll-wake.ts
 */
import { fork } from 'node:child_process';
import dgram from 'node:dgram';
import { loadNative } from '../src/io/native.js';
import { allocBatch, HEADROOM } from '../src/io/types.js';

const PORT = 47011;
const LO = 0x7f000001;
if (process.argv[2] === 'echo') {
  const n = loadNative();
  const fd = n.udpOpen(LO, PORT);
  const b = allocBatch(64, 2048);
  const src = new Uint32Array(64);
  const dst = new Uint32Array(64);
  const sp = new Uint16Array(64);
  const idx = new Int32Array(64).map((_, i) => i);
  const spin = process.argv[3] === 'spin';
  const echo = (): number => {
    const got = n.recvBatch(fd, b.slab, b.start, b.len, b.slotSize, HEADROOM, src, dst, 64, sp);
    for (let i = 0; i < got; i++) n.sendBatch(fd, b.slab, b.start, b.len, idx.subarray(i, i + 1), src.subarray(i, i + 1), dst.subarray(i, i + 1), sp[i], 1);
    return got;
  };
  if (spin) {
    process.send!('ready');
    for (;;) echo();
  } else {
    n.pollStart(fd, () => void echo());
    process.send!('ready');
  }
} else {
  for (const mode of ['poll', 'spin']) {
    const c = fork(new URL(import.meta.url).pathname, ['echo', mode], { execArgv: process.execArgv });
    await new Promise((r) => c.once('message', r));
    const s = dgram.createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
    const rtts: number[] = [];
    for (let i = 0; i < 1000; i++) {
      const t0 = process.hrtime.bigint();
      await new Promise<void>((r) => {
        s.once('message', () => r());
        s.send('x', PORT, '127.0.0.1');
      });
      rtts.push(Number(process.hrtime.bigint() - t0) / 1000);
      await new Promise((r) => setTimeout(r, 1));
    }
    rtts.sort((a, b) => a - b);
    console.log(`echo by ${mode === 'poll' ? 'uv_poll wake-up + recvBatch/sendBatch' : 'a spinning recvBatch loop (no sleep)'}: RTT median ${rtts[500].toFixed(1)} us, p90 ${rtts[900].toFixed(1)} us`);
    c.kill();
    s.close();
  }
}
