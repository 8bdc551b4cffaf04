// hardware_vtep end to end (issue 20): host1 runs a switchyard agent fed by the controller; host2
// is a "hardware" VTEP, the ovs-vtep emulator from Debian's openvswitch-vtep on a private OVS with
// the userspace datapath (its vswitch and hardware_vtep databases on one ovsdb-server), with a
// plain namespace behind its physical port. `switchyard vtep` (in the router namespace, next to the
// controller) fills the VTEP's database from the policy and writes the VTEP's MAC+IP back as an
// endpoint; the namespace behind the VTEP and switchyard's contoso tenant ping each other across
// VXLAN 5001, and fabrikam (same CA addresses, VSID 6001) sees none of it.
import fs from 'node:fs';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { createTenantNamespaces, makeRunDir, startAgent, type RunningAgent } from '../../src/lab/agents.js';
import { startController, type RunningController } from '../../src/lab/controller.js';
import { startOvsHost, type OvsHost } from '../../src/lab/ovs.js';
import { policyForLab } from '../../src/lab/policy.js';
import { ping } from '../../src/lab/probes.js';
import { run, runIn, spawnIn, waitFor } from '../../src/lab/run.js';
import { createFigure8Lab, type Figure8Lab } from '../../src/lab/topology.js';
import { figure8Policy } from '../../src/policy/figure8.js';
import type { Policy } from '../../src/policy/types.js';
import { ROOT_ONLY, requires } from '../helpers/prerequisites.js';
import { VTEP_SCHEMA, haveVtepDb } from '../helpers/vtep-db.js';

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/switchyard.js');
const EMULATOR = '/usr/share/openvswitch/scripts/ovs-vtep';
const EMULATOR_OK = requires(haveVtepDb && fs.existsSync(EMULATOR), 'the ovs-vtep emulator is missing (Debian openvswitch-vtep)');

const BEHIND_MAC = '02:00:00:00:50:99';
const BEHIND_IP = '10.1.1.50';

