"""NVGRE (GRE, IP protocol 47) frames for switchyard's uplink, written by scapy (an independent
packet builder), sent at layer 3 from the namespace that owns SRC_PA.

usage: nvgre-frames.py bad DST_PA SRC_PA          -- malformed GRE: wrong version, C bit, S bit,
                                                     no K bit, truncated header (5 frames)
       nvgre-frames.py arp DST_PA SRC_PA VSID     -- one well-formed frame (broadcast ARP) with key
                                                     VSID << 8 (1)
       nvgre-frames.py valid DST_PA SRC_PA VSID FLOWID DST_MAC SRC_MAC DST_IP SRC_IP PORT MARKER
                                                  -- one well-formed frame carrying a UDP datagram
Prints how many frames it sent.
"""
import struct
import sys
from scapy.all import Ether, IP, UDP, ARP, Raw, GRE, send, conf  # noqa: E402

conf.verb = 0

TEB = 0x6558


def key(vsid, flow_id=0):
    return ((vsid & 0xFFFFFF) << 8) | (flow_id & 0xFF)


def arp_inner():
    return Ether(dst="ff:ff:ff:ff:ff:ff", src="02:00:00:00:99:02") / ARP(pdst="10.1.1.11", psrc="10.1.1.12")


def bad(dst_pa, src_pa):
    inner = bytes(arp_inner())
    k = key(5001)
    outer = IP(src=src_pa, dst=dst_pa, proto=47)
    pkts = [
        # version 1 (K set, protocol right, key right)
        outer / Raw(struct.pack("!HHI", 0x2001, TEB, k) + inner),
        # C bit: checksum + reserved word before the key
        outer / Raw(struct.pack("!HHHHI", 0xA000, TEB, 0, 0, k) + inner),
        # S bit: sequence number after the key
        outer / Raw(struct.pack("!HHII", 0x3000, TEB, k, 1) + inner),
        # K bit clear: no key at all (so no VSID)
        outer / Raw(struct.pack("!HH", 0x0000, TEB) + inner),
        # truncated: the base header says K, but the key is cut after two bytes
        outer / Raw(struct.pack("!HHH", 0x2000, TEB, k >> 16)),
    ]
    for p in pkts:
        send(p)
    print(len(pkts))


def arp(dst_pa, src_pa, vsid):
    p = IP(src=src_pa, dst=dst_pa) / GRE(key_present=1, proto=TEB, key=key(int(vsid))) / arp_inner()
    send(p)
    print(1)


def valid(dst_pa, src_pa, vsid, flow_id, dst_mac, src_mac, dst_ip, src_ip, port, marker):
    inner = Ether(dst=dst_mac, src=src_mac) / IP(src=src_ip, dst=dst_ip) / UDP(sport=40000, dport=int(port)) / Raw(marker.encode())
    p = IP(src=src_pa, dst=dst_pa) / GRE(key_present=1, proto=TEB, key=key(int(vsid), int(flow_id))) / inner
    for _ in range(3):
        send(p)
    print(3)


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "bad":
        bad(sys.argv[2], sys.argv[3])
    elif cmd == "arp":
        arp(sys.argv[2], sys.argv[3], sys.argv[4])
    elif cmd == "valid":
        valid(*sys.argv[2:12])
    else:
        sys.exit("unknown command " + cmd)
