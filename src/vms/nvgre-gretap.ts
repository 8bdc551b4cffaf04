/**
 * NVGRE interop across the VMs: switchyard (vm1, host1 of examples/nvgre.yaml, contoso only)
 * against the guest kernel's gretap in vm2 standing in for host2: a gretap device with key =
 * VSID << 8 | FlowID, bridged to a veth whose other end, in namespace nv-web, carries contoso-web's
 * MAC and address. Ping and iperf3 TCP both ways; tcpdump shows one GRE frame as the wire has it;
 * the agent's drop counters must show no `malformed` (the agent turns GRO off on its underlay NIC,
 * else the guest kernel merges received GRE into super-frames the raw socket cannot take).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Say } from './progress.js';
import { LINK, type VmPair } from './pair.js';
import { fmtIperf, fmtPing, guestIperf, guestPing, type IperfResult, type PingResult } from './traffic.js';
import { fmtDrops, guestAgentDrops, startGuestAgent, stopGuestAgent, vmPolicy, writeSharedPolicy, type GuestAgent } from './guest-agent.js';

export interface NvgreResult {
  key: number;
  pingToKernel: PingResult;
  pingFromKernel: PingResult;
  tcpToKernel: IperfResult;
  tcpFromKernel: IperfResult;
  /** tcpdump's view of one GRE frame on vm1's link, if captured. */
  wire?: string;
  /** Non-zero drop counters of the switchyard agent (vm1) at the end. */
  drops?: Record<string, number>;
  ok: boolean;
}

const KNS = 'nv-web';

export async function runNvgreInterop(pair: VmPair, say: Say, o: { iperfSeconds: number }): Promise<NvgreResult> {
  const [vm1, vm2] = pair.vms;
  const policy = await vmPolicy('nvgre.yaml', (v) => v === 'contoso');
  const web = policy.networkInterfaces.find((n) => n.name === 'contoso-web')!;
  const sql = policy.networkInterfaces.find((n) => n.name === 'contoso-sql')!;
  const subnet = policy.virtualNetworks.find((v) => v.name === 'contoso')!.subnets.find((s) => s.name === web.subnet)!;
  const flowId = typeof subnet.nvgreFlowId === 'number' ? subnet.nvgreFlowId : 0;
  const key = subnet.vsid * 256 + flowId;
  const file = writeSharedPolicy(pair.shareDir, 'policy-nvgre.yaml', policy);
  say(`vm2: kernel gretap peer as host2: gretap key ${key} (VSID ${subnet.vsid} << 8), bridge, veth into namespace ${KNS} (${web.ipAddress}, ${web.macAddress})`);
  // The tenant MTU behind gretap: 1500 - outer IPv4 20 - GRE with key 8 - inner Ethernet 14.
  await vm2.exec(
    [
      'set -e',
      `ip link add gt-nv type gretap local ${LINK.vm2} remote ${LINK.vm1} key ${key}`,
      'ip link set gt-nv mtu 1458 up',
      'ip link add br-nv type bridge && ip link set br-nv up',
      'ip link set gt-nv master br-nv',
      `ip netns add ${KNS}`,
      `ip link add nv-web-h type veth peer name eth0 netns ${KNS}`,
      'ip link set nv-web-h mtu 1458 master br-nv up',
      `ip -n ${KNS} link set lo up`,
      `ip -n ${KNS} link set eth0 address ${web.macAddress} mtu 1458 up`,
      `ip -n ${KNS} addr add ${web.ipAddress}/24 dev eth0`,
    ].join('\n'),
  );
  let agent: GuestAgent | undefined;
  try {
    agent = await startGuestAgent(vm1, policy, file, 'host1', 'nvgre');
    say(`vm1: switchyard agent host1 with examples/nvgre.yaml (contoso only, NVGRE, PA ${LINK.vm1})`);
    const gro = await vm1.exec('ethtool -k eth0 | grep generic-receive-offload', { allowFail: true });
    if (gro.stdout.trim()) say(`vm1 eth0 ${gro.stdout.trim()}`);
    const cap = await vm1.exec(`setsid nohup timeout 30 tcpdump -i eth0 -nn -v -c 2 'ip proto 47' >/tmp/gre.txt 2>&1 </dev/null & echo $!`);
    await sleep(1500);
    const pingFromKernel = await guestPing(vm2, KNS, sql.ipAddress!, 5);
    say(`gretap (vm2) -> switchyard (vm1): ping ${fmtPing(pingFromKernel)}`);
    const pingToKernel = await guestPing(vm1, sql.netns, web.ipAddress!, 5);
    say(`switchyard (vm1) -> gretap (vm2): ping ${fmtPing(pingToKernel)}`);
    await vm1.exec(`kill ${Number(cap.stdout.trim())} 2>/dev/null; true`, { allowFail: true });
    const wireOut = (await vm1.exec('cat /tmp/gre.txt', { allowFail: true })).stdout;
    const wire = wireOut
      .split('\n')
      .find((l) => /GRE/.test(l) && /key=/.test(l))
      ?.trim();
    if (wire) say(`wire (vm1 eth0): ${wire.slice(0, 160)}`);
    const tcpFromKernel = await guestIperf({ vm: vm1, ns: sql.netns! }, { vm: vm2, ns: KNS }, sql.ipAddress!, o.iperfSeconds);
    say(`TCP gretap -> switchyard: ${fmtIperf(tcpFromKernel)}`);
    const tcpToKernel = await guestIperf({ vm: vm2, ns: KNS }, { vm: vm1, ns: sql.netns! }, web.ipAddress!, o.iperfSeconds);
    say(`TCP switchyard -> gretap: ${fmtIperf(tcpToKernel)}`);
    const ok =
      pingToKernel.received > 0 && pingFromKernel.received > 0 && !tcpToKernel.error && tcpToKernel.mbps > 0 && !tcpFromKernel.error && tcpFromKernel.mbps > 0;
    const res: NvgreResult = { key, pingToKernel, pingFromKernel, tcpToKernel, tcpFromKernel, ok };
    if (wire) res.wire = wire;
    const drops = await guestAgentDrops(agent);
    if (drops) res.drops = drops;
    say(`agent host1 (NVGRE) drops: ${fmtDrops(drops)}`);
    return res;
  } finally {
    if (agent) await stopGuestAgent(agent).catch(() => undefined);
    await vm2.exec(`ip netns del ${KNS}; ip link del br-nv; ip link del gt-nv; true`, { allowFail: true }).catch(() => undefined);
  }
}
