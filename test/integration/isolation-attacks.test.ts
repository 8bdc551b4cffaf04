// Issue 12, from a tenant port: crafted frames (scapy `sendp` on the attacker's interface) that
// try to get past source validation and the ACLs. Each attack asserts what arrived in the
// neighbours (a packet socket counts the run's marked frames) and, in a separate expect, the drop
// reason of the isolation spec (counted by the attacker's agent; soft expects, so a run
// shows delivery and reason apart). Each class has a control: the same kind of frame, sent
// honestly, that does arrive. Lab: isolation-lab.ts.
import { ROOT_ONLY } from '../helpers/prerequisites.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run, sleep } from '../../src/lab/run.js';
import { arrivals, countFrames, describeFrames, newMarker } from './frame-counter.js';
import { BROADCAST, TAGS, arp, dhcpDiscover, eth, honestUdp, udp4 } from './isolation-frames.js';
import { OPEN_PORT, T, dropsDuring, startIsolationLab, type IsolationLab, type Tenant } from './isolation-lab.js';
import { startScapySender, type ScapySender } from './scapy-sender.js';

const A = T.attacker;

describe('isolation: crafted frames from a tenant port (issue 12)', ROOT_ONLY, () => {
  let lab: IsolationLab;
  let tx: ScapySender;
  beforeAll(async () => {
    lab = await startIsolationLab();
    tx = await startScapySender(lab.ns(A), { l2: lab.iface(A) });
  }, 90_000);
  afterAll(async () => {
    tx?.stop();
    await lab?.run.teardown();
  });

  /** Sends `frames` from the attacker; what each of `to` saw, and host1's drops meanwhile. */
  const attack = async (to: Tenant[], marker: string | Buffer, frames: string[], opts: { stopAfter?: number } = {}) => {
    let seen: number[] = [];
    let arrived = '';
    const drops = await dropsDuring(lab.agent('host1'), async () => {
      const got = await arrivals(to.map((t) => lab.at(t)), { marker, ...opts }, () => tx.send(frames));
      seen = got.map((g) => g.count);
      arrived = got.map((g, i) => `${to[i]!.name} got ${describeFrames(g)}`).join('; ');
    });
    return { seen, drops, arrived };
  };

  describe('IPv6', () => {
    it('a link-local TCP SYN does not reach a port whose inbound ACL denies everything else', async () => {
      const m = newMarker('v6syn');
      const syn = `${eth(A.mac, T.victim.mac)}/IPv6(src='${A.ll6}', dst='${T.victim.ll6}')/TCP(sport=40001, dport=22, flags='S')/Raw(load=b'${m}')`;
      // a second counter on the victim: no IPv6 frame of any kind may arrive meanwhile
      const anyV6 = await countFrames(lab.ns(T.victim), lab.iface(T.victim), { filter: 'ip6', windowMs: 30_000 });
      const { seen, drops, arrived } = await attack([T.victim], m, [syn, syn, syn]).finally(() => anyV6.end());
      expect.soft(seen, arrived).toEqual([0]);
      expect.soft((await anyV6.done).count).toBe(0);
      expect.soft(drops['ipv6-disabled'] ?? 0, `drops: ${JSON.stringify(drops)}`).toBeGreaterThanOrEqual(3);
    });

    it('control: the allowed IPv4 flow arrives, a denied one does not (the ACL is in force)', async () => {
      const ok = newMarker('v4ok');
      const syn = (dport: number, mk: string) =>
        `${eth(A.mac, T.victim.mac)}/IP(src='${A.ip}', dst='${T.victim.ip}')/TCP(sport=40002, dport=${dport}, flags='S')/Raw(load=b'${mk}')`;
      expect((await attack([T.victim], ok, [syn(OPEN_PORT, ok)], { stopAfter: 1 })).seen).toEqual([1]);
      const no = newMarker('v4deny');
      const denied = await attack([T.victim], no, [syn(22, no)]);
      expect.soft(denied.seen, denied.arrived).toEqual([0]);
      expect(denied.drops['acl-deny'] ?? 0, `drops: ${JSON.stringify(denied.drops)}`).toBeGreaterThanOrEqual(1);
    });
  });

  describe('802.1Q / QinQ tagged IPv4 to a neighbour', () => {
    for (const [name, t] of Object.entries(TAGS)) {
      it(`${name}: does not arrive`, async () => {
        const m = newMarker('tag');
        const frame = (to: Tenant) => `${eth(A.mac, to.mac, t.ether)}/${t.tags}/${udp4(A.ip, to.ip, m)}`;
        const { seen, drops, arrived } = await attack([T.local, T.remote], m, [frame(T.local), frame(T.remote)]);
        expect.soft(seen, arrived).toEqual([0, 0]);
        expect.soft(drops['vlan-tagged'] ?? 0, `drops: ${JSON.stringify(drops)}`).toBeGreaterThanOrEqual(2);
      });
    }

    it('control: the same frame untagged arrives', async () => {
      const m = newMarker('untagged');
      const { seen } = await attack([T.local, T.remote], m, [honestUdp(A, T.local, m), honestUdp(A, T.remote, m)], { stopAfter: 1 });
      expect(seen).toEqual([1, 1]);
    });
  });

  describe('broadcast and multicast with a spoofed source IP', () => {
    const groupFrames = (src: string, m: string) => [
      `${eth(A.mac, BROADCAST)}/${udp4(src, '255.255.255.255', m)}`,
      `${eth(A.mac, BROADCAST)}/${udp4(src, '10.1.1.255', m)}`,
      `${eth(A.mac, '01:00:5e:00:00:fb')}/${udp4(src, '224.0.0.251', m)}`,
    ];

    it('from an address nobody owns: does not arrive', async () => {
      const m = newMarker('bcspoof');
      const { seen, drops, arrived } = await attack([T.local, T.remote], m, groupFrames('10.1.1.99', m));
      expect.soft(seen, arrived).toEqual([0, 0]);
      expect.soft(drops['spoofed'] ?? 0, `drops: ${JSON.stringify(drops)}`).toBeGreaterThanOrEqual(3);
    });

    it("from a neighbour's address: does not arrive", async () => {
      const m = newMarker('bcsteal');
      const { seen, drops, arrived } = await attack([T.local, T.remote], m, groupFrames(T.remote.ip, m));
      expect.soft(seen, arrived).toEqual([0, 0]);
      expect.soft(drops['spoofed'] ?? 0, `drops: ${JSON.stringify(drops)}`).toBeGreaterThanOrEqual(3);
    });

    it("control: from the port's own address: arrives at the local and the remote neighbour", async () => {
      const m = newMarker('bcown');
      const { seen } = await attack([T.local, T.remote], m, groupFrames(A.ip, m), { stopAfter: 3 });
      expect(seen).toEqual([3, 3]);
    });
  });

  describe("ARP claiming another endpoint's address does not poison a neighbour", () => {
    // the attacker claims 10.1.1.14 (the port `away`, on host3); the victims are `local` (same
    // host) and `remote` (host2), both with arp_accept=1
    const claimed = T.away.ip;
    const neigh = async (t: Tenant, ip: string) =>
      (await run('ip', ['netns', 'exec', lab.ns(t), 'ip', 'neigh', 'show', ip, 'dev', lab.iface(t)])).stdout.trim();
    const flush = async () => {
      for (const t of [T.local, T.remote]) await run('ip', ['netns', 'exec', lab.ns(t), 'ip', 'neigh', 'flush', 'dev', lab.iface(t)]);
    };
    const variants: Record<string, (m: string, tag?: string) => string[]> = {
      'gratuitous request (broadcast)': (m, tag) => [arp({ src: A.mac, dst: BROADCAST, tag, op: 1, sha: A.mac, spa: claimed, tha: '00:00:00:00:00:00', tpa: claimed, marker: m })],
      'gratuitous reply (broadcast)': (m, tag) => [arp({ src: A.mac, dst: BROADCAST, tag, op: 2, sha: A.mac, spa: claimed, tha: A.mac, tpa: claimed, marker: m })],
      'unicast reply to each neighbour': (m, tag) =>
        [T.local, T.remote].map((to) => arp({ src: A.mac, dst: to.mac, tag, op: 2, sha: A.mac, spa: claimed, tha: to.mac, tpa: to.ip, marker: m })),
    };
    for (const [tagName, tag] of [['untagged', undefined], ['VLAN 0 tagged', 'Dot1Q(vlan=0)']] as const) {
      for (const [name, frames] of Object.entries(variants)) {
        it(`${tagName} ${name}`, async () => {
          await flush();
          const m = newMarker('arp');
          const { seen, drops, arrived } = await attack([T.local, T.remote], m, frames(m, tag));
          const tables = [await neigh(T.local, claimed), await neigh(T.remote, claimed)];
          // the poisoning itself (what the issue is about), then delivery, then the reason
          expect.soft(tables.filter((l) => l.includes(A.mac)), `ip neigh: ${tables.join(' | ')}`).toEqual([]);
          expect.soft(seen, arrived).toEqual([0, 0]);
          expect.soft(drops[tag === undefined ? 'spoofed' : 'vlan-tagged'] ?? 0, `drops: ${JSON.stringify(drops)}`).toBeGreaterThanOrEqual(1);
        });
      }
    }

    it('control: an honest unicast reply (its own address) arrives and is learned', async () => {
      await flush();
      const m = newMarker('arpok');
      const frames = [T.local, T.remote].map((to) => arp({ src: A.mac, dst: to.mac, op: 2, sha: A.mac, spa: A.ip, tha: to.mac, tpa: to.ip, marker: m }));
      const { seen } = await attack([T.local, T.remote], m, frames, { stopAfter: 1 });
      expect(seen).toEqual([1, 1]);
      expect(await neigh(T.local, A.ip)).toContain(A.mac);
      expect(await neigh(T.remote, A.ip)).toContain(A.mac);
    });
  });

  describe('source 0.0.0.0', () => {
    it('UDP that is not a DHCP client broadcast: does not arrive', async () => {
      const m = newMarker('zero');
      const frames = [
        `${eth(A.mac, BROADCAST)}/${udp4('0.0.0.0', '255.255.255.255', m)}`,
        `${eth(A.mac, T.local.mac)}/${udp4('0.0.0.0', T.local.ip, m)}`,
        `${eth(A.mac, T.remote.mac)}/${udp4('0.0.0.0', T.remote.ip, m)}`,
        // DHCP's ports, but unicast: only the broadcast discover/request may come from 0.0.0.0
        `${eth(A.mac, T.local.mac)}/${udp4('0.0.0.0', T.local.ip, m, 68, 67)}`,
      ];
      const { seen, drops, arrived } = await attack([T.local, T.remote], m, frames);
      expect.soft(seen, arrived).toEqual([0, 0]);
      expect.soft(drops['spoofed'] ?? 0, `drops: ${JSON.stringify(drops)}`).toBeGreaterThanOrEqual(4);
    });

    it('a DHCP discover from 0.0.0.0 (a Static port) reaches no neighbour: DHCP is never forwarded', async () => {
      const m = newMarker('dhcp');
      const { seen, drops } = await attack([T.local, T.remote], m, [dhcpDiscover(A.mac, m)]);
      expect(seen).toEqual([0, 0]);
      expect(drops['dhcp'] ?? 0).toBeGreaterThanOrEqual(1);
    });
  });

  describe('router advertisements from a tenant port', () => {
    it('are not seen by the neighbours', async () => {
      // the marker is the advertised prefix itself (2001:db8:XXXX:XXXX::/64), unique to this run
      const m = newMarker('ra').slice(-8);
      const prefix = `2001:db8:${m.slice(0, 4)}:${m.slice(4, 8)}::`;
      const ra =
        `${eth(A.mac, '33:33:00:00:00:01')}/IPv6(src='${A.ll6}', dst='ff02::1', hlim=255)/ICMPv6ND_RA(routerlifetime=1800)` +
        `/ICMPv6NDOptSrcLLAddr(lladdr='${A.mac}')/ICMPv6NDOptPrefixInfo(prefix='${prefix}', prefixlen=64)`;
      const { seen, drops, arrived } = await attack([T.local, T.remote], Buffer.from(m, 'hex'), [ra, ra]);
      expect.soft(seen, arrived).toEqual([0, 0]);
      expect.soft(drops['ipv6-disabled'] ?? 0, `drops: ${JSON.stringify(drops)}`).toBeGreaterThanOrEqual(2);
    });

    it('control: IPv4 multicast from the same port arrives at the neighbours', async () => {
      const m = newMarker('mc');
      const { seen } = await attack([T.local, T.remote], m, [`${eth(A.mac, '01:00:5e:00:00:01')}/${udp4(A.ip, '224.0.0.1', m)}`], { stopAfter: 1 });
      expect(seen).toEqual([1, 1]);
    });
  });

  describe('an EtherType nobody allowed (0x88b5)', () => {
    it('unicast to a neighbour, and broadcast: does not arrive', async () => {
      const m = newMarker('88b5');
      const frames = [T.local, T.remote].map((to) => `${eth(A.mac, to.mac, 0x88b5)}/Raw(load=b'${m}')`);
      frames.push(`${eth(A.mac, BROADCAST, 0x88b5)}/Raw(load=b'${m}')`);
      const { seen, drops, arrived } = await attack([T.local, T.remote], m, frames);
      expect.soft(seen, arrived).toEqual([0, 0]);
      expect.soft(drops['ethertype'] ?? 0, `drops: ${JSON.stringify(drops)}`).toBeGreaterThanOrEqual(3);
    });

    it('control: the same payload as IPv4 arrives', async () => {
      const m = newMarker('88b5ok');
      const { seen } = await attack([T.local, T.remote], m, [honestUdp(A, T.local, m), honestUdp(A, T.remote, m)], { stopAfter: 1 });
      expect(seen).toEqual([1, 1]);
    });
  });

  it('the attacker port still forwards afterwards (no attack wedged the dataplane)', async () => {
    await sleep(100);
    const m = newMarker('after');
    const { seen } = await attack([T.local, T.remote], m, [honestUdp(A, T.local, m), honestUdp(A, T.remote, m)], { stopAfter: 1 });
    expect(seen).toEqual([1, 1]);
    expect(lab.agent('host1').child.exitCode).toBeNull();
  });
});
