/**
 * Bench figures of the Hyper-V style switch (issue 14), each against the kernel doing the same
 * job on the same shape of namespaces: TCP (iperf3, one stream) between two ports of an Internal
 * switch, from a port to the host (the host vNIC), and NAT'd from a port to an outside namespace
 * that has no route back. The kernel's side: a Linux bridge with the host's address on it, veth
 * ports (MTU 1450, as switchyard's ports), nftables masquerade on the host.
 */
import { natScript } from '../agent/nat.js';
import { iperf3 } from './probes.js';
import { run, runIn } from './run.js';
import { newTag, removeNamespaces } from './topology.js';
import { INT_HOST, OUT_HOST, OUT_PEER, addressVms, createSwitchLab, switchLabPolicy } from './vswitch.js';

export interface SwitchFigures {
  /** Gbit/s: port to port, port to host, NAT'd port to outside. */
  p2p: number;
  p2host: number;
  nat: number;
}

/** One iperf3 run, tried once more when it gives nothing (a server slow to start on a busy machine). */
async function tcp(server: string, client: string, addr: string, seconds: number): Promise<number> {
  try {
    return (await iperf3(server, client, addr, seconds)).gbps;
  } catch {
    return (await iperf3(server, client, addr, seconds)).gbps;
  }
}

async function measure(c: string, d: string, host: string, out: string, seconds: number): Promise<SwitchFigures> {
  const p2p = await tcp(d, c, '172.30.0.11', seconds);
  const p2host = await tcp(host, c, INT_HOST, seconds);
  const nat = await tcp(out, c, OUT_PEER, seconds);
  return { p2p, p2host, nat };
}

/** switchyard: the switch lab's Internal switch (vm-c, vm-d, host vNIC) and its NAT. */
export async function withSwitchyardSwitch(seconds: number, agentArgs: string[] = []): Promise<SwitchFigures> {
  return (await withBoth(seconds, agentArgs, false)).switchyard;
}

/** The kernel: a bridge with the host's address, veth ports, nftables masquerade. */
export async function withKernelBridge(seconds: number): Promise<SwitchFigures> {
  const kb = await kernelBridgeLab();
  try {
    return await measure(kb.c, kb.d, kb.h, kb.o, seconds);
  } finally {
    await kb.destroy();
  }
}

/**
 * Both set-ups at once, each case run on switchyard and on the kernel bridge before the next case,
 * `rounds` times: on a shared machine the load drifts within a run, and a ratio of two figures
 * taken minutes apart carries that drift. One round's ratio still swings by up to 2x here (the
 * bridge alone measured 9.5 to 19.4 Gbit/s within an hour), so the figures are medians over the
 * rounds, the ratio the median of each round's ratio; every other round runs the bridge first, so
 * that running second is no systematic edge (`kernel: false` skips the bridge: NaN for it).
 */
