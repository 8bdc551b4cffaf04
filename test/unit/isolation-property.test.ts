// Issue 12, item 7: the engine against the reference model of /work/notes/isolation-spec.md.
// For random policies (several tenants with the same CA prefixes and addresses, VXLAN and NVGRE
// subnets, random ACLs) and random frame sequences (every kind, mostly almost-valid), each
// frame's outcome in the engine - which ports got it, what crossed the underlay, what was answered
// back - must equal the model's; the drop reasons too (SWITCHYARD_FUZZ_REASONS=0 turns that
// comparison off). Independently of the model: no frame ever reaches a port (or a VSID on the
// underlay) of another virtual network than its sender's (for a datagram from the underlay: than
// its VSID's).
//
// Knobs (environment): SWITCHYARD_FUZZ_FRAMES (default 100000; `make fuzz` runs 1000000),
// SWITCHYARD_FUZZ_SEED, SWITCHYARD_FUZZ_KINDS (comma-separated frame kinds, see arbitraries.ts),
// SWITCHYARD_FUZZ_REASONS=0.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { Policy } from '../../src/policy/types.js';
import { EngineWorld } from '../reference/driver.js';
import { IsolationModel } from '../reference/isolation-model.js';
import { canonical, type Event, type Outcome } from '../reference/outcome.js';
import { FRAME_KINDS, World, arbPolicy, arbRecipe, realize, type FrameKind, type Recipe } from '../reference/arbitraries.js';

const FRAMES = Number(process.env.SWITCHYARD_FUZZ_FRAMES ?? 100_000);
const SEED = process.env.SWITCHYARD_FUZZ_SEED === undefined ? Date.now() % 1_000_000 : Number(process.env.SWITCHYARD_FUZZ_SEED);
const REASONS = process.env.SWITCHYARD_FUZZ_REASONS !== '0';
const KINDS = (process.env.SWITCHYARD_FUZZ_KINDS?.split(',').map((s) => s.trim()).filter(Boolean) ?? [...FRAME_KINDS]) as FrameKind[];
for (const k of KINDS) if (!FRAME_KINDS.includes(k)) throw new Error(`SWITCHYARD_FUZZ_KINDS: unknown kind ${k} (kinds: ${FRAME_KINDS.join(', ')})`);

/** Frames per generated world (the world is built once, then takes many frames). */
const PER_WORLD = 250;

function summary(policy: Policy): string {
  const lines = policy.networkInterfaces.map((n) => {
    const s = policy.virtualNetworks.find((v) => v.name === n.virtualNetwork)!.subnets.find((x) => x.name === n.subnet)!;
    const acl = [s.accessControlList && `subnet acl ${s.accessControlList}`, n.accessControlList && `acl ${n.accessControlList}`].filter(Boolean).join(', ');
    return `  ${n.host}/${n.name}: ${n.virtualNetwork}/${n.subnet} vsid ${s.vsid} ${s.encapsulation} ${s.addressPrefix} ${n.ipAddress} ${n.macAddress}${acl ? ` (${acl})` : ''}`;
  });
  const pas = policy.hosts.map((h) => `${h.name} ${h.providerAddresses.join(' ')}`).join('; ');
  const acls = policy.accessControlLists.map(
    (a) => `  ${a.name}: ${a.aclRules.map((r) => `${r.type} ${r.priority} ${r.action} ${r.protocol} ${r.sourceAddressPrefix}:${r.sourcePortRange} -> ${r.destinationAddressPrefix}:${r.destinationPortRange}`).join('; ')}`,
  );
  return `hosts: ${pas}\nports:\n${lines.join('\n')}\nacls:\n${acls.join('\n')}`;
}

/** The virtual network of the sender (a port's, or the VSID's for a datagram); undefined: none. */
function senderNetwork(policy: Policy, e: Event): string | undefined {
  if (e.kind === 'port') return policy.networkInterfaces.find((n) => n.host === e.host && n.name === e.port)!.virtualNetwork;
  const p = e.payload;
  const vsid = e.encap === 'vxlan' ? (p[12] << 16) | (p[13] << 8) | p[14] : (p[4] << 16) | (p[5] << 8) | p[6];
  return policy.virtualNetworks.find((v) => v.subnets.some((s) => s.vsid === vsid))?.name;
}

