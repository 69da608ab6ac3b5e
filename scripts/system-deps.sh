#!/usr/bin/env bash
# Installs the Debian packages that the tests with real parts drive (nftables, Libreswan,
# OpenSSH, Chromium, TLS auditors, and QEMU with Debian's stock kernel for the lab VM that
# `corridor lab` boots when the running kernel has no ESP). Only as root; elsewhere the
# tests that need them skip and say why (under CI=true they fail instead).
set -euo pipefail
packages=(nftables libreswan iproute2 iputils-ping openssh-server openssh-client
          chromium sslscan curl openssl tmux libnss3-tools procps asciinema faketime
          qemu-system-x86 linux-image-amd64 busybox-static)
[ "$(id -u)" = 0 ] || { echo "system-deps: not root, skipping apt"; exit 0; }
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "system-deps: installing ${missing[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
