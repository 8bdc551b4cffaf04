// Issue 12, from the underlay: host2 is a real host of the policy, so its PA passes the outer
// source check; from host2's namespace scapy sends VXLAN datagrams (a raw socket, source port
// 47000: not the agent's socket, which keeps 4789) to host1 whose inner frame claims a source
// host2 does not own. Ingress step 4 of the isolation spec: the inner source must be an endpoint
// of that VSID placed on the host that owns the outer source PA, else `src-not-owned`. Control:
// the same datagram claiming host2's own port arrives. Lab: isolation-lab.ts.
import { ROOT_ONLY } from '../helpers/prerequisites.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { arrivals, describeFrames, newMarker } from './frame-counter.js';
import { eth, udp4, vxlan } from './isolation-frames.js';
import { T, dropsDuring, startIsolationLab, type IsolationLab, type Tenant } from './isolation-lab.js';
import { startScapySender, type ScapySender } from './scapy-sender.js';

describe('isolation: crafted VXLAN from a known PA (issue 12)', ROOT_ONLY, () => {
  let lab: IsolationLab;
  let tx: ScapySender;
  beforeAll(async () => {
    lab = await startIsolationLab();
    tx = await startScapySender(lab.host('host2').ns, 'l3');
  }, 90_000);
  afterAll(async () => {
    tx?.stop();
    await lab?.run.teardown();
  });

  /** Datagrams from host2's PA to host1's; what `to` saw and host1's drops meanwhile. */
  const inject = async (to: Tenant, m: string, datagrams: { vni: number; inner: string }[], opts: { stopAfter?: number } = {}) => {
    const src = lab.host('host2').pa;
    const dst = lab.host('host1').pa;
    let seen = -1;
    let arrived = '';
    const drops = await dropsDuring(lab.agent('host1'), async () => {
      const got = await arrivals([lab.at(to)], { marker: m, ...opts }, () => tx.send(datagrams.map((d) => vxlan(src, dst, d.vni, d.inner))));
      seen = got[0]!.count;
      arrived = `${to.name} got ${describeFrames(got[0]!)}`;
    });
    return { seen, drops, arrived };
  };
  /** An inner IPv4/UDP frame from (mac, ip) to tenant `to`. */
  const inner = (mac: string, ip: string, to: Tenant, m: string) => `${eth(mac, to.mac)}/${udp4(ip, to.ip, m)}`;

  it('(a) claiming a CA that lives on the receiving host itself: does not arrive', async () => {
    const m = newMarker('ul-self');
    const { seen, drops, arrived } = await inject(T.local, m, [{ vni: 5001, inner: inner(T.attacker.mac, T.attacker.ip, T.local, m) }]);
    expect.soft(seen, arrived).toBe(0);
    expect.soft(drops['src-not-owned'] ?? 0, `drops: ${JSON.stringify(drops)}`).toBeGreaterThanOrEqual(1);
  });

  it('(b) claiming a CA of a subnet the sending host has no port in: does not arrive', async () => {
    // host2 has no port in s2 (VSID 5002); one frame claims host3's s2 port, one a CA nobody has
    const m = newMarker('ul-nosubnet');
    const { seen, drops, arrived } = await inject(T.s2local, m, [
      { vni: 5002, inner: inner(T.s2away.mac, T.s2away.ip, T.s2local, m) },
      { vni: 5002, inner: inner('02:00:00:01:02:99', '10.1.2.99', T.s2local, m) },
    ]);
    expect.soft(seen, arrived).toBe(0);
    expect.soft(drops['src-not-owned'] ?? 0, `drops: ${JSON.stringify(drops)}`).toBeGreaterThanOrEqual(2);
  });

  it('(c) claiming a CA of another host: does not arrive', async () => {
    const m = newMarker('ul-other');
    const { seen, drops, arrived } = await inject(T.local, m, [{ vni: 5001, inner: inner(T.away.mac, T.away.ip, T.local, m) }]);
    expect.soft(seen, arrived).toBe(0);
    expect.soft(drops['src-not-owned'] ?? 0, `drops: ${JSON.stringify(drops)}`).toBeGreaterThanOrEqual(1);
  });

  it("(d) host2's own port's MAC with an address that port does not own: does not arrive", async () => {
    const m = newMarker('ul-ip');
    const { seen, drops, arrived } = await inject(T.local, m, [{ vni: 5001, inner: inner(T.remote.mac, '10.1.1.99', T.local, m) }]);
    expect.soft(seen, arrived).toBe(0);
    expect.soft(drops['src-not-owned'] ?? 0, `drops: ${JSON.stringify(drops)}`).toBeGreaterThanOrEqual(1);
  });

  it('control: the same datagram claiming the CA host2 really owns arrives', async () => {
    const m = newMarker('ul-own');
    const { seen } = await inject(T.local, m, [{ vni: 5001, inner: inner(T.remote.mac, T.remote.ip, T.local, m) }], { stopAfter: 1 });
    expect(seen).toBe(1);
  });

  it('both agents are still running afterwards', () => {
    expect(lab.agent('host1').child.exitCode).toBeNull();
    expect(lab.agent('host2').child.exitCode).toBeNull();
  });
});
