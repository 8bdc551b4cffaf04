/**
 * A one-host lab for the Hyper-V style switches (issue 14), used by the integration test, the
 * demo scene and the bench: namespace TAG-h1 runs the agent; TAG-out is "the outside network"
 * behind the host's NIC up0 (192.168.50.1 <-> 192.168.50.2; it has no route to the NAT'd
 * prefix); TAG-lan is a LAN behind the host's second NIC ext0 (10.60.0.1 <-> 10.60.0.2), the NIC
 * an External switch binds (a veth pair: this kernel has no dummy devices). Tenant namespaces
 * TAG-<nic> are made here and adopted by the agent; the VMs set their own addresses (`vmAddr`).
 */
import fs from 'node:fs';
import type { Policy } from '../policy/types.js';
import { makeRunDir, startAgent, writePolicy, type RunningAgent } from './agents.js';
import { newTag, removeNamespaces } from './topology.js';
import { run, runIn, waitFor } from './run.js';

export const OUT_HOST = '192.168.50.1';
export const OUT_PEER = '192.168.50.2';
export const LAN_HOST = '10.60.0.1';
export const LAN_PEER = '10.60.0.2';
export const INT_HOST = '172.30.0.1';

export const VM_MAC = { a: '02:00:00:00:04:0a', b: '02:00:00:00:04:0b', c: '02:00:00:00:04:0c', d: '02:00:00:00:04:0d', e: '02:00:00:00:04:0e' } as const;

/**
 * The lab's policy: switches priv (Private), int (Internal, host vNIC 172.30.0.1/24, NAT labnat
 * with TCP 8080 -> 172.30.0.10:80) and ext (External on ext0); VMs vm-a, vm-b on priv (vm-b on
 * `bSwitch`), vm-c, vm-d on int, vm-e on ext.
 */
export function switchLabPolicy(bSwitch = 'priv', extNic = 'ext0'): Policy {
  const nic = (name: keyof typeof VM_MAC, sw: string) => ({ name: `vm-${name}`, host: 'h1', switch: sw, macAddress: VM_MAC[name], netns: `vm-${name}` });
  return {
    hosts: [{ name: 'h1', providerAddresses: [OUT_HOST] }],
    virtualNetworks: [],
    accessControlLists: [],
    switches: [
      { name: 'priv', switchType: 'Private' },
      { name: 'int', switchType: 'Internal', hostAddress: `${INT_HOST}/24` },
      { name: 'ext', switchType: 'External', netAdapterName: extNic },
    ],
    nats: [{ name: 'labnat', internalIPInterfaceAddressPrefix: '172.30.0.0/24', staticMappings: [{ protocol: 'TCP', externalIPAddress: '0.0.0.0', externalPort: 8080, internalIPAddress: '172.30.0.10', internalPort: 80 }] }],
    networkInterfaces: [nic('a', 'priv'), nic('b', bSwitch), nic('c', 'int'), nic('d', 'int'), nic('e', 'ext')],
  };
}

/** The VMs' own addresses in the lab (vm-c also holds 192.168.77.3 on int: isolation checks). */
export async function addressVms(lab: SwitchLab): Promise<void> {
  await lab.vmAddr('vm-a', '192.168.77.1/24');
  await lab.vmAddr('vm-b', '192.168.77.2/24');
  await lab.vmAddr('vm-c', '172.30.0.10/24', INT_HOST);
  await runIn(lab.ns('vm-c'), 'ip', ['addr', 'add', '192.168.77.3/24', 'dev', 'sy-vm-c']);
  await lab.vmAddr('vm-d', '172.30.0.11/24', INT_HOST);
  await lab.vmAddr('vm-e', '10.60.0.20/24');
}

export interface SwitchLab {
  tag: string;
  host: string;
  out: string;
  lan: string;
  dir: string;
  policyFile: string;
  agent: RunningAgent | undefined;
  ns(nic: string): string;
  start(policy: Policy, agentArgs?: string[]): Promise<RunningAgent>;
  /** Rewrites the policy file and makes the agent re-read it (SIGHUP); waits for `generation`. */
  reload(policy: Policy, generation?: number): Promise<void>;
  /** Gives the VM's interface in its namespace an address (and a default route via `gw`). */
  vmAddr(nic: string, cidr: string, gw?: string): Promise<void>;
  destroy(): Promise<void>;
}

