/**
 * A program, run inside a sender's namespace by raw-ip.ts: sends each payload as one IPv4 datagram
 * of the given protocol through the raw-socket package (the kernel writes the IPv4 header and picks
 * the source address by the namespace's routes). An independent raw-IP sender beside scapy and
 * our own addon's raw sockets. Prints how many datagrams the kernel took.
 *
 *   node --import tsx raw-socket-send.ts DST_IP PROTO HEX [HEX...]
 */
import { createRequire } from 'node:module';

/** The part of raw-socket (CommonJS, no types) this uses. */
interface RawSocket {
  send(buf: Buffer, offset: number, length: number, address: string, after: (err: Error | null, bytes: number) => void): RawSocket;
  close(): RawSocket;
  on(ev: 'error', fn: (err: Error) => void): RawSocket;
}
interface RawSocketModule {
  createSocket(o: { protocol: number; addressFamily?: number }): RawSocket;
}

const raw = createRequire(import.meta.url)('raw-socket') as RawSocketModule;
const [dst, proto, ...hex] = process.argv.slice(2);
if (!dst || !proto || !hex.length) {
  console.error('usage: raw-socket-send.ts DST_IP PROTO HEX [HEX...]');
  process.exit(2);
}
const sock = raw.createSocket({ protocol: Number(proto) });
sock.on('error', (err) => {
  console.error(`raw-socket: ${err.message}`);
  process.exit(1);
});
let sent = 0;
for (const h of hex) {
  const buf = Buffer.from(h, 'hex');
  await new Promise<void>((resolve, reject) =>
    sock.send(buf, 0, buf.length, dst, (err, bytes) => {
      if (err) reject(err);
      else if (bytes !== buf.length) reject(new Error(`raw-socket sent ${bytes} of ${buf.length} bytes`));
      else resolve();
    }),
  );
  sent++;
}
sock.close();
console.log(sent);
