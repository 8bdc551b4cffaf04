/**
 * NAT networking (issue 14; Hyper-V's New-NetNat / Add-NetNatStaticMapping) by the kernel's
 * nftables, programmed by the agent as libvirt and Docker do. Why the kernel and not a NAT layer
 * in the engine: the NAT'd traffic crosses the host's own stack anyway (the ports reach it through
 * the Internal switch's host vNIC, and the host's address is the one outside sees), and the
 * kernel's conntrack already does ports, timeouts, ICMP errors, fragments and helpers right; a
 * second NAT in userspace would add a copy per frame and its own port allocator for no gain.
 *
 * One table per agent, `ip switchyard_<host>` (so agents of several hosts on one machine, and
 * tests in parallel, never touch each other's rules). Applying is one `nft -f` transaction that
 * creates the table if missing, deletes it and writes it whole: idempotent, atomic, and a restarted
 * agent replaces what a crashed one left. Per NAT: masquerade of its internal prefix to anywhere
 * outside it (leaving through any interface but the switch's host vNIC), and per static mapping a
 * DNAT of (protocol, external address or any, external port) to the internal address and port,
 * for packets arriving from outside (prerouting) and for the host itself (output). The agent
 * enables IPv4 forwarding in its namespace while a NAT exists, and puts back the value it found
 * when the last NAT goes or the agent stops.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import { promisify } from 'node:util';
import type { Nat } from '../policy/types.js';

const run = promisify(execFile);
const FORWARD = '/proc/sys/net/ipv4/ip_forward';

/** The nftables table name of host `host`'s agent. */
export function natTableName(host: string): string {
  return `switchyard_${host.replace(/[^A-Za-z0-9_]/g, '_')}`;
}

/** What a NAT needs from the switch (or HNV gateway, hnv-gateway.ts) it serves: the host vNIC's
 * device name; `masquerade: false` (a routed gateway) writes no masquerade rule but keeps IPv4
 * forwarding on like any plan. */
export interface NatPlan {
  nat: Nat;
  hostIfname: string;
  masquerade?: boolean;
}

/** The whole table as an nft script (also what `ctl` and tests print). */
export function natScript(table: string, plans: readonly NatPlan[]): string {
  const pre: string[] = [];
  const out: string[] = [];
  const post: string[] = [];
  for (const { nat, hostIfname, masquerade } of plans) {
    const prefix = nat.internalIPInterfaceAddressPrefix;
    if (masquerade !== false) post.push(`    ip saddr ${prefix} ip daddr != ${prefix} oifname != "${hostIfname}" masquerade comment "${nat.name}"`);
    for (const m of nat.staticMappings) {
      const proto = m.protocol.toLowerCase();
      const daddr = m.externalIPAddress === '0.0.0.0' ? '' : `ip daddr ${m.externalIPAddress} `;
      const rule = `${daddr}${proto} dport ${m.externalPort} dnat to ${m.internalIPAddress}:${m.internalPort} comment "${nat.name}"`;
      pre.push(`    iifname != "${hostIfname}" ${rule}`);
      out.push(`    ${rule}`);
    }
  }
  return [
    `table ip ${table} {}`,
    `delete table ip ${table}`,
    `table ip ${table} {`,
    '  chain prerouting {',
    '    type nat hook prerouting priority dstnat; policy accept;',
    ...pre,
    '  }',
    '  chain output {',
    '    type nat hook output priority -100; policy accept;',
    ...out,
    '  }',
    '  chain postrouting {',
    '    type nat hook postrouting priority srcnat; policy accept;',
    ...post,
    '  }',
    '}',
    '',
  ].join('\n');
}

async function nft(script: string): Promise<void> {
  const child = run('nft', ['-f', '-']);
  child.child.stdin?.end(script);
  try {
    await child;
  } catch (err) {
    const e = err as { stderr?: string; code?: string | number; message: string };
    if (e.code === 'ENOENT') throw new Error('NAT needs nftables: the nft command is not installed (Debian package nftables)', { cause: err });
    throw new Error(`nft: ${(e.stderr ?? e.message).trim()}`, { cause: err });
  }
}

export class HostNat {
  private applied = false;
  /** The ip_forward value found before this agent set it (undefined: not changed). */
  private forwardBefore: string | undefined;

  constructor(readonly table: string) {}

  /** Makes the table exactly `plans` (none: removes it). */
  async apply(plans: readonly NatPlan[]): Promise<void> {
    if (plans.length === 0) return this.remove();
    await nft(natScript(this.table, plans));
    this.applied = true;
    const now = fs.readFileSync(FORWARD, 'utf8').trim();
    if (now !== '1') {
      this.forwardBefore ??= now;
      fs.writeFileSync(FORWARD, '1');
    }
  }

  /** Removes the table (also one a crashed agent of this host left) and restores ip_forward. */
  async remove(): Promise<void> {
    try {
      await nft(`table ip ${this.table} {}\ndelete table ip ${this.table}\n`);
    } catch (err) {
      // a leftover check on a host that never had a NAT (maybe no nftables at all) is no error
      if (this.applied) throw err;
    }
    this.applied = false;
    if (this.forwardBefore !== undefined) {
      fs.writeFileSync(FORWARD, this.forwardBefore);
      this.forwardBefore = undefined;
    }
  }

  get active(): boolean {
    return this.applied;
  }
}
