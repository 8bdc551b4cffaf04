// The hardware_vtep southbound (issue 20) against a real ovsdb-server with the vtep schema (no
// emulator datapath: rows only). The sync writes a Logical_Switch per VXLAN VSID, a
// Ucast_Macs_Remote per NIC at its host's locator and an unknown-dst flood set; puts back rows
// someone deleted; turns the VTEP's Ucast_Macs_Local rows into endpoints that reach an agent's
// view; and the OVSDB framing copes with split and concatenated messages.
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ControllerSync } from '../../src/agent/controller-sync.js';
import { JsonObjectSplitter, OvsdbClient, setAtoms, uuidOf } from '../../src/vtep/ovsdb-client.js';
import type { OvsdbRow } from '../../src/vtep/ovsdb-client.js';
import { VTEP_DB } from '../../src/vtep/vtep-plan.js';
import { VtepSync } from '../../src/vtep/vtep-sync.js';
import { requires } from '../helpers/prerequisites.js';
import { haveVtepDb, startVtepDb } from '../helpers/vtep-db.js';
import type { VtepDb } from '../helpers/vtep-db.js';
import type { Running } from './controller-fixture.js';
import { TOKEN, api, eventually, seedFigure8, startController, tempDir } from './controller-fixture.js';

describe('OVSDB framing', () => {
  it('splits concatenated objects, across chunks, with braces inside strings', () => {
    const splitter = new JsonObjectSplitter();
    expect(splitter.push('{"id":1,"result":["a}"]}{"id":2,')).toEqual(['{"id":1,"result":["a}"]}']);
    expect(splitter.push('"s":"q\\"{"}\n {"x":{}}')).toEqual(['{"id":2,"s":"q\\"{"}', '{"x":{}}']);
    expect(splitter.push('')).toEqual([]);
  });

  it('refuses a non-object and an oversized message', () => {
    expect(() => new JsonObjectSplitter().push('[1]')).toThrow(/expected a JSON object/);
    expect(() => new JsonObjectSplitter(16).push('{"a":"0123456789012345678"')).toThrow(/longer than 16 bytes/);
  });
});

const VTEP = requires(haveVtepDb, 'ovsdb-server or the hardware_vtep schema is missing (Debian openvswitch-vtep)');

let db: VtepDb;
let tmp: ReturnType<typeof tempDir>;
let running: Running;
let ovsdb: OvsdbClient;
let vtep: VtepSync;
const syncs: ControllerSync[] = [];

async function select(table: string): Promise<(OvsdbRow & { _uuid: ['uuid', string] })[]> {
  const [result] = await ovsdb.transact(VTEP_DB, [{ op: 'select', table, where: [] }]);
  return (result as { rows: (OvsdbRow & { _uuid: ['uuid', string] })[] }).rows;
}

