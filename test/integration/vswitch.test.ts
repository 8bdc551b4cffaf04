// The seed's virtual switch in namespaces (issue 14): one agent with a Private, an Internal (host
// vNIC + NAT with a static mapping) and an External switch (bound to a veth standing in for a
// NIC). Isolation between switches, NAT out to a network with no route back and in through the
// static mapping, the host's own address on the bound NIC, moving a port by a policy update, a
// refused policy that changes nothing, and what stop leaves behind (nothing).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { controlRequest } from '../../src/agent/control-client.js';
import { iperf3, ping } from '../../src/lab/probes.js';
import { run, runIn, spawnIn, waitFor } from '../../src/lab/run.js';
import { INT_HOST, LAN_HOST, LAN_PEER, OUT_HOST, OUT_PEER, addressVms, createSwitchLab, switchLabPolicy, type SwitchLab } from '../../src/lab/vswitch.js';
import { hostPortName } from '../../src/vfp/switch-compile.js';
import { ROOT_ONLY } from '../helpers/prerequisites.js';

const policy = switchLabPolicy;

const SERVER = "import socket;s=socket.socket();s.setsockopt(1,2,1);s.bind(('0.0.0.0',80));s.listen();c,a=s.accept();c.sendall(('hello '+a[0]).encode());c.close()";
const CLIENT = (addr: string, port: number) => `import socket;s=socket.create_connection(('${addr}',${port}),3);print(s.recv(100).decode())`;

