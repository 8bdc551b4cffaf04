// The command channel inside a switchyard demo VM. Started by switchyard-runner.service; reads
// one JSON request per line from the virtio-serial port given as argv[2] and answers one JSON line
// per request:
//   {"id":1,"cmd":"ip -br addr","timeoutMs":30000}  ->  {"id":1,"code":0,"stdout":"...","stderr":"...","ms":12}
//   {"id":2,"ping":true}                              ->  {"id":2,"pong":true,"uptime":12.3}
// Each command runs as `bash -c` in its own process group; on timeout the group is killed and the
// code is 124. A command that leaves a background child holding stdout is answered 2 s after bash
// exits (redirect background output to a file). Plain JavaScript: it runs on the host's node binary
// copied into the image, without the project checkout.
/* global process, Buffer, setTimeout, clearTimeout */
import fs from 'node:fs';
import { spawn } from 'node:child_process';
import { StringDecoder } from 'node:string_decoder';

const dev = process.argv[2] ?? '/dev/virtio-ports/switchyard.cmd';
const MAX_OUT = 8 * 1024 * 1024;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function send(fd, obj) {
  const b = Buffer.from(JSON.stringify(obj) + '\n');
  let off = 0;
  try {
    while (off < b.length) off += fs.writeSync(fd, b, off, b.length - off);
  } catch (err) {
    // host not connected (EPIPE) or gone: the host retries its request
    process.stderr.write(`runner: write failed: ${err.message}\n`);
  }
}

function runCommand(fd, req) {
  const started = Date.now();
  const child = spawn('/bin/bash', ['-c', req.cmd], { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, HOME: '/root' } });
  const out = [];
  const err = [];
  let size = 0;
  let answered = false;
  let code = null;
  const keep = (arr) => (d) => {
    if (size < MAX_OUT) arr.push(d);
    size += d.length;
  };
  child.stdout.on('data', keep(out));
  child.stderr.on('data', keep(err));
  const answer = () => {
    if (answered) return;
    answered = true;
    clearTimeout(timer);
    send(fd, { id: req.id, code: code ?? 1, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString(), ms: Date.now() - started });
  };
  const timer = setTimeout(() => {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
    code = 124;
    err.push(Buffer.from(`\nrunner: timed out after ${req.timeoutMs} ms\n`));
    setTimeout(answer, 500);
  }, req.timeoutMs ?? 60_000);
  child.on('error', (e) => {
    err.push(Buffer.from(String(e.message)));
    code = 127;
    answer();
  });
  child.on('exit', (c, sig) => {
    if (code === null) code = c ?? (sig ? 128 : 1);
    setTimeout(answer, 2000);
  });
  child.on('close', answer);
}

async function main() {
  let fd;
  for (;;) {
    try {
      fd = fs.openSync(dev, 'r+');
      break;
    } catch {
      await sleep(200);
    }
  }
  send(fd, { hello: true, uptime: Number(fs.readFileSync('/proc/uptime', 'utf8').split(' ')[0]) });
  const buf = Buffer.alloc(65536);
  const dec = new StringDecoder('utf8');
  let pending = '';
  for (;;) {
    const n = await new Promise((res) => fs.read(fd, buf, 0, buf.length, null, (e, k) => res(e ? -1 : k)));
    if (n <= 0) {
      // 0: the host side is not connected (yet); -1: transient error
      await sleep(200);
      continue;
    }
    pending += dec.write(buf.subarray(0, n));
    let i;
    while ((i = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, i).trim();
      pending = pending.slice(i + 1);
      if (!line) continue;
      let req;
      try {
        req = JSON.parse(line);
      } catch {
        continue;
      }
      if (req.ping) send(fd, { id: req.id, pong: true, uptime: Number(fs.readFileSync('/proc/uptime', 'utf8').split(' ')[0]) });
      else if (typeof req.cmd === 'string') runCommand(fd, req);
    }
  }
}

void main();
