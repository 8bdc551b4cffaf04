/**
 * A tenant port: the TAP device of one network interface. Created in the agent's namespace and,
 * when the policy names a `netns`, moved there and configured like a VM's NIC: MAC, address and
 * prefix, MTU (underlay MTU minus the encapsulation overhead), up, and a default route via the
 * subnet's gateway (the distributed router). A tenant namespace the agent had to create is
 * deleted again when the port goes.
 */
import { TapQueue } from '../io/tap.js';
import { addrAdd, linkConfigure, linkSetNetns, linkSetUp, netnsAdd, netnsDelete, netnsExists, routeAddDefault, type NetdevError } from '../io/netdev.js';
import type { PortInfo } from '../vfp/snapshot.js';
import { ENCAP_OVERHEAD } from './underlay.js';
import type { Logger } from './logger.js';

export interface TenantPort {
  info: PortInfo;
  queue: TapQueue;
  remove(): Promise<void>;
}

/**
 * Moves the TAP into the tenant namespace. During a live migration between two hosts of one
 * machine (the lab) the old host may not have removed its device of the same name yet: wait for
 * it a little rather than fail.
 */
async function moveIntoNamespace(ifname: string, ns: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await linkSetNetns(ifname, ns);
      return;
    } catch (err) {
      if ((err as NetdevError).code !== 'EEXIST' || attempt >= 50) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

export async function createTenantPort(info: PortInfo, underlayMtu: number, log: Logger): Promise<TenantPort> {
  const mtu = underlayMtu - ENCAP_OVERHEAD[info.encapsulation];
  const queue = TapQueue.open(info.ifname, {});
  let madeNs = false;
  const remove = async (): Promise<void> => {
    queue.close();
    if (madeNs && info.netns) await netnsDelete(info.netns, true);
  };
  try {
    if (info.netns) {
      if (!(await netnsExists(info.netns))) {
        await netnsAdd(info.netns);
        madeNs = true;
      }
      const ns = info.netns;
      await moveIntoNamespace(info.ifname, ns);
      await linkSetUp('lo', ns);
      await linkConfigure(info.ifname, { mac: info.macText, mtu, up: true }, ns);
      await addrAdd(info.ifname, `${info.ipText}/${info.prefixLen}`, ns);
      await routeAddDefault(info.gatewayText, info.ifname, ns);
    } else {
      // no namespace: a VM (or a bridge) attaches to the TAP here; it carries the tenant's MAC
      await linkConfigure(info.ifname, { mtu, up: true });
    }
  } catch (err) {
    await remove().catch(() => undefined);
    throw new Error(`port ${info.name} (${info.ifname}): ${(err as Error).message}`, { cause: err });
  }
  log.info({ port: info.name, ifname: info.ifname, netns: info.netns, mtu, ip: info.ipText, vsid: info.vsid }, 'port up');
  return { info, queue, remove };
}
