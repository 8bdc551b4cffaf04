#!/usr/bin/env bash
# Installs everything switchyard needs on a fresh Debian 12 machine, then builds it. Idempotent:
# each step is skipped when its output is newer than its inputs.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=lib/progress.sh
source scripts/lib/progress.sh
export DEBIAN_FRONTEND=noninteractive

APT_PKGS=(iproute2 iputils-ping iperf3 tcpdump tshark udhcpc ethtool libpcap-dev python3-scapy openvswitch-switch openvswitch-vtep etcd-server etcd-client g++ make python3 procps nftables openvswitch-switch-dpdk librte-mempool-ring23 prometheus curl openssl liburing-dev)
missing=()
for p in "${APT_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" != 0 ]; then
    echo "setup: missing Debian packages: ${missing[*]} (run as root, or apt-get install them)" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  step "setup: apt-get update" apt-get update -qq >/dev/null
  # tshark asks whether non-root users may capture: answer no, never prompt
  echo 'wireshark-common wireshark-common/install-setuid boolean false' | debconf-set-selections
  # Debian's prometheus package starts a Prometheus server; switchyard wants only its promtool
  # (the tests lint the metrics with it). While installing, a policy-rc.d forbids starting that one
  # service (one that exists already, e.g. a container's, is left alone), and afterwards the
  # service is disabled, so no boot starts it either.
  policy=/usr/sbin/policy-rc.d
  if [[ " ${missing[*]} " == *" prometheus "* ]] && [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# switchyard setup: no Prometheus server from the prometheus package\n[ "$1" = prometheus ] && exit 101\nexit 0\n' >"$policy"
    chmod 755 "$policy"
    trap 'rm -f "$policy"' EXIT
  fi
  step "setup: apt-get install (${#missing[@]} packages)" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if [[ " ${missing[*]} " == *" prometheus "* ]]; then
    if grep -q 'no Prometheus server' "$policy" 2>/dev/null; then rm -f "$policy"; trap - EXIT; fi
    deb-systemd-helper disable prometheus.service >/dev/null 2>&1 || true
    update-rc.d prometheus disable >/dev/null 2>&1 || true
  fi
fi
# The Debian openvswitch-switch package starts a system ovs-vswitchd; tests run their own per
# namespace, so the system one is left alone (it does not touch our namespaces).

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  step "setup: npm ci ($(node -e 'console.log(Object.keys(require("./package-lock.json").packages).length - 1)') packages; a few minutes on a fresh machine)" npm ci --no-audit --no-fund
fi

addon=native-bindings/build/Release/switchyard_native.node
if [ ! -f "$addon" ] || [ -n "$(find native-bindings/src native-bindings/binding.gyp -newer "$addon" 2>/dev/null | head -1)" ]; then
  STEP_LOG=/tmp/switchyard-node-gyp.log step "setup: building native-bindings (node-gyp)" npx node-gyp rebuild --directory native-bindings
fi

stamp=dist/.stamp
if [ ! -f "$stamp" ] || [ -n "$(find src tsconfig.json -newer "$stamp" 2>/dev/null | head -1)" ]; then
  # no rm -rf: agents of a concurrent run may be loading dist/
  step "setup: compiling TypeScript (tsc)" npx tsc -p tsconfig.json
  touch "$stamp"
fi
