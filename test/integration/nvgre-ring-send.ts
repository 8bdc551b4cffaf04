/**
 * A program, run inside a sender's namespace by nvgre-tx-ring.test.ts: opens an NVGRE uplink with
 * the AF_PACKET TX ring (io/nvgre-tx-ring.ts) and sends the given GRE packets to DST in rounds,
 * every 100 ms, until ROUNDS rounds went (the first rounds go through the raw socket while the
 * next hop resolves). Prints one JSON line: the ring's stats and how many packets went.
 *
 *   node --import tsx nvgre-ring-send.ts SRC_IP DST_IP ROUNDS HEX [HEX...]
 */
import { allocBatch, HEADROOM } from '../../src/io/types.js';
import { ipv4ToNumber, NvgreUplink } from '../../src/io/uplink.js';

const [src, dst, rounds, ...hex] = process.argv.slice(2);
if (!src || !dst || !rounds || !hex.length) {
  console.error('usage: nvgre-ring-send.ts SRC_IP DST_IP ROUNDS HEX [HEX...]');
  process.exit(2);
}
const mode = process.env.NVGRE_TX_MODE === 'mmsg' ? 'mmsg' : 'ring';
const u = NvgreUplink.open({ localAddr: src, txRing: mode });
const b = allocBatch(hex.length, 2048);
const idx = new Int32Array(hex.length);
const srcA = new Uint32Array(hex.length); // 0: the route's source
const dstA = new Uint32Array(hex.length).fill(ipv4ToNumber(dst));
const total = new Float64Array(4);
let sent = 0;
for (let r = 0; r < Number(rounds); r++) {
  hex.forEach((h, i) => {
    const p = Buffer.from(h, 'hex');
    const at = i * b.slotSize + HEADROOM;
    b.slab.set(p, at);
    b.start[i] = at;
    b.len[i] = p.length;
    idx[i] = i;
  });
  sent += u.write(b, idx, srcA, dstA, hex.length);
  const s = u.ringStats!;
  for (let k = 0; k < 4; k++) total[k] += s[k]!;
  s.fill(0);
  await new Promise((resolve) => setTimeout(resolve, 100));
}
console.log(JSON.stringify({ sent, ring: total[0], full: total[1], fallback: total[2], unknown: total[3], error: u.txRing?.lastError ?? null }));
u.close();
