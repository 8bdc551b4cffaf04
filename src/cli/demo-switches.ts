/**
 * `switchyard demo --switches`: the seed's Hyper-V virtual switch on one host, in namespaces
 * (src/lab/vswitch.ts). A Private switch (VMs only), an Internal switch (VMs + the host's vNIC,
 * with NAT networking and a static mapping), an External switch bound to the host's NIC ext0 (a
 * veth standing in). Shows who reaches whom, NAT out and in, the two-switch approach (a VM moved
 * by a policy update), and removes everything it made.
 */
import { controlRequest } from '../agent/control-client.js';
import { ping } from '../lab/probes.js';
import { runIn } from '../lab/run.js';
import { INT_HOST, LAN_HOST, LAN_PEER, OUT_HOST, OUT_PEER, addressVms, createSwitchLab, switchLabPolicy, type SwitchLab } from '../lab/vswitch.js';

function step(msg: string): void {
  process.stdout.write(`\n== ${msg}\n`);
}

async function show(what: string, ns: string, addr: string, expect: boolean): Promise<boolean> {
  const r = await ping(ns, addr, 2);
  const ok = r.received > 0 === expect;
  console.log(`  ${ok ? 'ok  ' : 'FAIL'} ${what}: ${r.received}/2 replies (${expect ? 'reachable' : 'isolated'} as expected${ok ? '' : ': NOT'})`);
  return ok;
}

export async function runSwitchDemo(): Promise<number> {
  if (process.getuid?.() !== 0) {
    console.error('switchyard demo --switches: needs root (network namespaces and TAP devices)');
    return 2;
  }
  let lab: SwitchLab | undefined;
  let good = true;
  const onSignal = () => void (lab?.destroy() ?? Promise.resolve()).then(() => process.exit(130));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    step('host h1 with NICs up0 (192.168.50.1, "the outside") and ext0 (10.60.0.1, a LAN); VMs vm-a..vm-e');
    lab = await createSwitchLab();
    await lab.start(switchLabPolicy());
    await addressVms(lab);
    console.log(`namespaces tagged ${lab.tag}; policy and agent log in ${lab.dir}`);
    console.log('  New-VMSwitch priv -SwitchType Private        -> switch priv: vm-a 192.168.77.1, vm-b 192.168.77.2');
    console.log('  New-VMSwitch int  -SwitchType Internal       -> switch int: vm-c 172.30.0.10, vm-d 172.30.0.11, host vNIC 172.30.0.1');
    console.log('  New-VMSwitch ext  -NetAdapterName ext0       -> switch ext: vm-e 10.60.0.20, bridged to the LAN');
    console.log('  New-NetNat labnat 172.30.0.0/24 + static mapping TCP 8080 -> 172.30.0.10:80');
    step('Private: VMs only');
    good = (await show('vm-a -> vm-b', lab.ns('vm-a'), '192.168.77.2', true)) && good;
    good = (await show('vm-a -> vm-c (192.168.77.3, on switch int)', lab.ns('vm-a'), '192.168.77.3', false)) && good;
    step('Internal: VMs and the host');
    good = (await show('vm-c -> vm-d', lab.ns('vm-c'), '172.30.0.11', true)) && good;
    good = (await show('vm-c -> host vNIC', lab.ns('vm-c'), INT_HOST, true)) && good;
    good = (await show('host -> vm-d', lab.host, '172.30.0.11', true)) && good;
    step('NAT: out with the host\'s address (the outside has no route back), in through the static mapping');
    good = (await show(`vm-d -> outside ${OUT_PEER}`, lab.ns('vm-d'), OUT_PEER, true)) && good;
    const server = runIn(lab.ns('vm-c'), 'python3', ['-c', "import socket;s=socket.socket();s.setsockopt(1,2,1);s.bind(('0.0.0.0',80));s.listen();c,a=s.accept();c.sendall(('hello from vm-c to '+a[0]).encode());c.close()"], { timeoutMs: 15_000, allowFail: true });
    let reply = '';
    for (let i = 0; i < 20 && !reply; i++) {
      reply = (await runIn(lab.out, 'python3', ['-c', `import socket;s=socket.create_connection(('${OUT_HOST}',8080),3);print(s.recv(100).decode())`], { allowFail: true })).stdout.trim();
      if (!reply) await new Promise((r) => setTimeout(r, 200));
    }
    await server;
    console.log(`  ${reply ? 'ok  ' : 'FAIL'} outside -> ${OUT_HOST}:8080: "${reply}"`);
    good = good && reply !== '';
    console.log((await runIn(lab.host, 'nft', ['list', 'table', 'ip', 'switchyard_h1'])).stdout.replace(/^/gm, '    '));
    step('External: vm-e on the LAN; the host keeps 10.60.0.1 on ext0 ("allow management OS")');
    good = (await show(`vm-e -> LAN ${LAN_PEER}`, lab.ns('vm-e'), LAN_PEER, true)) && good;
    good = (await show(`LAN -> host ${LAN_HOST}`, lab.lan, LAN_HOST, true)) && good;
    good = (await show('vm-e -> vm-d (other switch)', lab.ns('vm-e'), '172.30.0.11', false)) && good;
    step('the two-switch approach: vm-b moves from priv to int (a policy update, its TAP stays)');
    await lab.reload(switchLabPolicy('int'), 2);
    await runIn(lab.ns('vm-b'), 'ip', ['addr', 'add', '172.30.0.12/24', 'dev', 'sy-vm-b']);
    good = (await show('vm-b -> vm-d', lab.ns('vm-b'), '172.30.0.11', true)) && good;
    good = (await show('vm-a -> vm-b', lab.ns('vm-a'), '192.168.77.2', false)) && good;
    step('the switch layers of vm-c (ctl layers)');
    const layers = (await controlRequest(lab.agent!.socket, { op: 'layers', port: 'vm-c' })) as { ports: { out: { layer: string; rules: string[] }[] }[] };
    for (const l of layers.ports[0]!.out) console.log(`  ${l.layer}: ${l.rules.join('; ')}`);
    step(good ? 'all as expected; cleaning up' : 'SOMETHING WAS NOT AS EXPECTED; cleaning up');
    return good ? 0 : 1;
  } catch (err) {
    console.error(`demo failed: ${(err as Error).message}`);
    return 1;
  } finally {
    await lab?.destroy();
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
}
