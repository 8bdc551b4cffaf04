"""Malformed frames for switchyard's edges, written by scapy (an independent packet builder).

usage: malformed.py tap IFACE          -- bad frames into a tenant's TAP (from inside its namespace)
       malformed.py underlay DST_PA SRC_PA  -- bad VXLAN datagrams onto the underlay
Prints how many frames it sent.
"""
import sys
from scapy.all import Ether, IP, UDP, ARP, Raw, VXLAN, sendp, send, conf  # noqa: E402

conf.verb = 0


def tap(iface):
    mac = "02:00:00:00:99:01"
    frames = [
        Ether(dst="ff:ff:ff:ff:ff:ff", src=mac, type=0x0800),  # IPv4 ethertype, no header
        Ether(dst="ff:ff:ff:ff:ff:ff", src=mac, type=0x0800) / Raw(bytes([0x44]) + bytes(30)),  # IHL 4
        Ether(dst="ff:ff:ff:ff:ff:ff", src=mac) / IP(src="10.1.1.12", dst="10.1.1.11", chksum=0x1234) / UDP(sport=1, dport=2),
        Ether(dst="ff:ff:ff:ff:ff:ff", src=mac, type=0x0806) / Raw(bytes(10)),  # truncated ARP
        Ether(dst="ff:ff:ff:ff:ff:ff", src=mac) / IP(src="10.1.1.12", dst="10.1.1.11", len=400) / UDP(sport=1, dport=2),  # total length past the frame
    ]
    for f in frames:
        sendp(f, iface=iface)
    print(len(frames))


def underlay(dst_pa, src_pa):
    inner = Ether(dst="ff:ff:ff:ff:ff:ff", src="02:00:00:00:99:02") / ARP(pdst="10.1.1.11", psrc="10.1.1.12")
    pkts = [
        IP(src=src_pa, dst=dst_pa) / UDP(sport=50000, dport=4789) / VXLAN(flags=0x00, vni=5001) / inner,  # I flag clear
        IP(src=src_pa, dst=dst_pa) / UDP(sport=50000, dport=4789) / Raw(bytes([0x08, 0, 0, 0])),  # VXLAN header cut to 4 bytes
        IP(src=src_pa, dst=dst_pa) / UDP(sport=50000, dport=4789) / VXLAN(flags=0x08, vni=5001) / Raw(bytes(6)),  # inner frame cut
        IP(src=src_pa, dst=dst_pa) / UDP(sport=50000, dport=4789) / VXLAN(flags=0x08, vni=7777) / inner,  # unknown VNI
    ]
    for p in pkts:
        send(p)
    print(len(pkts))


if __name__ == "__main__":
    if sys.argv[1] == "tap":
        tap(sys.argv[2])
    else:
        underlay(sys.argv[2], sys.argv[3])
