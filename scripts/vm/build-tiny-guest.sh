#!/usr/bin/env bash
# Builds (once per machine, cached) a small guest for the vhost-user tests and bench: the Debian
# kernel of the two-VM image (scripts/vm/build-image.sh builds its rootfs), uncompressed (qemu boots
# an ELF vmlinux through its PVH entry, skipping the decompressor: 2-3 s to a shell under TCG), and
# a busybox initramfs with the virtio-net modules and iperf3. The guest's /init configures eth0
# from the kernel command line (sy.ip=A/P sy.gw=G sy.mac is qemu's) and runs a shell on the serial
# console that tests drive (src/vms/tiny-guest.ts). cpio comes from busybox (no cpio package needed).
#
#   scripts/vm/build-tiny-guest.sh      prints "tiny-guest: DIR" (vmlinux, initramfs.cpio.gz)
set -euo pipefail
cd "$(dirname "$0")/../.."
CACHE=${SWITCHYARD_VM_CACHE:-/var/cache/switchyard/vms}
ROOTFS=$(ls -d "$CACHE"/rootfs-* 2>/dev/null | head -1 || true)
[ -n "$ROOTFS" ] || bash scripts/vm/build-image.sh >/dev/null
ROOTFS=$(ls -d "$CACHE"/rootfs-* | head -1)
kernel=$(ls "$ROOTFS"/boot/vmlinuz-* | sort -V | tail -1)
kver=${kernel##*/vmlinuz-}
h=$(cat "$0" "$kernel" /usr/bin/busybox /usr/bin/iperf3 | sha256sum | cut -c1-16)
OUT=$CACHE/tiny-$h
if [ -f "$OUT/vmlinux" ] && [ -f "$OUT/initramfs.cpio.gz" ]; then echo "tiny-guest: $OUT"; exit 0; fi
tmp=$(mktemp -d "$CACHE/.tmp-tiny.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# vmlinux: the ELF inside the bzImage (the kernel's scripts/extract-vmlinux, in python)
python3 - "$kernel" "$tmp/vmlinux" <<'PY'
import sys, lzma, gzip, zlib
data = open(sys.argv[1], 'rb').read()
def ok(b): return b[:4] == b'\x7fELF'
for magic, fn in ((b'\xfd7zXZ\x00', lambda b: lzma.LZMADecompressor().decompress(b)),
                  (b'\x1f\x8b\x08', lambda b: zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(b))):
    i = data.find(magic)
    while i >= 0:
        try:
            out = fn(data[i:])
            if ok(out):
                open(sys.argv[2], 'wb').write(out); sys.exit(0)
        except Exception:
            pass
        i = data.find(magic, i + 1)
try:
    import zstandard  # noqa
except ImportError:
    pass
sys.exit('no vmlinux found in ' + sys.argv[1])
PY

r=$tmp/root
mkdir -p "$r"/{bin,sbin,dev,proc,sys,tmp,lib/modules,etc,lib64,usr/lib}
cp /usr/bin/busybox "$r/bin/busybox"
cp /usr/bin/iperf3 "$r/bin/iperf3"
for lib in $( (ldd /usr/bin/busybox; ldd /usr/bin/iperf3) | grep -o '/[^ ]*' | sort -u); do
  mkdir -p "$r$(dirname "$lib")"
  cp -L "$lib" "$r$lib"
done
for m in virtio virtio_ring virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci failover net_failover virtio_net; do
  f=$(find "$ROOTFS/lib/modules/$kver" -name "$m.ko*" | head -1)
  [ -n "$f" ] && cp "$f" "$r/lib/modules/"
done
cat >"$r/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
for m in virtio virtio_ring virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci failover net_failover virtio_net; do
  [ -f /lib/modules/$m.ko ] && insmod /lib/modules/$m.ko
done
ip link set lo up
for a in $(cat /proc/cmdline); do
  case $a in sy.ip=*) IP=${a#sy.ip=} ;; sy.gw=*) GW=${a#sy.gw=} ;; sy.mtu=*) MTU=${a#sy.mtu=} ;; esac
done
if [ -n "$IP" ]; then
  ip link set eth0 mtu ${MTU:-1450} up
  ip addr add "$IP" dev eth0
  [ -n "$GW" ] && ip route add default via "$GW"
fi
echo "SY-GUEST-READY"
exec setsid cttyhack sh -l </dev/ttyS0 >/dev/ttyS0 2>&1
INIT
chmod +x "$r/init"
(cd "$r" && find . | busybox cpio -o -H newc 2>/dev/null | gzip -1) >"$tmp/initramfs.cpio.gz"
mkdir -p "$OUT"
mv "$tmp/vmlinux" "$tmp/initramfs.cpio.gz" "$OUT/"
echo "tiny-guest: $OUT"
