"""Counts the frames that ARRIVE on an interface (what the dataplane delivered into a namespace).

usage: count-frames.py IFACE DURATION_MS [--marker HEX] [--bpf OPS] [--stop-after N]

DURATION_MS is the longest it listens; SIGUSR1 ends the window early (the caller sends it once its
frames are out and a settle time has passed, so a slow sender cannot outlast the window).

Plain Python (no scapy, so it starts in tens of milliseconds): an AF_PACKET socket bound to IFACE
that skips frames the namespace itself sends (PACKET_OUTGOING). A frame counts when it contains
the bytes MARKER anywhere (the tests put a per-run marker in every crafted payload, so unrelated
traffic never counts) and, with --bpf, when the kernel filter accepts it (OPS: `tcpdump -ddd`
output joined by commas). The kernel strips VLAN tags before packet sockets see a frame; the tag
comes back from PACKET_AUXDATA and is reported as `vlan`.
Prints `ready` once the socket is bound, then one JSON object at the end:
{"count": N, "frames": [{"type": ETHERTYPE, "vlan": TCI or null, "pkttype": P, "len": L}, ...]}.
"""
import json
import select
import signal
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_AUXDATA = 8
PACKET_OUTGOING = 4
TP_STATUS_VLAN_VALID = 0x10
SO_ATTACH_FILTER = 26


ENDED = []


def end_window(_signum, _frame):
    ENDED.append(True)


def main():
    signal.signal(signal.SIGUSR1, end_window)
    iface = sys.argv[1]
    duration = int(sys.argv[2]) / 1000.0
    marker = None
    bpf = None
    stop_after = None
    args = sys.argv[3:]
    while args:
        opt = args.pop(0)
        if opt == "--marker":
            marker = bytes.fromhex(args.pop(0))
        elif opt == "--bpf":
            bpf = args.pop(0)
        elif opt == "--stop-after":
            stop_after = int(args.pop(0))
        else:
            raise SystemExit("unknown option " + opt)

    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    if bpf:
        # tcpdump -ddd: first the count, then "code jt jf k" per instruction
        nums = [int(x) for x in bpf.replace(",", " ").split()]
        n, ops = nums[0], nums[1:]
        prog = b"".join(struct.pack("HBBI", ops[i * 4], ops[i * 4 + 1], ops[i * 4 + 2], ops[i * 4 + 3]) for i in range(n))
        import ctypes

        buf = ctypes.create_string_buffer(prog)
        fprog = struct.pack("HL", n, ctypes.addressof(buf))
        s.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
    s.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
    s.bind((iface, 0))
    # a frame queued before the filter was attached could predate the test: drain what is there
    s.setblocking(False)
    try:
        while True:
            s.recv(65535)
    except BlockingIOError:
        pass
    print("ready", flush=True)

    frames = []
    deadline = time.monotonic() + duration
    listen(s, deadline, marker, stop_after, frames)
    print(json.dumps({"count": len(frames), "frames": frames}), flush=True)


def listen(s, deadline, marker, stop_after, frames):
    while True:
        left = deadline - time.monotonic()
        if stop_after is not None and len(frames) >= stop_after:
            break
        # once the window is over, what is already queued still counts; short waits before that,
        # so the SIGUSR1 flag is looked at between them
        over = left <= 0 or bool(ENDED)
        r, _, _ = select.select([s], [], [], 0 if over else min(left, 0.05))
        if not r:
            if over:
                break
            continue
        try:
            data, anc, _flags, addr = s.recvmsg(65535, socket.CMSG_SPACE(20))
        except BlockingIOError:
            continue
        if addr[2] == PACKET_OUTGOING:
            continue
        if marker is not None and marker not in data:
            continue
        vlan = None
        for level, kind, cdata in anc:
            if level == SOL_PACKET and kind == PACKET_AUXDATA and len(cdata) >= 20:
                status, _len, _snap, _mac, _net, tci, _tpid = struct.unpack("IIIHHHH", cdata[:20])
                if status & TP_STATUS_VLAN_VALID:
                    vlan = tci
        etype = struct.unpack("!H", data[12:14])[0] if len(data) >= 14 else None
        frames.append({"type": etype, "vlan": vlan, "pkttype": addr[2], "len": len(data)})


if __name__ == "__main__":
    main()
