#!/usr/bin/env bash
# Builds (once per machine) the Debian guest image the two-VM demo and tests boot.
#
#   scripts/vm/build-image.sh [--node PATH]      prints "image: DIR" as its last line
#
# The cache is the machine's, shared by every checkout: /var/cache/switchyard/vms, or
# $SWITCHYARD_VM_CACHE. Two stages, each kept under a hash of its recipe and reused while that is
# unchanged:
#   rootfs-<h1>/   debootstrap of Debian bookworm (minbase + kernel + the tools the demo runs)
#                  with a small initrd (MODULES=list: virtio + ext4); ~2-3 min, needs the mirror
#   <h2>/          the image: base.img (ext4 made with `mkfs.ext4 -d`, no loop mount), vmlinuz,
#                  initrd.img; h2 also covers this script, scripts/vm/guest/ and the node binary
# Each stage is built in a .tmp-* directory beside its place and renamed into place when whole, so
# a directory that exists is complete and is used without a lock. Builders take turns on
# .build.lock; a .tmp-* found under the lock was left by a builder that died, and goes. Checkouts
# on other branches keep their own <h2> beside ours: a build removes only what went unused for 30
# days. Installs qemu-system-x86, qemu-utils and debootstrap when missing (as root). Logs of the
# last build are in logs/ of the cache. Long steps report as setup's do (scripts/lib/progress.sh):
# a progress line on a TTY, a plain line every 30 s otherwise (CI, and the demo that relays them).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
CACHE=${SWITCHYARD_VM_CACHE:-/var/cache/switchyard/vms}
NODE_BIN=$(command -v node || true)
while (($#)); do
  case $1 in
    --node) NODE_BIN=$2; shift 2 ;;
    *) echo "build-image: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -x "$NODE_BIN" ] || { echo "build-image: no node binary (pass --node PATH)" >&2; exit 2; }
NODE_BIN=$(readlink -f "$NODE_BIN")