/** The policy's tenant namespaces with the lab's tag, adopted. */
function forLab(policy: Policy, ns: (n: string) => string): Policy {
  return { ...policy, networkInterfaces: policy.networkInterfaces.map((n) => (n.netns ? { ...n, netns: ns(n.name), netnsMode: 'adopt' as const } : { ...n })) };
}

export async function createSwitchLab(tag = newTag('vs')): Promise<SwitchLab> {
  const host = `${tag}-h1`;
  const out = `${tag}-out`;
  const lan = `${tag}-lan`;
  const made: string[] = [];
  const ns = (n: string): string => `${tag}-${n}`;
  const dir = makeRunDir(tag);
  let policyFile = '';
  const lab: SwitchLab = {
    tag, host, out, lan, dir, policyFile, agent: undefined, ns,
    async start(policy, agentArgs = ['--workers', '1']) {
      const p = forLab(policy, ns);
      for (const n of p.networkInterfaces) {
        if (!n.netns || made.includes(n.netns)) continue;
        await run('ip', ['netns', 'add', n.netns]);
        made.push(n.netns);
        await runIn(n.netns, 'ip', ['link', 'set', 'lo', 'up']);
      }
      policyFile = writePolicy(dir, p);
      lab.policyFile = policyFile;
      lab.agent = await startAgent(host, 'h1', policyFile, dir, agentArgs);
      return lab.agent;
    },
    async reload(policy, generation) {
      writePolicy(dir, forLab(policy, ns));
      const a = lab.agent!;
      a.child.kill('SIGHUP');
      if (generation === undefined) return;
      const { controlRequest } = await import('../agent/control-client.js');
      await waitFor(async () => ((await controlRequest(a.socket, { op: 'stats' })) as { generation: number }).generation >= generation, 15_000, `generation ${generation}`);
    },
    async vmAddr(nic, cidr, gw) {
      const n = ns(nic);
      const dev = (await runIn(n, 'ip', ['-o', 'link', 'show'])).stdout.split('\n').map((l) => l.split(': ')[1]?.split('@')[0]).find((d) => d && d !== 'lo');
      if (!dev) throw new Error(`no interface in ${n}`);
      await runIn(n, 'ip', ['addr', 'add', cidr, 'dev', dev]);
      if (gw) await runIn(n, 'ip', ['route', 'replace', 'default', 'via', gw]);
    },
    async destroy() {
      await lab.agent?.stop().catch(() => undefined);
      await removeNamespaces([...made, host, out, lan]);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    for (const n of [host, out, lan]) {
      await run('ip', ['netns', 'add', n]);
      await runIn(n, 'ip', ['link', 'set', 'lo', 'up']);
    }
    await runIn(host, 'ip', ['link', 'add', 'up0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', out]);
    await runIn(host, 'ip', ['link', 'add', 'ext0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', lan]);
    await runIn(host, 'ip', ['addr', 'add', `${OUT_HOST}/24`, 'dev', 'up0']);
    await runIn(host, 'ip', ['addr', 'add', `${LAN_HOST}/24`, 'dev', 'ext0']);
    await runIn(out, 'ip', ['addr', 'add', `${OUT_PEER}/24`, 'dev', 'eth0']);
    await runIn(lan, 'ip', ['addr', 'add', `${LAN_PEER}/24`, 'dev', 'eth0']);
    for (const [n, d] of [[host, 'up0'], [host, 'ext0'], [out, 'eth0'], [lan, 'eth0']] as const) await runIn(n, 'ip', ['link', 'set', d, 'up']);
    // frames from the LAN reach VMs through an AF_PACKET socket as they are: no partial checksums
    // or super-frames (FACTS.md: the veth partial-checksum effect)
    await runIn(lan, 'ethtool', ['-K', 'eth0', 'tx', 'off', 'tso', 'off', 'gso', 'off'], { allowFail: true });
  } catch (err) {
    await lab.destroy();
    throw err;
  }
  return lab;
}
