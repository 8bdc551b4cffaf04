/**
 * Figure 8 of the HNV paper as network namespaces: two hosts on different underlay subnets
 * (192.168.1.0/24 and 192.168.2.0/24) joined by a router namespace; veth pairs stand for the
 * physical NICs. Tenant namespaces are made by the agents (from the policy's `netns`); this module
 * only makes the hosts and the underlay. Every name carries a per-run tag so runs never collide,
 * and destroy() removes everything that carries the tag, also after a failure.
 */
import { run, runIn } from './run.js';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface LabHost {
  /** Policy host name (host1, host2). */
  name: string;
  /** Namespace the host's agent (or kernel peer) runs in. */
  ns: string;
  /** The provider address on the underlay veth. */
  pa: string;
  /** Underlay device inside `ns`. */
  dev: string;
  /** With `twoPas`: the second NIC's PA, device, and the router's device facing it. */
  pa2?: string;
  dev2?: string;
  routerDev2?: string;
}

export interface Figure8Lab {
  tag: string;
  router: string;
  hosts: [LabHost, LabHost];
  /** Namespace name for a tenant interface of the policy (tag-prefixed). */
  tenantNs(nicName: string): string;
  /** Removes the namespaces (and what runs in them) and the run's temp directories (policy, logs,
   * captures) unless `keepLogs` or SWITCHYARD_KEEP_LOGS=1. */
  destroy(opts?: { keepLogs?: boolean }): Promise<void>;
}

/** A short tag unique to this run: namespace names stay readable and short. */
export function newTag(prefix = 'sy'): string {
  return `${prefix}${randomBytes(3).toString('hex')}`;
}

/** Lists namespaces whose names start with `tag-`. */
export async function namespacesWithTag(tag: string): Promise<string[]> {
  const r = await run('ip', ['netns', 'list'], { allowFail: true });
  return r.stdout
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => n.startsWith(`${tag}-`));
}

/** The temp directories made for this tag (lab/agents.ts makeRunDir: os.tmpdir()/TAG-XXXXXX). */
function removeRunDirs(tag: string): void {
  for (const d of fs.readdirSync(os.tmpdir())) {
    if (d.startsWith(`${tag}-`)) fs.rmSync(path.join(os.tmpdir(), d), { recursive: true, force: true });
  }
}

/** Kills every process inside the namespaces and deletes them. */
export async function removeNamespaces(names: string[]): Promise<void> {
  for (const ns of names) {
    const pids = await run('ip', ['netns', 'pids', ns], { allowFail: true });
    for (const pid of pids.stdout.split('\n').filter(Boolean)) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    await run('ip', ['netns', 'del', ns], { allowFail: true });
  }
}

/**
 * Builds the two-host underlay: host1 192.168.1.10, host2 192.168.2.20, router in between. With
 * `twoPas` each host gets a second NIC and PA (host1 192.168.3.10, host2 192.168.4.20) on its own
 * router link, with source routing so each PA's traffic leaves through its own NIC, as a
 * multi-homed hypervisor is set up.
 */
export async function createFigure8Lab(opts: { tag?: string; underlayMtu?: number; twoPas?: boolean } = {}): Promise<Figure8Lab> {
  const tag = opts.tag ?? newTag();
  const router = `${tag}-rt`;
  const hosts: [LabHost, LabHost] = [
    { name: 'host1', ns: `${tag}-h1`, pa: '192.168.1.10', dev: 'eth0' },
    { name: 'host2', ns: `${tag}-h2`, pa: '192.168.2.20', dev: 'eth0' },
  ];
  const lab: Figure8Lab = {
    tag,
    router,
    hosts,
    tenantNs: (nic) => `${tag}-${nic}`,
    destroy: async (o) => {
      await removeNamespaces(await namespacesWithTag(tag));
      if (!o?.keepLogs && process.env.SWITCHYARD_KEEP_LOGS !== '1') removeRunDirs(tag);
    },
  };
  try {
    for (const ns of [router, hosts[0].ns, hosts[1].ns]) await run('ip', ['netns', 'add', ns]);
    await runIn(router, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
    await runIn(router, 'ip', ['link', 'set', 'lo', 'up']);
    const gw = ['192.168.1.1', '192.168.2.1'];
    for (let i = 0; i < 2; i++) {
      const h = hosts[i]!;
      const rdev = `r${i + 1}`;
      // veth made inside the router namespace, host end moved into the host namespace
      await runIn(router, 'ip', ['link', 'add', rdev, 'type', 'veth', 'peer', 'name', h.dev, 'netns', h.ns]);
      await runIn(router, 'ip', ['addr', 'add', `${gw[i]}/24`, 'dev', rdev]);
      await runIn(router, 'ip', ['link', 'set', rdev, 'mtu', String(opts.underlayMtu ?? 1500), 'up']);
      await runIn(h.ns, 'ip', ['link', 'set', 'lo', 'up']);
      await runIn(h.ns, 'ip', ['addr', 'add', `${h.pa}/24`, 'dev', h.dev]);
      await runIn(h.ns, 'ip', ['link', 'set', h.dev, 'mtu', String(opts.underlayMtu ?? 1500), 'up']);
      await runIn(h.ns, 'ip', ['route', 'add', 'default', 'via', gw[i]!]);
    }
    if (opts.twoPas) {
      const pa2 = ['192.168.3.10', '192.168.4.20'];
      const gw2 = ['192.168.3.1', '192.168.4.1'];
      for (let i = 0; i < 2; i++) {
        const h = hosts[i]!;
        const rdev = `r${i + 3}`;
        Object.assign(h, { pa2: pa2[i], dev2: 'eth1', routerDev2: rdev });
        await runIn(router, 'ip', ['link', 'add', rdev, 'type', 'veth', 'peer', 'name', 'eth1', 'netns', h.ns]);
        await runIn(router, 'ip', ['addr', 'add', `${gw2[i]}/24`, 'dev', rdev]);
        await runIn(router, 'ip', ['link', 'set', rdev, 'mtu', String(opts.underlayMtu ?? 1500), 'up']);
        await runIn(h.ns, 'ip', ['addr', 'add', `${pa2[i]}/24`, 'dev', 'eth1']);
        await runIn(h.ns, 'ip', ['link', 'set', 'eth1', 'mtu', String(opts.underlayMtu ?? 1500), 'up']);
        // source routing: what leaves from PA2 goes out of eth1
        await runIn(h.ns, 'ip', ['route', 'add', 'default', 'via', gw2[i]!, 'dev', 'eth1', 'table', '102']);
        await runIn(h.ns, 'ip', ['rule', 'add', 'from', pa2[i]!, 'table', '102']);
      }
    }
  } catch (err) {
    await lab.destroy();
    throw err;
  }
  return lab;
}
