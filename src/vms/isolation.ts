/**
 * Tenant isolation across the VMs: each tenant's web sends a marker datagram to its SQL address;
 * a listener in each receiving namespace reports what arrived. Tenants share addresses (Figure 8),
 * so only the payload tells whose frame reached whom.
 */
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Vm } from './vm.js';

const UDP_LISTENER = `// written by switchyard demo --vms: prints "ready", then each datagram's payload on its own line
const s = require('dgram').createSocket('udp4');
s.on('message', (m) => process.stdout.write(m.toString() + '\\n'));
s.on('error', (e) => { console.error(e.message); process.exit(1); });
s.bind(Number(process.argv[2]), () => process.stdout.write('ready\\n'));
setTimeout(() => process.exit(0), 120000);
`;

export interface IsolationCheck {
  from: { vm: Vm; ns: string };
  to: { vm: Vm; ns: string };
  addr: string;
  marker: string;
}

/** What each receiving namespace got; `shareDir` is the host side of the guests' /vm. */
export async function guestIsolation(shareDir: string, checks: IsolationCheck[], port = 7777): Promise<{ ns: string; got: string[] }[]> {
  fs.writeFileSync(path.join(shareDir, 'udp-listen.cjs'), UDP_LISTENER);
  const listeners: { vm: Vm; ns: string; pid: number; out: string }[] = [];
  try {
    for (const c of checks) {
      const out = `/tmp/udp-${c.to.ns}.out`;
      const r = await c.to.vm.exec(`setsid nohup ip netns exec ${c.to.ns} /usr/local/bin/node /vm/udp-listen.cjs ${port} >${out} 2>&1 </dev/null & echo $!`);
      listeners.push({ vm: c.to.vm, ns: c.to.ns, pid: Number(r.stdout.trim()), out });
    }
    for (const l of listeners) {
      await l.vm.exec(`for i in $(seq 150); do grep -q ready ${l.out} && exit 0; sleep 0.2; done; cat ${l.out}; exit 1`, { timeoutMs: 40_000 });
    }
    for (const c of checks) {
      await c.from.vm.exec(
        `ip netns exec ${c.from.ns} bash -c 'for i in 1 2 3; do printf %s ${c.marker} >/dev/udp/${c.addr}/${port}; sleep 0.3; done'`,
      );
    }
    await sleep(2000);
    const res: { ns: string; got: string[] }[] = [];
    for (const l of listeners) {
      const r = await l.vm.exec(`cat ${l.out}`, { allowFail: true });
      const got = [...new Set(r.stdout.split('\n').map((x) => x.trim()).filter((x) => x && x !== 'ready'))];
      res.push({ ns: l.ns, got });
    }
    return res;
  } finally {
    for (const l of listeners) await l.vm.exec(`kill ${l.pid} 2>/dev/null; true`, { allowFail: true }).catch(() => undefined);
  }
}
