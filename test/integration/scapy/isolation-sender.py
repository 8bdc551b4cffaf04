"""Sends crafted frames for the isolation tests, built by scapy (an independent packet builder).

usage: isolation-sender.py l2 IFACE   -- frames written onto IFACE (a tenant's interface): sendp
       isolation-sender.py l3         -- IP datagrams routed by the namespace's stack: send
                                         (the underlay tests: crafted VXLAN from a host's PA)

Importing scapy takes about a second, so one process serves a whole test file: it reads one JSON
object per line, {"frames": ["<scapy expression>", ...]}, evaluates each expression with scapy's
names in scope, sends the frames in order and answers `sent N` (or `error: ...`) on one line.
Prints `ready` once scapy is loaded. The expressions come from the test files only.
"""
import json
import sys
import traceback

from scapy.all import conf, send, sendp  # noqa: E402
import scapy.all as scapy_all  # noqa: E402

conf.verb = 0
NAMES = {k: getattr(scapy_all, k) for k in dir(scapy_all) if not k.startswith("_")}


def main():
    mode = sys.argv[1]
    iface = sys.argv[2] if mode == "l2" else None
    print("ready", flush=True)
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            req = json.loads(line)
            frames = [eval(expr, dict(NAMES)) for expr in req["frames"]]  # noqa: S307 - test input
            for f in frames:
                if mode == "l2":
                    sendp(f, iface=iface)
                else:
                    send(f)
            print("sent %d" % len(frames), flush=True)
        except Exception as e:  # report and keep serving: the test decides what an error means
            print("error: %s" % "".join(traceback.format_exception_only(type(e), e)).strip().replace("\n", " "), flush=True)


if __name__ == "__main__":
    main()
