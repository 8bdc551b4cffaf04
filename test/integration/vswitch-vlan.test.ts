// VLAN tags from the wire of an External switch's NIC: the kernel takes a received frame's outer
// 802.1Q/802.1ad tag into the skb before an AF_PACKET socket sees it, so a plain read returns the
// frame untagged. The agent must still drop it (vlan-tagged) and never hand it to a VM. Frames are
// crafted with a raw socket in the LAN namespace (this kernel has no 8021q module, so no vlan
// devices): untagged (passes), 802.1Q VLAN 5, priority tag (VLAN 0), QinQ 0x88a8 (all dropped).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { controlRequest } from '../../src/agent/control-client.js';
import { runIn, waitFor } from '../../src/lab/run.js';
import { LAN_PEER, VM_MAC, addressVms, createSwitchLab, switchLabPolicy, type SwitchLab } from '../../src/lab/vswitch.js';
import { ROOT_ONLY } from '../helpers/prerequisites.js';

const VM_E = '10.60.0.20';
const PORT = 7000;

/** Reads datagrams on PORT until 'untagged' came (and a moment more for stragglers) or 8 s passed; prints each payload. */
const LISTENER = `import socket,time
s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.bind(('0.0.0.0',${PORT}));s.settimeout(0.3)
end=time.time()+8;done=None
while time.time()<end and (done is None or time.time()<done):
  try: d=s.recv(100)
  except socket.timeout: continue
  print(d.decode(),flush=True)
  if d==b'untagged': done=time.time()+1`;

/** Sends one UDP datagram to vm-e per tag variant, the tagged ones first, through eth0 of the LAN. */
const INJECT = `import socket,struct
def csum(h):
  s=sum(struct.unpack('!10H',h));s=(s>>16)+(s&0xffff);s+=s>>16;return (~s)&0xffff
src=bytes.fromhex(open('/sys/class/net/eth0/address').read().strip().replace(':',''))
dst=bytes.fromhex('${VM_MAC.e.replace(/:/g, '')}')
def frame(tags,payload):
  udp=struct.pack('!HHHH',40000,${PORT},8+len(payload),0)+payload
  ip=struct.pack('!BBHHHBBH4s4s',0x45,0,20+len(udp),1,0,64,17,0,socket.inet_aton('${LAN_PEER}'),socket.inet_aton('${VM_E}'))
  ip=ip[:10]+struct.pack('!H',csum(ip))+ip[12:]
  return dst+src+tags+b'\\x08\\x00'+ip+udp
t=lambda tpid,vid: struct.pack('!HH',tpid,vid)
r=socket.socket(socket.AF_PACKET,socket.SOCK_RAW);r.bind(('eth0',0))
for tags,p in [(t(0x8100,5),b'vlan5'),(t(0x8100,0),b'vlan0'),(t(0x88a8,5)+t(0x8100,6),b'qinq'),(b'',b'untagged')]: r.send(frame(tags,p))`;

describe('External switch: VLAN-tagged frames from the NIC', ROOT_ONLY, () => {
  let lab: SwitchLab;
  beforeAll(async () => {
    lab = await createSwitchLab();
    // two workers: the NIC is read by a fanout group of sockets
    await lab.start(switchLabPolicy(), ['--workers', '2']);
    await addressVms(lab);
  }, 60_000);
  afterAll(async () => {
    await lab?.destroy();
  });

  it('drops 802.1Q (VLAN 5 and VLAN 0) and QinQ frames as vlan-tagged; an untagged frame reaches the VM', async () => {
    const drops = async () => ((await controlRequest(lab.agent!.socket, { op: 'stats' })) as { drops: Record<string, number> }).drops['vlan-tagged'] ?? 0;
    const before = await drops();
    const listener = runIn(lab.ns('vm-e'), 'python3', ['-c', LISTENER], { timeoutMs: 15_000 });
    await waitFor(async () => (await runIn(lab.ns('vm-e'), 'ss', ['-Huln', `sport = :${PORT}`])).stdout.includes(`:${PORT}`), 5000, 'the listener in vm-e');
    await runIn(lab.lan, 'python3', ['-c', INJECT]);
    const got = (await listener).stdout.split('\n').filter((l) => l !== '');
    expect(got).toEqual(['untagged']);
    await waitFor(async () => (await drops()) - before >= 3, 5000, 'three vlan-tagged drops');
    expect((await drops()) - before).toBe(3);
  });
});
