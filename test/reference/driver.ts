/**
 * The ONLY file of the property test that touches the engine. It builds one Forwarder per host
 * with memory ports and memory uplinks joined by a MemoryUnderlay, runs one event (a frame into a
 * port, or an encapsulated datagram into a host's uplink from any outer source), polls every host
 * until nothing moves, and reports what came out where in the words of ./outcome.ts: frames
 * written into ports (a frame written into the port that sent the event is a hairpin answer),
 * datagrams that crossed the underlay (decoded to sending host, receiving host, kind, VSID), and
 * the drop counters that moved (by name, from the counter names, so new reasons need no change
 * here).
 *
 * Engine API this file depends on (adapt here when it changes; nothing else in test/reference
 * knows about the engine):
 *   A. compileSnapshot(policy, hostName, generation)            -> snapshot        (makeHost)
 *   B. new Forwarder({ ports: [], vxlan, nvgre }, snapshot, { now }) (makeHost)
 *   C. snapshot.portByName.get(name) -> port id; fwd.setPort(id, MemoryPort); fwd.pollPort(id)
 *   D. fwd.pollUplink('vxlan' | 'nvgre')                                           (settle)
 *   E. fwd.counters.global[i] with COUNTER_NAMES[i] === 'drop-<reason>'            (dropCounters)
 *   F. MemoryUplink/MemoryUnderlay (src/io/memory.ts): push(payload, srcPa), log  (run, encaps)
 *   G. fwd.setSnapshot(snapshot) takes effect before the next batch                (reload)
 */
import { MemoryPort, MemoryUnderlay, MemoryUplink } from '../../src/io/memory.js';
import { Forwarder } from '../../src/dataplane/forwarder.js';
import { COUNTER_NAMES } from '../../src/dataplane/counters.js';
import { compileSnapshot } from '../../src/vfp/snapshot.js';
import { IdRegistry } from '../../src/vfp/ids.js';
import { parseIpv4 } from '../../src/policy/addr.js';
import type { Policy } from '../../src/policy/types.js';
import { encapDelivery, hairpinDelivery, portDelivery, type Event, type Outcome } from './outcome.js';

interface EngineHost {
  name: string;
  fwd: Forwarder;
  /** Port name -> its memory device and the engine's id for it. */
  ports: { name: string; id: number; dev: MemoryPort }[];
  vx: MemoryUplink;
  nv: MemoryUplink;
  /** Stable port and virtual-network ids across reloads (the agent keeps one the same way). */
  ids: IdRegistry;
}

/** A fixed clock: nothing times out during a run (the model has no timeouts). */
const NOW = 1_000_000;

/** Indices of the drop counters in the global counter array, with their reason names. */
const DROP_COUNTERS: { index: number; reason: string }[] = COUNTER_NAMES.flatMap((name, index) => (name.startsWith('drop-') ? [{ index, reason: name.slice(5) }] : []));

export class EngineWorld {
  private readonly hosts: EngineHost[] = [];
  private readonly underlay = new MemoryUnderlay(true);
  /** Provider address -> host name. */
  private readonly paHost = new Map<number, string>();
  private generation = 1;

  constructor(policy: Policy) {
    for (const h of policy.hosts) {
      const pas = h.providerAddresses.map((a) => parseIpv4(a)!);
      for (const pa of pas) this.paHost.set(pa, h.name);
      this.hosts.push(this.makeHost(policy, h.name, pas));
    }
  }

  private makeHost(policy: Policy, name: string, pas: number[]): EngineHost {
    const ids = new IdRegistry(); // as the agent: one registry per host for its lifetime
    const snap = compileSnapshot(policy, name, 1, { ids }); // A
    const vx = new MemoryUplink('vxlan', { localAddrs: pas });
    const nv = new MemoryUplink('nvgre', { localAddrs: pas });
    this.underlay.attach(vx);
    this.underlay.attach(nv);
    const fwd = new Forwarder({ ports: [], vxlan: vx, nvgre: nv }, snap, { now: () => NOW }); // B
    const ports: EngineHost['ports'] = [];
    for (const n of policy.networkInterfaces) {
      if (n.host !== name) continue;
      const id = snap.portByName.get(n.name); // C
      if (id === undefined) throw new Error(`driver: the snapshot of ${name} has no port ${n.name}`);
      const dev = new MemoryPort(n.name);
      fwd.setPort(id, dev);
      ports.push({ name: n.name, id, dev });
    }
    // the host's own ports (a switch's host vNIC and bound NIC, a gateway vNIC): by the names the
    // snapshot gives them, which the model knows from the README's words
    for (const [pname, id] of snap.portByName) {
      if (ports.some((p) => p.name === pname)) continue;
      const dev = new MemoryPort(pname);
      fwd.setPort(id, dev);
      ports.push({ name: pname, id, dev });
    }
    return { name, fwd, ports, vx, nv, ids };
  }

