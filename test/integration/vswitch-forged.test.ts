// A connection on a virtual switch belongs to its ports (README "Whose connection is it"), with real
// stacks on the TAPs: vm-d (inbound rules: UDP 53 only) holds a TCP connection to an echo server on
// the host vNIC of an Internal switch; vm-c (outbound rules: UDP 53 only) writes two frames of that
// connection onto its own TAP with a raw socket, with its own MAC and the others' addresses: the
// server's next segment (a "reply") and an RST in vm-d's name (the orig direction). Before, the
// first reached vm-d as the connection's reply, and the second, denied by vm-c's rules, ended vm-d's
// connection, so the server's next segment met vm-d's inbound rules and was dropped. Now both are
// vm-c's own frames (acl-deny) and the connection goes on. The unit tests (vswitch-forged.test.ts)
// cover the decisions; this one shows them on TAPs with the kernel's TCP on both ends. The denials
// are counted on vm-c's port alone: the host's own IPv6 chatter (MLD, router solicitations) is
// flooded to vm-d at times of its own and meets vm-d's inbound rules too.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { controlRequest } from '../../src/agent/control-client.js';
import { runIn, waitFor } from '../../src/lab/run.js';
import { INT_HOST, VM_MAC, createSwitchLab, type SwitchLab } from '../../src/lab/vswitch.js';
import type { AclRule, Policy } from '../../src/policy/types.js';
import { ROOT_ONLY } from '../helpers/prerequisites.js';

const VM_C = '172.30.0.10';
const VM_D = '172.30.0.11';
const SERVER_PORT = 7100;
const CLIENT_PORT = 40100;
/** Each attempt (a retry included) its own ports: the last one's sockets may still be closing. */
let attempt = 0;

const rule = (name: string, type: 'Inbound' | 'Outbound'): AclRule => ({
  name, protocol: 'UDP', sourceAddressPrefix: '*', destinationAddressPrefix: '*', sourcePortRange: '*', destinationPortRange: '53', action: 'Allow', type, priority: 100,
});

function policy(): Policy {
  const allOut: AclRule = { ...rule('all-out', 'Outbound'), protocol: 'All', destinationPortRange: '*' };
  return {
    hosts: [{ name: 'h1', providerAddresses: ['192.168.50.1'] }],
    virtualNetworks: [],
    accessControlLists: [
      { name: 'dns-out', aclRules: [rule('dns-out', 'Outbound')] },
      { name: 'client', aclRules: [allOut, rule('dns-in', 'Inbound')] },
    ],
    switches: [{ name: 'int', switchType: 'Internal', hostAddress: `${INT_HOST}/24` }],
    nats: [],
    networkInterfaces: [
      { name: 'vm-c', host: 'h1', switch: 'int', macAddress: VM_MAC.c, netns: 'vm-c', accessControlList: 'dns-out' },
      { name: 'vm-d', host: 'h1', switch: 'int', macAddress: VM_MAC.d, netns: 'vm-d', accessControlList: 'client' },
    ],
  };
}

/** Waits up to 10 s for file `f` (the namespaces share the file system). */
const WAIT = `import os,time
def wait(f):
  end=time.time()+10
  while not os.path.exists(f) and time.time()<end: time.sleep(0.05)
  return os.path.exists(f)`;

/** The echo server on the host vNIC: echoes 'one', then, once told to, sends 'two' unasked. */
const server = (dir: string, sp: number) => `${WAIT}
import socket
s=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1);s.bind(('${INT_HOST}',${sp}));s.listen(1)
open('${dir}/listening','w').close()
s.settimeout(10);c,_=s.accept();c.settimeout(5)
c.sendall(c.recv(10))
if wait('${dir}/go'): c.sendall(b'two')
wait('${dir}/done')`;

/** vm-d: a connection from CLIENT_PORT; after the forgeries, is the server's 'two' received? And
 * did a frame with the forged payload reach vm-d's interface (a packet socket sees it before TCP)? */