/** The model-free invariant: every delivery stays in the sender's virtual network. */
function crossings(policy: Policy, e: Event, got: Outcome): string[] {
  const vn = senderNetwork(policy, e);
  const bad: string[] = [];
  for (const d of got.deliveries) {
    const [what, where] = d.split(' ');
    if (what === 'port' || what === 'hairpin') {
      const [host, port] = where.split('/');
      const n = policy.networkInterfaces.find((x) => x.host === host && x.name === port);
      if (n?.virtualNetwork !== vn) bad.push(`${d} is in ${n?.virtualNetwork ?? 'no network'}, the sender in ${vn ?? 'none'}`);
    } else {
      const vsid = Number(d.split(' ').at(-1));
      const owner = policy.virtualNetworks.find((v) => v.subnets.some((s) => s.vsid === vsid))?.name;
      if (owner !== vn) bad.push(`${d}: VSID of ${owner ?? 'no network'}, the sender in ${vn ?? 'none'}`);
    }
  }
  return bad;
}

const stats = { frames: 0, ms: 0, disagreements: 0, outcomes: new Map<string, number>() };

/** What the frames did, by kind of outcome (shows the run exercised more than drops). */
function tally(o: Outcome): void {
  const keys = o.drops.length ? o.drops.map((d) => `drop ${d}`) : o.deliveries.length ? [...new Set(o.deliveries.map((d) => d.split(' ')[0]))] : ['nothing'];
  for (const k of keys) stats.outcomes.set(k, (stats.outcomes.get(k) ?? 0) + 1);
}

function checkWorld(policy: Policy, recipes: Recipe[]): void {
  const w = new World(policy);
  const model = new IsolationModel(policy);
  const engine = new EngineWorld(policy);
  const t0 = performance.now();
  for (let i = 0; i < recipes.length; i++) {
    const e = realize(w, recipes[i]);
    if (e === undefined) continue;
    const got = canonical(engine.run(e));
    const want = canonical(model.run(e));
    stats.frames++;
    tally(want);
    const crossed = crossings(policy, e, got);
    const deliveriesDiffer = JSON.stringify(got.deliveries) !== JSON.stringify(want.deliveries);
    const reasonsDiffer = REASONS && JSON.stringify(got.drops) !== JSON.stringify(want.drops);
    if (crossed.length > 0 || deliveriesDiffer || reasonsDiffer) {
      stats.disagreements++;
      const head = crossed.length > 0 ? `ISOLATION BROKEN: ${crossed.join('; ')}` : deliveriesDiffer ? 'deliveries differ' : 'drop reasons differ';
      throw new Error(
        `${head}\nframe ${i + 1} of ${recipes.length}: ${e.note}\n` +
          `engine: ${JSON.stringify(got)}\nspec:   ${JSON.stringify(want)}\n${summary(policy)}`,
      );
    }
  }
  stats.ms += performance.now() - t0;
}

describe('isolation: the engine against the reference model (issue 12)', () => {
  it(`every frame's outcome equals the spec's and never crosses virtual networks (${FRAMES} frames)`, () => {
    const prop = fc.property(arbPolicy, fc.array(arbRecipe(KINDS), { minLength: 1, maxLength: 2 * PER_WORLD, size: 'max' }), checkWorld);
    const started = performance.now();
    for (let round = 0; stats.frames < FRAMES; round++) {
      const runs = Math.max(1, Math.ceil((FRAMES - stats.frames) / PER_WORLD));
      fc.assert(prop, { numRuns: runs, seed: SEED + round, endOnFailure: process.env.SWITCHYARD_FUZZ_SHRINK === '0' });
    }
    const s = (performance.now() - started) / 1000;
    const outcomes = [...stats.outcomes].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ');
    console.log(`isolation property: ${stats.frames} frames in ${s.toFixed(1)} s (${Math.round(stats.frames / s)} frames/s with generation; ${Math.round(stats.frames / (stats.ms / 1000))} frames/s engine + model), seed ${SEED}\noutcomes: ${outcomes}`);
    expect(stats.frames).toBeGreaterThanOrEqual(FRAMES);
  }, 120_000 + FRAMES);
});
