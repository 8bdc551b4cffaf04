// A control server in its own process (for tests that measure its memory or set its umask):
// argv: socketPath replyBytes umask(octal) [gid]. Every op but ping answers with replyBytes of text
// (a stand-in for a large `trace` or `dump-flows` result). Prints "ready <pid>" when listening.
import { startControlServer } from '../../src/agent/control-server.js';

const [socketPath, replyBytes, umask, gid] = process.argv.slice(2);
process.umask(parseInt(umask ?? '022', 8));
const big = 'x'.repeat(Number(replyBytes));
const server = await startControlServer(socketPath!, (req) => (req.op === 'ping' ? 'pong' : { trace: big }), gid === undefined ? {} : { group: Number(gid) });
process.stdout.write(`ready ${process.pid}\n`);
process.on('SIGTERM', () => void server.close().then(() => process.exit(0)));
