/**
 * A program, run by steering.test.ts inside a namespace with a veth pair FA <-> FB: opens N
 * AF_PACKET sockets on FA in one steered fanout group (as agent/vswitch.ts does for an External
 * switch's NIC, with --workers N), sends each frame into FB (so FA receives it), sends one more
 * frame out of FA from a socket outside the group (a transmission of the host's), and prints, per
 * member in join order, the frames it read (hex, JSON).
 *
 *   node --import tsx packet-fanout-child.ts FA FB N HEX [HEX...]
 */
import { loadNative } from '../../src/io/native.js';
import { steerPacketFanout } from '../../src/io/steering.js';
import { TapQueue } from '../../src/io/tap.js';
import { allocBatch } from '../../src/io/types.js';

const [fa, fb, count, ...hex] = process.argv.slice(2);
if (!fa || !fb || !count || !hex.length) {
  console.error('usage: packet-fanout-child.ts FA FB N HEX [HEX...]');
  process.exit(2);
}
const n = loadNative();
const workers = Number(count);
const group = (process.pid % 60000) + 1;
const members = Array.from({ length: workers }, () => n.packetOpen(fa, { fanout: group, cbpf: true }));
steerPacketFanout(members[0]!, workers);

function send(ifname: string, frames: Uint8Array[]): void {
  const q = TapQueue.fromFd(n.packetOpen(ifname, {}), ifname, {});
  const b = allocBatch(frames.length, 2048);
  frames.forEach((f, i) => {
    b.slab.set(f, b.start[i]);
    b.len[i] = f.length;
  });
  if (q.write(b, Int32Array.from(frames.keys()), frames.length) !== frames.length) throw new Error(`${ifname}: not every frame was sent`);
  q.close();
}

send(fb, hex.map((h) => Buffer.from(h, 'hex')));
const own = Buffer.from(hex[0]!, 'hex');
own[11] = 0x99; // source MAC ..:99: the host's transmission
send(fa, [own]);
await new Promise((r) => setTimeout(r, 200));
const got = members.map((fd) => {
  const q = TapQueue.fromFd(fd, fa, {});
  const b = allocBatch(64, 2048);
  const out: string[] = [];
  for (let r = q.read(b); r > 0; r = q.read(b)) for (let i = 0; i < r; i++) out.push(Buffer.from(b.slab.subarray(b.start[i], b.start[i] + b.len[i])).toString('hex'));
  return out;
});
console.log(JSON.stringify(got));
process.exit(0);