  /** A new snapshot on every host; ports keep their devices (re-attached if their id moved). */
  private reload(policy: Policy): void {
    this.generation++;
    for (const h of this.hosts) {
      const snap = compileSnapshot(policy, h.name, this.generation, { ids: h.ids }); // A
      h.fwd.setSnapshot(snap); // G
      for (const p of h.ports) {
        const id = snap.portByName.get(p.name); // C
        if (id === undefined) throw new Error(`driver: the reloaded snapshot of ${h.name} has no port ${p.name}`);
        if (id !== p.id) {
          h.fwd.setPort(p.id, undefined);
          h.fwd.setPort(id, p.dev);
          p.id = id;
        }
      }
    }
  }

  private host(name: string): EngineHost {
    const h = this.hosts.find((x) => x.name === name);
    if (!h) throw new Error(`driver: no host ${name}`);
    return h;
  }

  private dropCounters(): Float64Array {
    const out = new Float64Array(DROP_COUNTERS.length);
    for (const h of this.hosts) {
      const g = h.fwd.counters.global; // E
      for (let k = 0; k < DROP_COUNTERS.length; k++) out[k] += g[DROP_COUNTERS[k].index];
    }
    return out;
  }

  /** Polls every host's ports and uplinks until nothing is pending. */
  private settle(): void {
    for (let round = 0; round < 16; round++) {
      let moved = false;
      for (const h of this.hosts) {
        for (const p of h.ports) {
          if (p.dev.pending > 0) {
            moved = true;
            h.fwd.pollPort(p.id); // C
          }
        }
        if (h.vx.pending > 0) {
          moved = true;
          h.fwd.pollUplink('vxlan'); // D
        }
        if (h.nv.pending > 0) {
          moved = true;
          h.fwd.pollUplink('nvgre'); // D
        }
      }
      if (!moved) return;
    }
    throw new Error('driver: the hosts did not settle in 16 rounds');
  }

  /** Runs one event and returns what it did, on every host. */
  run(e: Event): Outcome {
    if (e.kind === 'reload') {
      this.reload(e.policy);
      return { deliveries: [], drops: [] };
    }
    const before = this.dropCounters();
    const h = this.host(e.host);
    if (e.kind === 'port') {
      const p = h.ports.find((x) => x.name === e.port);
      if (!p) throw new Error(`driver: no port ${e.host}/${e.port}`);
      if (!p.dev.push(e.frame)) throw new Error('driver: port queue full');
    } else {
      const up = e.encap === 'vxlan' ? h.vx : h.nv;
      if (!up.push(e.payload, e.srcPa)) throw new Error('driver: uplink queue full'); // F
    }
    this.settle();
    const deliveries: string[] = [];
    for (const x of this.hosts) {
      for (const p of x.ports) {
        const n = p.dev.pullAll().length;
        const hairpin = e.kind === 'port' && x.name === e.host && p.name === e.port;
        for (let i = 0; i < n; i++) deliveries.push(hairpin ? hairpinDelivery(x.name, p.name) : portDelivery(x.name, p.name));
      }
    }
    deliveries.push(...this.encaps());
    const after = this.dropCounters();
    const drops: string[] = [];
    for (let k = 0; k < DROP_COUNTERS.length; k++) {
      for (let n = after[k] - before[k]; n > 0; n--) drops.push(DROP_COUNTERS[k].reason);
    }
    return { deliveries, drops };
  }

  /** The datagrams that crossed the underlay since the last call, decoded. */
  private encaps(): string[] {
    const out: string[] = [];
    for (const d of this.underlay.log) {
      // F: d.frame is the outer IPv4 payload: UDP(8) + VXLAN(8) + inner, or GRE(8) + inner
      const b = d.frame;
      const vsid = d.kind === 'vxlan' ? (b[12] << 16) | (b[13] << 8) | b[14] : (b[4] << 16) | (b[5] << 8) | b[6];
      out.push(encapDelivery(this.paHost.get(d.src) ?? `?${d.src}`, this.paHost.get(d.dst) ?? `?${d.dst}`, d.kind, vsid));
    }
    this.underlay.log.length = 0;
    return out;
  }
}
