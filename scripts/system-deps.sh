#!/usr/bin/env bash
# Installs the Debian packages that the tests with real parts drive (nftables, Libreswan,
# tcpdump, OpenSSH, Chromium, TLS auditors, promtool, and QEMU with Debian's stock kernel for
# the lab VM that `corridor lab` boots when the running kernel has no ESP; etcd and, from PyPI
# with every version pinned, Patroni 4.1 in /opt/patroni for the PostgreSQL pair). Only as root;
# elsewhere the tests that need them skip and say why (under CI=true they fail instead).
set -euo pipefail
packages=(nftables libreswan iproute2 iputils-ping openssh-server openssh-client tcpdump
          chromium sslscan curl openssl tmux libnss3-tools procps asciinema faketime
          prometheus qemu-system-x86 linux-image-amd64 busybox-static libmagic1
          etcd-server etcd-client python3-venv)
[ "$(id -u)" = 0 ] || { echo "system-deps: not root, skipping apt"; exit 0; }
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
patroni_venv() {
  # Patroni runs as the postgres user, so it gets a venv of the system's Python that that
  # user can read (not the checkout's). scripts/patroni-requirements.txt pins it.
  local want
  want=$(grep -c '==' "$(dirname "$0")/patroni-requirements.txt")
  [ -x /opt/patroni/bin/patroni ] && \
    [ "$(/opt/patroni/bin/pip freeze 2>/dev/null | grep -cFxf <(grep '==' "$(dirname "$0")/patroni-requirements.txt"))" = "$want" ] && return 0
  echo "system-deps: installing Patroni into /opt/patroni"
  /usr/bin/python3 -m venv /opt/patroni
  /opt/patroni/bin/pip install -q -r "$(dirname "$0")/patroni-requirements.txt"
}
if [ ${#missing[@]} -eq 0 ]; then patroni_venv; exit 0; fi
echo "system-deps: installing ${missing[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Only promtool is wanted from `prometheus`. Its package starts the server where it can (a
# host running systemd, or no policy-rc.d forbidding it): stop and disable that server so
# that nothing is left listening on :9090.
if [[ " ${missing[*]} " == *" prometheus "* ]] && pgrep -x prometheus >/dev/null; then
  if [ -d /run/systemd/system ]; then
    systemctl disable --now prometheus.service >/dev/null 2>&1 || true
  else
    service prometheus stop >/dev/null 2>&1 || true
    update-rc.d prometheus disable >/dev/null 2>&1 || true
  fi
fi
# etcd-server's package likewise starts a system etcd on 2379: the tests run their own.
if [[ " ${missing[*]} " == *" etcd-server "* ]] && pgrep -x etcd >/dev/null; then
  if [ -d /run/systemd/system ]; then
    systemctl disable --now etcd.service >/dev/null 2>&1 || true
  else
    service etcd stop >/dev/null 2>&1 || true
    update-rc.d etcd disable >/dev/null 2>&1 || true
  fi
fi
patroni_venv