describe('hardware_vtep: the ovs-vtep emulator and a switchyard agent on one VSID', { ...ROOT_ONLY, ...(ROOT_ONLY.skip ? {} : EMULATOR_OK) }, () => {
  let lab: Figure8Lab;
  let dir: string;
  let controller: RunningController | undefined;
  let agent: RunningAgent | undefined;
  let ovs: OvsHost | undefined;
  let emulator: ChildProcess | undefined;
  let vtepSync: ChildProcess | undefined;
  let behind = '';
  const port = 19000 + Math.floor(Math.random() * 1000);
  const vars = (): string[] => Object.entries({ OVS_RUNDIR: ovs!.dir, OVS_LOGDIR: ovs!.dir, OVS_DBDIR: ovs!.dir, OVS_SYSCONFDIR: ovs!.dir }).map(([k, v]) => `${k}=${v}`);
  const vtepCtl = async (args: string[]): Promise<string> => (await run('env', [...vars(), 'vtep-ctl', '--timeout=20', ...args])).stdout.trim();
  const stopChild = async (child: ChildProcess | undefined): Promise<void> => {
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await gone;
    clearTimeout(timer);
  };

  beforeAll(async () => {
    lab = await createFigure8Lab();
    dir = makeRunDir(lab.tag);
    behind = `${lab.tag}-behind`;
    // host1 keeps its switchyard agent; host2 is the VTEP (its PA is the VTEP's tunnel IP)
    const full = policyForLab(figure8Policy(), lab.tenantNs);
    const policy: Policy = { ...full, hosts: full.hosts.filter((h) => h.name === 'host1'), networkInterfaces: full.networkInterfaces.filter((n) => n.host === 'host1') };
    await createTenantNamespaces(policy, ['host1']);
    // switchyard's VXLAN leaves host1 with the outer UDP checksum partial (offloaded); it crosses the
    // veths and the router untouched and OVS drops it at tunnel pop (FACTS.md, as with a kernel
    // vxlan peer): make host1's underlay veth finish checksums in software, as a real NIC would
    await runIn(lab.hosts[0].ns, 'ethtool', ['-K', lab.hosts[0].dev, 'tx', 'off']);
    controller = await startController(lab.router, '192.168.1.1', port, dir);
    const file = path.join(dir, 'policy.yaml');
    fs.writeFileSync(file, stringify(policy));
    const applied = await controller.ctl(['apply', '-f', file]);
    expect(applied.code, applied.stdout + applied.stderr).toBe(0);
    agent = await startAgent(lab.hosts[0].ns, 'host1', { controller: controller.url, cache: path.join(dir, 'host1.policy.json') }, dir, [], { SWITCHYARD_TOKEN: controller.token, SWITCHYARD_CA: controller.caFile });

    // host2: OVS (userspace datapath, PA on br-phy), then the hardware_vtep database beside Open_vSwitch
    // (one idle tunnel port, VNI 4095 unused: OVS snoops the gateway's ARP only with native tunnels on)
    ovs = await startOvsHost(lab.hosts[1].ns, { pa: '192.168.2.20', remotePa: '192.168.1.10', tunnels: [{ kind: 'vxlan', vsid: 4095, tenants: [] }] });
    await run('env', [...vars(), 'ovsdb-tool', 'create', path.join(ovs.dir, 'vtep.db'), VTEP_SCHEMA]);
    await run('env', [...vars(), 'ovs-appctl', '-t', path.join(ovs.dir, 'ovsdb-server.ctl'), 'ovsdb-server/add-db', path.join(ovs.dir, 'vtep.db')]);
    // the physical switch: bridge br0 (netdev), one port to a plain namespace
    await ovs.vsctl(['add-br', 'br0', '--', 'set', 'bridge', 'br0', 'datapath_type=netdev']);
    await run('ip', ['netns', 'add', behind]);
    await runIn(lab.hosts[1].ns, 'ip', ['link', 'add', 'vb0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', behind]);
    await runIn(lab.hosts[1].ns, 'ip', ['link', 'set', 'vb0', 'mtu', '1400', 'up']);
    await ovs.vsctl(['add-port', 'br0', 'vb0']);
    await runIn(behind, 'ip', ['link', 'set', 'lo', 'up']);
    await runIn(behind, 'ip', ['link', 'set', 'eth0', 'address', BEHIND_MAC, 'mtu', '1400', 'up']);
    await runIn(behind, 'ip', ['addr', 'add', `${BEHIND_IP}/24`, 'dev', 'eth0']);
    // OVS's userspace datapath does not finish partial checksums (FACTS.md)
    await runIn(behind, 'ethtool', ['-K', 'eth0', 'tx', 'off']);
    await vtepCtl(['add-ps', 'br0']);
    await vtepCtl(['set', 'Physical_Switch', 'br0', 'tunnel_ips=192.168.2.20']);
    emulator = spawnIn(lab.hosts[1].ns, '/usr/bin/python3', [EMULATOR, `--log-file=${path.join(ovs.dir, 'ovs-vtep.log')}`, `--pidfile=${path.join(ovs.dir, 'ovs-vtep.pid')}`, 'br0'], {
      ...process.env,
      OVS_RUNDIR: ovs.dir,
      OVS_LOGDIR: ovs.dir,
      OVS_DBDIR: ovs.dir,
      OVS_SYSCONFDIR: ovs.dir,
    });
    // switchyard's side of the VTEP: next to the controller (the database socket is a file)
    vtepSync = spawnIn(lab.router, process.execPath, [BIN, 'vtep', '--ovsdb', `unix:${path.join(ovs.dir, 'db.sock')}`, '--controller', controller.url, '--host', 'vtep2', '--token-file', controller.tokenFile, '--poll-ms', '200'], { ...process.env, NODE_EXTRA_CA_CERTS: controller.caFile });
    const syncLog = fs.createWriteStream(path.join(dir, 'vtep-sync.log'));
    vtepSync.stdout!.pipe(syncLog);
    vtepSync.stderr!.pipe(syncLog);
    // the operator binds the physical port to the switch switchyard made for VSID 5001
    await waitFor(async () => (await vtepCtl(['list-ls'])).split('\n').includes('switchyard-5001'), 20_000, 'switchyard to create the logical switches');
    await waitFor(async () => (await vtepCtl(['list-ports', 'br0'])).split('\n').includes('vb0'), 20_000, 'the emulator to list its port');
    await vtepCtl(['bind-ls', 'br0', 'vb0', '0', 'switchyard-5001']);
    await waitFor(async () => (await ovs!.vsctl(['list-br'])).includes('br0_vtep_ls'), 20_000, 'the emulator to build the logical switch');
    // the MAC+IP of the host behind the VTEP, as a hardware VTEP with a static binding reports it
    // (the emulator itself learns MACs only; an entry without an IP cannot be an endpoint)
    await waitFor(async () => (await vtepCtl(['list-remote-macs', 'switchyard-5001'])).includes('02:00:00:00:50:11'), 20_000, 'the remote MACs');
    await vtepCtl(['add-ucast-local', 'switchyard-5001', BEHIND_MAC, '192.168.2.20']);
    const uuid = (await vtepCtl(['--columns=_uuid', '--bare', 'find', 'Ucast_Macs_Local', `MAC="${BEHIND_MAC}"`])).split('\n')[0] as string;
    await vtepCtl(['set', 'Ucast_Macs_Local', uuid, `ipaddr="${BEHIND_IP}"`]);
  }, 180_000);

  afterAll(async () => {
    await stopChild(vtepSync);
    await stopChild(emulator);
    await agent?.stop().catch(() => undefined);
    await controller?.stop().catch(() => undefined);
    await ovs?.stop().catch(() => undefined);
    if (behind !== '') await run('ip', ['netns', 'del', behind], { allowFail: true });
    await lab?.destroy();
  });

  it('writes a switch per VSID and the remote MACs at host1, and the endpoint behind the VTEP', async () => {
    expect((await vtepCtl(['--columns=tunnel_key', '--bare', 'find', 'Logical_Switch', 'name=switchyard-5001'])).trim()).toBe('5001');
    const remote = await vtepCtl(['list-remote-macs', 'switchyard-5001']);
    expect(remote).toContain('02:00:00:00:50:11 -> vxlan_over_ipv4/192.168.1.10');
    expect(remote).toMatch(/unknown-dst -> vxlan_over_ipv4\/192\.168\.1\.10/);
    await waitFor(async () => (await controller!.ctl(['get', 'nics', '--json'])).stdout.includes('vtep-vtep2-020000005099'), 20_000, 'the endpoint in the controller');
  });

  it('pings across VXLAN 5001: the namespace behind the VTEP <-> the switchyard tenant', async () => {
    const sqlNs = lab.tenantNs('contoso-sql');
    // broadcast ARP from behind the VTEP goes to the service node (switchyard's host1), which does
    // not answer ARP from the underlay: the host behind the VTEP knows the tenant's MAC statically
    await runIn(behind, 'ip', ['neigh', 'replace', '10.1.1.11', 'lladdr', '02:00:00:00:50:11', 'dev', 'eth0']);
    try {
      await waitFor(async () => (await ping(behind, '10.1.1.11', 1)).received === 1, 30_000, 'a first reply from the switchyard tenant');
    } catch (error) {
      const ofctl = async (args: string[]) => (await run('env', [...vars(), 'ovs-ofctl', ...args], { allowFail: true })).stdout;
      const lsBridge = (await ovs!.vsctl(['list-br'])).split('\n').find((b) => b.includes('_vtep_ls')) ?? '';
      console.log('vtep diagnostics: vsctl show', await ovs!.vsctl(['show']));
      console.log('vtep diagnostics: br0 flows', await ofctl(['dump-flows', 'br0']));
      console.log('vtep diagnostics: ls flows', await ofctl(['dump-flows', lsBridge]));
      console.log('vtep diagnostics: dp flows', await ovs!.appctl(['dpctl/dump-flows']).catch(() => ''));
      console.log('vtep diagnostics: emulator', fs.readFileSync(path.join(ovs!.dir, 'ovs-vtep.log'), 'utf8').slice(-3000));
      console.log('vtep diagnostics: agent', agent!.log.join('').slice(-3000));
      throw error;
    }
    expect((await ping(behind, '10.1.1.11', 3)).received).toBe(3);
    expect((await ping(sqlNs, BEHIND_IP, 3)).received).toBe(3);
    // fabrikam has the same CA 10.1.1.11 on host1, in VSID 6001: the VTEP's switch is 5001 only
    expect((await ping(lab.tenantNs('fabrikam-sql'), BEHIND_IP, 2)).received).toBe(0);
  }, 60_000);
});
