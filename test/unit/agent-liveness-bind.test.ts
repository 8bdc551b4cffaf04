// The liveness socket is bound exclusively: another process on the host cannot bind the same
// port (with SO_REUSEADDR, as an attacker would) and receive the probes (issue 16).
import dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { PaLiveness } from '../../src/agent/liveness.js';

const log = { info: () => undefined, warn: () => undefined, error: () => undefined, debug: () => undefined } as never;

describe('liveness socket', () => {
  let live: PaLiveness | undefined;
  afterEach(() => live?.stop());

  it('a second socket cannot bind its port, even with reuseAddr', async () => {
    live = new PaLiveness({ host: 'host1', port: 0, log, onChange: () => undefined });
    await live.start({ local: [], remote: [] });
    const port = live.boundPort!;
    expect(port).toBeGreaterThan(0);
    const thief = dgram.createSocket({ type: 'udp4', reuseAddr: true });
    const err = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
      thief.once('error', resolve);
      thief.bind(port, () => resolve(undefined));
    });
    thief.close();
    expect(err?.code).toBe('EADDRINUSE');
  });

  it('waits for a port a previous agent still holds, and fails if it is never freed', async () => {
    const holder = dgram.createSocket({ type: 'udp4' });
    await new Promise<void>((r) => holder.bind(0, () => r()));
    const port = holder.address().port;
    setTimeout(() => holder.close(), 600);
    live = new PaLiveness({ host: 'host1', port, log, onChange: () => undefined });
    await live.start({ local: [], remote: [] });
    expect(live.boundPort).toBe(port);
    const stubborn = new PaLiveness({ host: 'host1', port, log, onChange: () => undefined });
    await expect(stubborn.start({ local: [], remote: [] })).rejects.toMatchObject({ code: 'EADDRINUSE' });
  }, 20_000);
});
