// The HNV gateway in namespaces (issue 14): Figure 8 with `gateway: {host: host1, nat: true}` on
// Contoso and none on Fabrikam, and an "outside" namespace behind host1 (198.51.100.0/24) that has
// no route back to the tenants' prefix. Contoso's tenant on host2 reaches it through host1 (the
// outside sees host1's address: masquerade), so does Contoso's tenant on host1; Fabrikam's cannot
// (counted no-route). Stopping host1's agent removes the gateway vNIC, its routes and the NAT table.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { controlRequest } from '../../src/agent/control-client.js';
import { figure8Policy } from '../../src/policy/figure8.js';
import { ping } from '../../src/lab/probes.js';
import { run, runIn } from '../../src/lab/run.js';
import { ROOT_ONLY } from '../helpers/prerequisites.js';
import { startFigure8, type Figure8Run } from './lab-helpers.js';

const OUT_HOST = '198.51.100.1';
const OUT_PEER = '198.51.100.2';
const SERVER = "import socket;s=socket.socket();s.setsockopt(1,2,1);s.bind(('0.0.0.0',8000));s.listen();c,a=s.accept();c.sendall(('hello '+a[0]).encode());c.close()";
const CLIENT = `import socket;s=socket.create_connection(('${OUT_PEER}',8000),3);print(s.recv(100).decode())`;

describe('HNV gateway: a virtual network reaches outside through NAT on its gateway host', ROOT_ONLY, () => {
  let r: Figure8Run;
  let out: string;
  beforeAll(async () => {
    const p = figure8Policy();
    const policy = { ...p, virtualNetworks: p.virtualNetworks.map((v) => (v.name === 'contoso' ? { ...v, gateway: { host: 'host1', nat: true } } : v)) };
    r = await startFigure8({ policy, agentArgs: ['--workers', '1'] });
    out = `${r.lab.tag}-out`;
    const h1 = r.lab.hosts[0].ns;
    await run('ip', ['netns', 'add', out]);
    await runIn(out, 'ip', ['link', 'set', 'lo', 'up']);
    await runIn(h1, 'ip', ['link', 'add', 'out0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', out]);
    await runIn(h1, 'ip', ['addr', 'add', `${OUT_HOST}/24`, 'dev', 'out0']);
    await runIn(h1, 'ip', ['link', 'set', 'out0', 'up']);
    await runIn(out, 'ip', ['addr', 'add', `${OUT_PEER}/24`, 'dev', 'eth0']);
    await runIn(out, 'ip', ['link', 'set', 'eth0', 'up']);
  }, 90_000);
  afterAll(async () => {
    await r?.teardown();
  });

  it('a tenant on another host reaches the outside, which sees the gateway host\'s address', async () => {
    expect((await ping(r.ns('contoso-web'), OUT_PEER, 3)).received).toBe(3);
    const server = runIn(out, 'python3', ['-c', SERVER], { timeoutMs: 15_000 });
    let reply = '';
    for (let i = 0; i < 20 && !reply.startsWith('hello'); i++) {
      reply = (await runIn(r.ns('contoso-web'), 'python3', ['-c', CLIENT], { allowFail: true })).stdout.trim();
      if (!reply.startsWith('hello')) await new Promise((res) => setTimeout(res, 200));
    }
    await server;
    expect(reply).toBe(`hello ${OUT_HOST}`);
  });

  it('a tenant on the gateway host reaches it too', async () => {
    expect((await ping(r.ns('contoso-sql'), OUT_PEER, 3)).received).toBe(3);
  });

  it('a virtual network without a gateway cannot (counted no-route)', async () => {
    const before = ((await controlRequest(r.agents[1]!.socket, { op: 'stats' })) as { drops: Record<string, number> }).drops['no-route'] ?? 0;
    expect((await ping(r.ns('fabrikam-web'), OUT_PEER, 2)).received).toBe(0);
    expect((await ping(r.ns('fabrikam-sql'), OUT_PEER, 2)).received).toBe(0);
    const after = ((await controlRequest(r.agents[1]!.socket, { op: 'stats' })) as { drops: Record<string, number> }).drops['no-route'] ?? 0;
    expect(after).toBeGreaterThanOrEqual(before + 2);
  });

  it('the gateway host routes the prefix to its gateway vNIC and masquerades it', async () => {
    const h1 = r.lab.hosts[0].ns;
    expect((await runIn(h1, 'ip', ['route', 'show', '10.1.1.0/24'])).stdout).toMatch(/via 169\.254\.0\.1 dev sy-gw-contoso/);
    expect((await runIn(h1, 'nft', ['list', 'table', 'ip', 'switchyard_host1'])).stdout).toMatch(/ip saddr 10\.1\.1\.0\/24 .*masquerade/);
  });

  it('leaves nothing behind when the gateway host\'s agent stops', async () => {
    const h1 = r.lab.hosts[0].ns;
    await r.agents[0]!.stop();
    expect((await runIn(h1, 'nft', ['list', 'table', 'ip', 'switchyard_host1'], { allowFail: true })).code).not.toBe(0);
    expect((await runIn(h1, 'ip', ['link', 'show', 'sy-gw-contoso'], { allowFail: true })).code).not.toBe(0);
    expect((await runIn(h1, 'ip', ['route', 'show', '10.1.1.0/24'])).stdout.trim()).toBe('');
    expect((await runIn(h1, 'cat', ['/proc/sys/net/ipv4/ip_forward'])).stdout.trim()).toBe('0');
  });
});