const client = (dir: string, sp: number, cp: number) => `${WAIT}
import socket
dev=[d for d in os.listdir('/sys/class/net') if d!='lo'][0]
raw=socket.socket(socket.AF_PACKET,socket.SOCK_RAW,socket.htons(3));raw.bind((dev,0));raw.setblocking(False)
c=socket.socket();c.bind(('${VM_D}',${cp}));c.settimeout(5);c.connect(('${INT_HOST}',${sp}))
c.sendall(b'one');print('echo', c.recv(10).decode(), flush=True)
open('${dir}/connected','w').close()
wait('${dir}/go')
try: print('pushed', c.recv(10).decode(), flush=True)
except Exception as e: print('pushed none', type(e).__name__, flush=True)
n=0
while True:
  try: f=raw.recv(2000)
  except BlockingIOError: break
  if b'forged-' in f: n+=1
print('forged seen', n, flush=True)
open('${dir}/done','w').close()`;

/** vm-c: two frames of vm-d's connection, with vm-c's MAC and the others' addresses. */
const forge = (sp: number, cp: number) => `import os,socket,struct
def csum(b):
  if len(b)%2: b+=b'\\0'
  s=sum(struct.unpack('!%dH'%(len(b)//2),b));s=(s>>16)+(s&0xffff);s+=s>>16;return (~s)&0xffff
def frame(src,dst,sp,dp,flags,payload):
  a,b=socket.inet_aton(src),socket.inet_aton(dst)
  tcp=struct.pack('!HHIIBBHHH',sp,dp,1,1,0x50,flags,65535,0,0)+payload
  tcp=tcp[:16]+struct.pack('!H',csum(a+b+struct.pack('!BBH',0,6,len(tcp))+tcp))+tcp[18:]
  ip=struct.pack('!BBHHHBBH4s4s',0x45,0,20+len(tcp),1,0,64,6,0,a,b)
  ip=ip[:10]+struct.pack('!H',csum(ip))+ip[12:]
  return bytes.fromhex('${VM_MAC.d.replace(/:/g, '')}')+bytes.fromhex('${VM_MAC.c.replace(/:/g, '')}')+b'\\x08\\x00'+ip+tcp
dev=[d for d in os.listdir('/sys/class/net') if d!='lo'][0]
r=socket.socket(socket.AF_PACKET,socket.SOCK_RAW);r.bind((dev,0))
r.send(frame('${INT_HOST}','${VM_D}',${sp},${cp},0x18,b'forged-reply'))
r.send(frame('${VM_D}','${INT_HOST}',${cp},${sp},0x04,b'forged-rst'))`;

describe('virtual switch: another port cannot use a connection of its neighbour (real stacks)', ROOT_ONLY, () => {
  let lab: SwitchLab;
  beforeAll(async () => {
    lab = await createSwitchLab();
    await lab.start(policy());
    // no IPv6 from the VMs: vm-c's rules would deny its router solicitations (acl-deny noise)
    for (const vm of ['vm-c', 'vm-d']) await runIn(lab.ns(vm), 'sysctl', ['-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
    await lab.vmAddr('vm-c', `${VM_C}/24`);
    await lab.vmAddr('vm-d', `${VM_D}/24`);
  }, 60_000);
  afterAll(async () => {
    await lab?.destroy();
  });

  it('vm-c\'s forged reply is denied by its own rules, and its forged RST leaves vm-d\'s connection alone', async () => {
    const denied = async () => ((await controlRequest(lab.agent!.socket, { op: 'stats' })) as { ports: Record<string, Record<string, number>> }).ports['vm-c']?.['acl-deny'] ?? 0;
    const dir = fs.mkdtempSync(path.join(lab.dir, 'sync-'));
    attempt++;
    const sp = SERVER_PORT + attempt;
    const cp = CLIENT_PORT + attempt;
    const srv = runIn(lab.host, 'python3', ['-c', server(dir, sp)], { timeoutMs: 30_000, allowFail: true });
    await waitFor(() => fs.existsSync(path.join(dir, 'listening')), 10_000, 'the echo server');
    const cli = runIn(lab.ns('vm-d'), 'python3', ['-c', client(dir, sp, cp)], { timeoutMs: 30_000 });
    await waitFor(() => fs.existsSync(path.join(dir, 'connected')), 10_000, "vm-d's connection");
    const before = await denied();
    await runIn(lab.ns('vm-c'), 'python3', ['-c', forge(sp, cp)]);
    await waitFor(async () => (await denied()) - before >= 2, 5000, "two acl-deny drops on vm-c's port");
    fs.writeFileSync(path.join(dir, 'go'), '');
    const out = (await cli).stdout.trim().split('\n');
    await srv;
    expect(out).toEqual(['echo one', 'pushed two', 'forged seen 0']);
    expect((await denied()) - before).toBe(2);
  }, 60_000);
});