describe('virtual switches: Private, Internal + NAT, External', ROOT_ONLY, () => {
  let lab: SwitchLab;
  const stats = async () =>
    (await controlRequest(lab.agent!.socket, { op: 'stats' })) as { generation: number; counters: Record<string, number>; drops: Record<string, number>; ports: Record<string, Record<string, number>> };
  /** Between two stats: no frame was cut or had its checksum finished in userspace, and the frames
   * port `from` sent and port `to` took averaged more than a jumbo frame (TSO super-frames,
   * forwarded whole with their virtio-net header; the receiving kernel takes them as they are). */
  const crossedWhole = (a: Awaited<ReturnType<typeof stats>>, b: Awaited<ReturnType<typeof stats>>, from: string, to: string) => {
    const per = (port: string, dir: 'rx' | 'tx') => (b.ports[port][`${dir}-bytes`] - a.ports[port][`${dir}-bytes`]) / Math.max(1, b.ports[port][`${dir}-frames`] - a.ports[port][`${dir}-frames`]);
    expect(b.counters['tso-segments'] - a.counters['tso-segments']).toBe(0);
    expect(b.counters['csum-finished'] - a.counters['csum-finished']).toBe(0);
    expect(per(from, 'rx')).toBeGreaterThan(9000);
    expect(per(to, 'tx')).toBeGreaterThan(9000);
  };
  beforeAll(async () => {
    lab = await createSwitchLab();
    // two workers: MAC tables per worker, flooded TCP segments with partial checksums
    await lab.start(policy(), ['--workers', '2']);
    await addressVms(lab);
  }, 60_000);
  afterAll(async () => {
    await lab?.destroy();
  });

  it('Private: ports reach each other, nothing else', async () => {
    expect((await ping(lab.ns('vm-a'), '192.168.77.2', 3)).received).toBe(3);
    // vm-c holds 192.168.77.3 too, but on another switch
    expect((await ping(lab.ns('vm-a'), '192.168.77.3', 2)).received).toBe(0);
  });

  it('Internal: ports and the host reach each other', async () => {
    expect((await ping(lab.ns('vm-c'), '172.30.0.11', 3)).received).toBe(3);
    expect((await ping(lab.ns('vm-c'), INT_HOST, 3)).received).toBe(3);
    expect((await ping(lab.host, '172.30.0.11', 3)).received).toBe(3);
    // TCP with offloads (TSO, partial checksums) to a port and to the host: super-frames cross whole
    const s0 = await stats();
    expect((await iperf3(lab.ns('vm-d'), lab.ns('vm-c'), '172.30.0.11', 1)).gbps).toBeGreaterThan(0);
    const s1 = await stats();
    crossedWhole(s0, s1, 'vm-c', 'vm-d');
    expect((await iperf3(lab.host, lab.ns('vm-c'), INT_HOST, 1)).gbps).toBeGreaterThan(0);
    crossedWhole(s1, await stats(), 'vm-c', hostPortName('int'));
    const flows = (await controlRequest(lab.agent!.socket, { op: 'dump-flows', port: 'vm-c' })) as { action: string }[];
    expect(flows.some((f) => /vm-d|vEthernet/.test(f.action))).toBe(true);
  });

  it('NAT: out to a network with no route back, in through the static mapping', async () => {
    expect((await ping(lab.ns('vm-d'), OUT_PEER, 3)).received).toBe(3);
    // NAT'd TCP: the super-frames reach the host's stack whole (nftables rewrites them there)
    const s0 = await stats();
    expect((await iperf3(lab.out, lab.ns('vm-c'), OUT_PEER, 1)).gbps).toBeGreaterThan(0);
    crossedWhole(s0, await stats(), 'vm-c', hostPortName('int'));
    const server = runIn(lab.ns('vm-c'), 'python3', ['-c', SERVER], { timeoutMs: 15_000 });
    let reply = '';
    for (let i = 0; i < 20 && !reply.startsWith('hello'); i++) {
      reply = (await runIn(lab.out, 'python3', ['-c', CLIENT(OUT_HOST, 8080)], { allowFail: true })).stdout.trim();
      if (!reply.startsWith('hello')) await new Promise((r) => setTimeout(r, 200));
    }
    await server;
    // DNAT only: the VM sees the outside client's own address
    expect(reply).toBe(`hello ${OUT_PEER}`);
    const rules = (await runIn(lab.host, 'nft', ['list', 'table', 'ip', 'switchyard_h1'])).stdout;
    expect(rules).toMatch(/masquerade/);
    expect(rules).toMatch(/dnat to 172\.30\.0\.10:80/);
  });

  it('External: a port reaches the LAN, and the host keeps its own address on the NIC', async () => {
    expect((await ping(lab.ns('vm-e'), LAN_PEER, 3)).received).toBe(3);
    expect((await ping(lab.lan, LAN_HOST, 3)).received).toBe(3);
    expect((await ping(lab.host, LAN_PEER, 3)).received).toBe(3);
    const link = (await runIn(lab.host, 'ip', ['-d', '-j', 'link', 'show', 'ext0'])).stdout;
    expect((JSON.parse(link) as { promiscuity: number }[])[0]!.promiscuity).toBeGreaterThan(0);
    // the External port never sees Private or Internal traffic
    expect((await ping(lab.ns('vm-e'), '172.30.0.11', 2)).received).toBe(0);
  });

  it('refuses a policy whose netAdapterName does not exist, and changes nothing', async () => {
    const before = (await stats()).generation;
    await lab.reload(policy('priv', 'nosuchnic0'));
    await new Promise((r) => setTimeout(r, 1500));
    expect((await stats()).generation).toBe(before);
    expect(lab.agent!.log.join('')).toMatch(/switches\[2\]\.netAdapterName: no network device nosuchnic0/);
    expect((await ping(lab.ns('vm-e'), LAN_PEER, 2)).received).toBe(2);
  });

  it('refuses a static mapping on a port a host socket listens on, or a NAT prefix that overlaps, and changes nothing', async () => {
    const before = (await stats()).generation;
    const listener = spawnIn(lab.host, 'python3', ['-c', "import socket,time;s=socket.socket();s.bind(('0.0.0.0',9090));s.listen();time.sleep(20)"]);
    try {
      await waitFor(async () => (await runIn(lab.host, 'ss', ['-Htln', 'sport = :9090'])).stdout.includes('9090'), 5_000, 'listener on 9090');
      const p = policy();
      const taken = { ...p, nats: p.nats!.map((n) => ({ ...n, staticMappings: [...n.staticMappings, { protocol: 'TCP' as const, externalIPAddress: '0.0.0.0', externalPort: 9090, internalIPAddress: '172.30.0.11', internalPort: 80 }] })) };
      await lab.reload(taken);
      await waitFor(() => Promise.resolve(/staticMappings\[1\]\.externalPort: TCP 9090 is taken on host h1 by a listening socket/.test(lab.agent!.log.join(''))), 10_000, 'refusal logged');
      const overlap = { ...p, nats: [...p.nats!, { name: 'n2', internalIPInterfaceAddressPrefix: '172.30.0.0/25', staticMappings: [] }] };
      await lab.reload(overlap);
      await waitFor(() => Promise.resolve(/nats\[1\]\.internalIPInterfaceAddressPrefix: NAT prefix 172\.30\.0\.0\/25 overlaps NAT labnat/.test(lab.agent!.log.join(''))), 10_000, 'overlap logged');
    } finally {
      listener.kill();
    }
    expect((await stats()).generation).toBe(before);
    const rules = (await runIn(lab.host, 'nft', ['list', 'table', 'ip', 'switchyard_h1'])).stdout;
    expect(rules).toMatch(/dnat to 172\.30\.0\.10:80/);
    expect(rules).not.toMatch(/9090/);
    expect((await ping(lab.ns('vm-d'), OUT_PEER, 2)).received).toBe(2);
  });

  it('an ACL on a switch port: what its inbound rules allow, and replies of its own connections', async () => {
    const before = (await stats()).generation;
    const p = policy();
    const rule = { name: 'http', protocol: 'TCP' as const, sourceAddressPrefix: '*', destinationAddressPrefix: '*', sourcePortRange: '*', destinationPortRange: '80', action: 'Allow' as const, type: 'Inbound' as const, priority: 100 };
    const withAcl = { ...p, accessControlLists: [{ name: 'web-only', aclRules: [rule] }], networkInterfaces: p.networkInterfaces.map((n) => (n.name === 'vm-c' ? { ...n, accessControlList: 'web-only' } : n)) };
    await lab.reload(withAcl, before + 1);
    expect((await ping(lab.ns('vm-d'), '172.30.0.10', 2)).received).toBe(0);
    expect((await ping(lab.ns('vm-c'), '172.30.0.11', 2)).received).toBe(2);
    expect((await stats()).drops['acl-deny']).toBeGreaterThanOrEqual(2);
    await lab.reload(p, before + 2);
    expect((await ping(lab.ns('vm-d'), '172.30.0.10', 2)).received).toBe(2);
  });

  it('moves a port between switches with a policy update', async () => {
    const before = (await stats()).generation;
    await lab.reload(policy('int'), before + 1);
    await runIn(lab.ns('vm-b'), 'ip', ['addr', 'add', '172.30.0.12/24', 'dev', 'sy-vm-b']);
    expect((await ping(lab.ns('vm-b'), '172.30.0.11', 3)).received).toBe(3);
    expect((await ping(lab.ns('vm-a'), '192.168.77.2', 2)).received).toBe(0);
  });

  it('leaves nothing behind when the agent stops', async () => {
    await lab.agent!.stop();
    expect((await runIn(lab.host, 'nft', ['list', 'table', 'ip', 'switchyard_h1'], { allowFail: true })).code).not.toBe(0);
    expect((await runIn(lab.host, 'ip', ['link', 'show', 'sy-vs-int'], { allowFail: true })).code).not.toBe(0);
    expect((await runIn(lab.host, 'cat', ['/proc/sys/net/ipv4/ip_forward'])).stdout.trim()).toBe('0');
    const link = (await runIn(lab.host, 'ip', ['-d', '-j', 'link', 'show', 'ext0'])).stdout;
    expect((JSON.parse(link) as { promiscuity: number }[])[0]!.promiscuity).toBe(0);
    // the host's address on the NIC was never touched
    expect((await ping(lab.lan, LAN_HOST, 2)).received).toBe(2);
    expect((await run('ip', ['netns', 'list'])).stdout).toContain(lab.ns('vm-a'));
  });
});