export async function withBoth(seconds: number, agentArgs: string[] = [], kernel = true, rounds = 1): Promise<{ switchyard: SwitchFigures; kernel: SwitchFigures; ratio: SwitchFigures }> {
  const lab = await createSwitchLab();
  let kb: Awaited<ReturnType<typeof kernelBridgeLab>> | undefined;
  try {
    await lab.start(switchLabPolicy(), agentArgs);
    await addressVms(lab);
    if (kernel) kb = await kernelBridgeLab();
    const c = lab.ns('vm-c');
    const sy: Record<string, [string, string]> = { p2p: [lab.ns('vm-d'), '172.30.0.11'], p2host: [lab.host, INT_HOST], nat: [lab.out, OUT_PEER] };
    const kk: Record<string, [string, string]> = kb ? { p2p: [kb.d, '172.30.0.11'], p2host: [kb.h, INT_HOST], nat: [kb.o, OUT_PEER] } : {};
    const runs = { switchyard: { p2p: [], p2host: [], nat: [] }, kernel: { p2p: [], p2host: [], nat: [] }, ratio: { p2p: [], p2host: [], nat: [] } } as Record<'switchyard' | 'kernel' | 'ratio', Record<keyof SwitchFigures, number[]>>;
    for (let r = 0; r < rounds; r++) {
      for (const k of ['p2p', 'p2host', 'nat'] as const) {
        const one = async (side: 'switchyard' | 'kernel') => {
          const g = side === 'switchyard' ? await tcp(sy[k][0], c, sy[k][1], seconds) : kb ? await tcp(kk[k][0], kb.c, kk[k][1], seconds) : NaN;
          runs[side][k].push(g);
        };
        if (r % 2 === 0) {
          await one('switchyard');
          await one('kernel');
        } else {
          await one('kernel');
          await one('switchyard');
        }
        runs.ratio[k].push(runs.switchyard[k][r]! / runs.kernel[k][r]!);
      }
    }
    const med = (v: number[]) => [...v].sort((x, y) => x - y)[Math.floor(v.length / 2)] ?? NaN;
    const pick = (side: 'switchyard' | 'kernel' | 'ratio'): SwitchFigures => ({ p2p: med(runs[side].p2p), p2host: med(runs[side].p2host), nat: med(runs[side].nat) });
    return { switchyard: pick('switchyard'), kernel: pick('kernel'), ratio: pick('ratio') };
  } finally {
    await lab.destroy();
    await kb?.destroy();
  }
}

/** The kernel's lab: a bridge with the host's address, veth ports, nftables masquerade. */
export async function kernelBridgeLab(): Promise<{ h: string; o: string; c: string; d: string; destroy(): Promise<void> }> {
  const tag = newTag('kb');
  const [h, o, c, d] = ['h', 'out', 'c', 'd'].map((n) => `${tag}-${n}`) as [string, string, string, string];
  const destroy = () => removeNamespaces([h, o, c, d]);
  try {
    for (const n of [h, o, c, d]) {
      await run('ip', ['netns', 'add', n]);
      await runIn(n, 'ip', ['link', 'set', 'lo', 'up']);
    }
    await runIn(h, 'ip', ['link', 'add', 'br0', 'type', 'bridge']);
    await runIn(h, 'ip', ['addr', 'add', `${INT_HOST}/24`, 'dev', 'br0']);
    for (const [ns, port, addr] of [[c, 'vc', '172.30.0.10/24'], [d, 'vd', '172.30.0.11/24']] as const) {
      await runIn(h, 'ip', ['link', 'add', port, 'mtu', '1450', 'type', 'veth', 'peer', 'name', 'eth0', 'mtu', '1450', 'netns', ns]);
      await runIn(h, 'ip', ['link', 'set', port, 'master', 'br0', 'up']);
      await runIn(ns, 'ip', ['addr', 'add', addr, 'dev', 'eth0']);
      await runIn(ns, 'ip', ['link', 'set', 'eth0', 'up']);
      await runIn(ns, 'ip', ['route', 'add', 'default', 'via', INT_HOST]);
    }
    await runIn(h, 'ip', ['link', 'set', 'br0', 'up']);
    await runIn(h, 'ip', ['link', 'add', 'up0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', o]);
    await runIn(h, 'ip', ['addr', 'add', `${OUT_HOST}/24`, 'dev', 'up0']);
    await runIn(o, 'ip', ['addr', 'add', `${OUT_PEER}/24`, 'dev', 'eth0']);
    await runIn(h, 'ip', ['link', 'set', 'up0', 'up']);
    await runIn(o, 'ip', ['link', 'set', 'eth0', 'up']);
    await runIn(h, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
    // the same rules the agent writes (agent/nat.ts), on the bridge
    const nat = { name: 'kb', internalIPInterfaceAddressPrefix: '172.30.0.0/24', staticMappings: [] };
    await run('ip', ['netns', 'exec', h, 'nft', '-f', '-'], { input: natScript('kb', [{ nat, hostIfname: 'br0' }]) });
  } catch (err) {
    await destroy();
    throw err;
  }
  return { h, o, c, d, destroy };
}
