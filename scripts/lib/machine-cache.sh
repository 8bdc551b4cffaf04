# Sourced by the builders of what is kept once per machine (scripts/vm/build-image.sh,
# scripts/other-node.sh): each builds into a .tmp-* directory beside its place and renames it into
# place when whole, and builders take turns on one lock per cache. The caller defines say and die.

# lock_machine_cache DIR ENV: makes DIR (or dies naming ENV, the variable that moves it) and takes
# DIR/.build.lock on fd 9 for the rest of the script, waiting while another builder holds it.
# Under the lock, a .tmp-* in DIR belongs to a builder that died: remove it with remove_tree.
lock_machine_cache() {
  local dir=$1 env=$2
  { mkdir -p "$dir" && [ -w "$dir" ]; } 2>/dev/null ||
    die "cannot write $dir (run as root, or set $env to a writable directory)"
  exec 9>"$dir/.build.lock"
  if ! flock -n 9; then
    say "another build holds $dir/.build.lock; waiting for it"
    flock 9
  fi
}

# remove_tree PATH...: a builder killed mid-build can leave /proc, /sys or /dev bind-mounted in its
# tree (a chroot's, or debootstrap's own): unmount whatever is below each tree before removing it,
# and never cross into another file system.
remove_tree() {
  local d m
  for d in "$@"; do
    [ -e "$d" ] || continue
    d=$(readlink -f "$d")
    awk -v p="$d/" 'index($2, p) == 1 { print $2 }' /proc/self/mounts | sort -r | while read -r m; do umount -l "$m" || true; done
    rm -rf --one-file-system "$d"
  done
}