async function eventuallyAsync(check: () => Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Ucast_Macs_Remote as "LS-name MAC IP -> locator IP", sorted. */
async function remoteTable(): Promise<string[]> {
  const switches = new Map((await select('Logical_Switch')).map((row) => [row._uuid[1], row.name as string]));
  const locators = new Map((await select('Physical_Locator')).map((row) => [row._uuid[1], row.dst_ip as string]));
  return (await select('Ucast_Macs_Remote'))
    .map((row) => `${switches.get(uuidOf(row.logical_switch) ?? '')} ${String(row.MAC)} ${String(row.ipaddr)} -> ${locators.get(uuidOf(row.locator) ?? '')}`)
    .sort();
}

beforeEach(async () => {
  tmp = tempDir();
  running = await startController(path.join(tmp.dir, 'store.db'), { heartbeatMs: 100 });
  await seedFigure8(running.url);
});

afterEach(async () => {
  for (const sync of syncs.splice(0)) await sync.stop();
  await vtep?.stop();
  ovsdb?.close();
  await db?.stop();
  await running.server.close().catch(() => undefined);
  tmp.cleanup();
});

describe('vtep sync against ovsdb-server', VTEP, () => {
  it('writes switches, remote MACs and flood sets; keeps them in step; local MACs become endpoints that reach agents', async () => {
    db = await startVtepDb();
    ovsdb = await OvsdbClient.connect(db.target);
    expect(await ovsdb.echo()).toEqual(['switchyard']);
    // as `vtep-ctl add-ps ps0`: Physical_Switch is not a root table, Global.switches holds it
    await ovsdb.transact(VTEP_DB, [
      { op: 'insert', table: 'Physical_Switch', 'uuid-name': 'ps', row: { name: 'ps0', tunnel_ips: '192.168.9.9' } },
      { op: 'insert', table: 'Global', row: { switches: ['named-uuid', 'ps'] } },
    ]);
    vtep = new VtepSync({ ovsdb: db.target, controller: running.url, token: TOKEN, host: 'vtep1', pollMs: 50 });
    await vtep.start();

    const expected = [
      'switchyard-5001 02:00:00:00:50:11 10.1.1.11 -> 192.168.1.10',
      'switchyard-5001 02:00:00:00:50:12 10.1.1.12 -> 192.168.2.20',
      'switchyard-6001 02:00:00:00:60:11 10.1.1.11 -> 192.168.1.10',
      'switchyard-6001 02:00:00:00:60:12 10.1.1.12 -> 192.168.2.20',
    ];
    await eventuallyAsync(async () => (await remoteTable()).join('\n') === expected.join('\n'), 'the remote MACs');
    const switches = await select('Logical_Switch');
    expect(switches.map((row) => [row.name, row.tunnel_key]).sort()).toEqual([
      ['switchyard-5001', 5001],
      ['switchyard-6001', 6001],
    ]);
    // unknown-dst of each switch floods to both hosts
    const locators = new Map((await select('Physical_Locator')).map((row) => [row._uuid[1], row.dst_ip as string]));
    const sets = new Map((await select('Physical_Locator_Set')).map((row) => [row._uuid[1], setAtoms(row.locators).map((atom) => locators.get((atom as ['uuid', string])[1])).sort()]));
    const floods = await select('Mcast_Macs_Remote');
    expect(floods.map((row) => [row.MAC, sets.get(uuidOf(row.locator_set) ?? '')])).toEqual([
      ['unknown-dst', ['192.168.1.10', '192.168.2.20']],
      ['unknown-dst', ['192.168.1.10', '192.168.2.20']],
    ]);
    // the VTEP's host is in the policy at its tunnel IP
    await eventuallyAsync(async () => (await api(running.url).get('hosts', 'vtep1')).status === 200, 'the VTEP host');
    const host = await api(running.url).get('hosts', 'vtep1');
    expect(host.body.properties.providerAddresses).toEqual(['192.168.9.9']);

    // policy change: a NIC moves to another host, one is deleted
    const web = (await api(running.url).get('networkInterfaces', 'contoso-web')).body.properties;
    expect((await api(running.url).put('networkInterfaces', 'contoso-web', { ...web, host: 'host1' })).status).toBe(200);
    expect((await api(running.url).del('networkInterfaces', 'fabrikam-web')).status).toBe(200);
    const after = [
      'switchyard-5001 02:00:00:00:50:11 10.1.1.11 -> 192.168.1.10',
      'switchyard-5001 02:00:00:00:50:12 10.1.1.12 -> 192.168.1.10',
      'switchyard-6001 02:00:00:00:60:11 10.1.1.11 -> 192.168.1.10',
    ];
    await eventuallyAsync(async () => (await remoteTable()).join('\n') === after.join('\n'), 'the remote MACs after the change');

    // drift: a row deleted behind our back comes back
    const victim = (await select('Ucast_Macs_Remote'))[0] as OvsdbRow & { _uuid: ['uuid', string] };
    await ovsdb.transact(VTEP_DB, [{ op: 'delete', table: 'Ucast_Macs_Remote', where: [['_uuid', '==', victim._uuid]] }]);
    await eventuallyAsync(async () => (await remoteTable()).join('\n') === after.join('\n') && (await select('Ucast_Macs_Remote'))[0]?._uuid[1] !== victim._uuid[1], 'the deleted row back');

    // the VTEP learns a MAC with an IP in contoso's switch (and one without an IP)
    const host1 = new ControllerSync({ controller: running.url, host: 'host1', token: TOKEN, cacheFile: path.join(tmp.dir, 'host1.json'), minBackoffMs: 20, maxBackoffMs: 200 });
    syncs.push(host1);
    await host1.start();
    const ls5001 = (await select('Logical_Switch')).find((row) => row.name === 'switchyard-5001')?._uuid as ['uuid', string];
    await ovsdb.transact(VTEP_DB, [
      { op: 'insert', table: 'Physical_Locator', 'uuid-name': 'me', row: { encapsulation_type: 'vxlan_over_ipv4', dst_ip: '192.168.9.9' } },
      { op: 'insert', table: 'Ucast_Macs_Local', row: { MAC: '02:aa:00:00:00:01', logical_switch: ls5001, locator: ['named-uuid', 'me'], ipaddr: '10.1.1.50' } },
      { op: 'insert', table: 'Ucast_Macs_Local', row: { MAC: '02:aa:00:00:00:02', logical_switch: ls5001, locator: ['named-uuid', 'me'] } },
    ]);
    await eventually(() => (host1.policy?.networkInterfaces ?? []).some((nic) => nic.name === 'vtep-vtep1-02aa00000001'), 10_000, 'the endpoint in host1 view');
    const endpoint = host1.policy?.networkInterfaces.find((nic) => nic.name === 'vtep-vtep1-02aa00000001');
    expect(endpoint).toMatchObject({ host: 'vtep1', virtualNetwork: 'contoso', subnet: 's1', macAddress: '02:aa:00:00:00:01', ipAddress: '10.1.1.50' });
    expect(host1.policy?.hosts.find((h) => h.name === 'vtep1')?.providerAddresses).toEqual(['192.168.9.9']);
    expect(vtep.counters.localWithoutIp).toBe(1);
    // the VTEP's own MAC is not sent back to it as a remote one
    expect((await remoteTable()).some((line) => line.includes('02:aa:00:00:00:01'))).toBe(false);

    // the VTEP forgets it: the endpoint goes
    await ovsdb.transact(VTEP_DB, [{ op: 'delete', table: 'Ucast_Macs_Local', where: [['MAC', '==', '02:aa:00:00:00:01']] }]);
    await eventually(() => !(host1.policy?.networkInterfaces ?? []).some((nic) => nic.name === 'vtep-vtep1-02aa00000001'), 10_000, 'the endpoint gone');
    expect((await api(running.url).get('networkInterfaces', 'vtep-vtep1-02aa00000001')).status).toBe(404);
  }, 40_000);
});
