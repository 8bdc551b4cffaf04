/**
 * A program, run by steering.test.ts inside a namespace with a veth pair FA <-> FB: opens one
 * AF_PACKET socket on FA (as agent/vswitch.ts does for an External switch's NIC), sends each frame
 * into FB (so FA receives it, the kernel taking any outer VLAN tag off into the skb), reads FA as
 * the agent's workers do (TapQueue with `packet`) and prints the frames it read (hex, JSON).
 *
 *   node --import tsx packet-vlan-child.ts FA FB HEX [HEX...]
 */
import { loadNative } from '../../src/io/native.js';
import { TapQueue } from '../../src/io/tap.js';
import { allocBatch } from '../../src/io/types.js';

const [fa, fb, ...hex] = process.argv.slice(2);
if (!fa || !fb || !hex.length) {
  console.error('usage: packet-vlan-child.ts FA FB HEX [HEX...]');
  process.exit(2);
}
const n = loadNative();
const rx = n.packetOpen(fa, {});
const tx = TapQueue.fromFd(n.packetOpen(fb, {}), fb, {});
const b = allocBatch(64, 2048);
hex.forEach((h, i) => {
  const f = Buffer.from(h, 'hex');
  b.slab.set(f, b.start[i]);
  b.len[i] = f.length;
});
if (tx.write(b, Int32Array.from(hex.keys()), hex.length) !== hex.length) throw new Error(`${fb}: not every frame was sent`);
await new Promise((r) => setTimeout(r, 200));
const q = TapQueue.fromFd(rx, fa, { packet: true });
const out: string[] = [];
for (let r = q.read(b); r > 0; r = q.read(b)) for (let i = 0; i < r; i++) out.push(Buffer.from(b.slab.subarray(b.start[i], b.start[i] + b.len[i])).toString('hex'));
console.log(JSON.stringify(out));
process.exit(0);