SUITE=bookworm
MIRROR=${SWITCHYARD_VM_MIRROR:-http://deb.debian.org/debian}
PKGS=systemd-sysv,udev,kmod,iproute2,iputils-ping,iperf3,procps,ethtool,tcpdump,linux-image-amd64,initramfs-tools,libstdc++6,libpcap0.8
INITRD_MODULES="virtio_pci virtio_blk ext4"
IMAGE_SIZE=2G

say() { echo "vm-image: $*"; }
die() { echo "vm-image: FAILED: $*" >&2; exit 1; }
# shellcheck source=../lib/machine-cache.sh
. scripts/lib/machine-cache.sh
# shellcheck source=../lib/progress.sh
. scripts/lib/progress.sh

# --- host packages ---------------------------------------------------------------------------
need=()
for p in qemu-system-x86 qemu-utils debootstrap e2fsprogs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
done
if ((${#need[@]})); then
  [ "$(id -u)" = 0 ] || die "missing Debian packages ${need[*]}: run as root or apt-get install them"
  export DEBIAN_FRONTEND=noninteractive
  # without apt-get update first when the package lists will do
  install_host_pkgs() {
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null 2>&1 ||
      { apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null; }
  }
  step "vm-image: apt-get install ${need[*]}" install_host_pkgs || die "apt-get install ${need[*]}"
fi

h1=$(printf '%s\n' "stage1-v2" "$SUITE" "$MIRROR" "$PKGS" "$INITRD_MODULES" | sha256sum | cut -c1-16)
ROOTFS=$CACHE/rootfs-$h1
# the node binary by content: checkouts that use the same node share the image
h2=$( { echo "$h1"; cat scripts/vm/build-image.sh; find scripts/vm/guest -type f | sort | xargs cat; sha256sum <"$NODE_BIN"; } | sha256sum | cut -c1-16)
IMAGE=$CACHE/$h2

complete() { [ -f "$1/base.img" ] && [ -f "$1/vmlinuz" ] && [ -f "$1/initrd.img" ]; }
use_cached() {
  touch "$IMAGE/.used" 2>/dev/null || true   # for the 30-day clean-up; a read-only cache still works
  say "cached image $IMAGE"
  echo "image: $IMAGE"
  exit 0
}
complete "$IMAGE" && use_cached

lock_machine_cache "$CACHE" SWITCHYARD_VM_CACHE
mkdir -p "$CACHE/logs"
complete "$IMAGE" && use_cached   # the builder we waited for made it
remove_tree "$CACHE"/.tmp-*       # left by builders that died: live ones hold the lock
if [ -e "$IMAGE" ]; then say "removing the incomplete $IMAGE"; remove_tree "$IMAGE"; fi

# --- stage 1: debootstrap ----------------------------------------------------------------------
mounted=()
cleanup_mounts() { local m; for m in "${mounted[@]}"; do umount -l "$m" 2>/dev/null || true; done; mounted=(); }
trap 'cleanup_mounts' EXIT
trap 'cleanup_mounts; exit 130' INT TERM

if [ ! -f "$ROOTFS/.done" ]; then
  remove_tree "$ROOTFS"
  tmp=$CACHE/.tmp-rootfs-$h1
  log=$CACHE/logs/debootstrap.log
  say "stage 1/2: debootstrap $SUITE into $tmp (2-4 min; log $log)"
  start=$SECONDS
  run_debootstrap() { debootstrap --variant=minbase --include="$PKGS" "$SUITE" "$tmp" "$MIRROR" >"$log" 2>&1; }
  # what debootstrap is at, for the progress line: "I: Retrieving libc6 2.36-9"
  debootstrap_at() { grep -E '^I: (Retrieving|Validating|Extracting|Unpacking|Configuring|Installing)' "$log" | tail -1 | cut -c4-; }
  if ! STEP_STATUS=debootstrap_at step "vm-image: stage 1/2: debootstrap" run_debootstrap; then
    why=$(grep -m1 -E '^E: ' "$log" | cut -c1-200 || true)
    die "debootstrap from $MIRROR: ${why:-no error line} (is the Debian mirror reachable? log $log)"
  fi
  sed -i 's/^MODULES=.*/MODULES=list/' "$tmp/etc/initramfs-tools/initramfs.conf"
  printf '%s\n' $INITRD_MODULES >"$tmp/etc/initramfs-tools/modules"
  for d in proc sys dev; do mount --bind /$d "$tmp/$d"; mounted+=("$tmp/$d"); done
  STEP_LOG=$CACHE/logs/initramfs.log step "vm-image: initrd with MODULES=list ($INITRD_MODULES)" chroot "$tmp" update-initramfs -u -k all ||
    die "update-initramfs (see $CACHE/logs/initramfs.log)"
  cleanup_mounts
  rm -rf "$tmp"/var/cache/apt/archives/*.deb "$tmp"/var/lib/apt/lists/*
  touch "$tmp/.done"
  mv -T "$tmp" "$ROOTFS"
  say "stage 1/2 done in $((SECONDS - start)) s"
else
  say "stage 1/2: cached rootfs $ROOTFS"
fi

# --- stage 2: configure and make the ext4 image -----------------------------------------------
# The rootfs is configured in place (under the lock): every file stage 2 writes is written again by
# each build, so an image never carries another recipe's configuration.
start=$SECONDS
tmp=$CACHE/.tmp-$h2
say "stage 2/2: configuring the guest and writing $tmp/base.img"
R=$ROOTFS
touch "$R/.used"
mkdir -p "$tmp"
install -m 0755 "$NODE_BIN" "$R/usr/local/bin/node"
install -D -m 0644 scripts/vm/guest/runner.mjs "$R/usr/local/lib/switchyard-vm/runner.mjs"
install -m 0644 scripts/vm/guest/switchyard-runner.service "$R/etc/systemd/system/switchyard-runner.service"
mkdir -p "$R/etc/systemd/system/multi-user.target.wants" "$R/switchyard" "$R/vm"
ln -sf /etc/systemd/system/switchyard-runner.service "$R/etc/systemd/system/multi-user.target.wants/switchyard-runner.service"
cat >"$R/etc/fstab" <<'FSTAB'
/dev/vda     /           ext4  rw,noatime,errors=remount-ro  0 1
switchyard   /switchyard 9p    trans=virtio,version=9p2000.L,msize=512000,cache=loose,ro,nofail  0 0
vm           /vm         9p    trans=virtio,version=9p2000.L,msize=512000,rw,nofail  0 0
FSTAB
# Not ip_gre/gre: loaded, it turns on GRE GRO, and the switchyard host would read coalesced
# super-frames from its raw GRE socket. `ip link add ... type gretap` loads it where it is wanted.
printf '%s\n' 9p 9pnet_virtio tun >"$R/etc/modules-load.d/switchyard.conf"
# Every copy of this image would otherwise share one machine-id (and so one set of MACs): each VM
# gets its own through systemd.machine_id= on the kernel command line.
: >"$R/etc/machine-id"; rm -f "$R/var/lib/dbus/machine-id"
echo switchyard-vm >"$R/etc/hostname"
sed -i 's/^root:[^:]*:/root::/' "$R/etc/shadow"   # console login without password (debugging)
mkdir -p "$R/etc/systemd/journald.conf.d"
printf '[Journal]\nStorage=volatile\n' >"$R/etc/systemd/journald.conf.d/volatile.conf"
for u in apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer getty@tty1.service systemd-timesyncd.service; do
  ln -sf /dev/null "$R/etc/systemd/system/$u"
done
kernel=$(ls "$R"/boot/vmlinuz-* | sort -V | tail -1)
initrd=$(ls "$R"/boot/initrd.img-* | sort -V | tail -1)
cp "$kernel" "$tmp/vmlinuz"; cp "$initrd" "$tmp/initrd.img"
log=$CACHE/logs/mkfs.log
STEP_LOG=$log step "vm-image: writing the $IMAGE_SIZE ext4 image (mkfs.ext4 -d)" mkfs.ext4 -q -F -L switchyard -d "$R" "$tmp/base.img" "$IMAGE_SIZE" ||
  die "mkfs.ext4 -d (see $log)"
printf 'kernel=%s\nnode=%s\nbuilt=%s\n' "$(basename "$kernel")" "$NODE_BIN" "$(date -Is)" >"$tmp/info"
touch "$tmp/.used"
mv -T "$tmp" "$IMAGE"
# Other recipes' images may be another checkout's: only what went unused for 30 days is removed.
for d in "$CACHE"/rootfs-* "$CACHE"/????????????????; do
  [ -d "$d" ] && [ "$d" != "$IMAGE" ] && [ "$d" != "$ROOTFS" ] || continue
  [ -z "$(find "$d/.used" -mtime -30 2>/dev/null)" ] || continue
  say "removing $d (unused for 30 days)"
  remove_tree "$d"
done
say "stage 2/2 done in $((SECONDS - start)) s"
echo "image: $IMAGE"
