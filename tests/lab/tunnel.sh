#!/bin/sh
# Run inside the lab VM by test_vm.py: `sh tests/lab/tunnel.sh WORK`. Two namespaces joined
# by a veth, the hub and PayFast, each with a pluto started the way corridor/net/plutod.py's
# PlutoPeer starts one (own run directory, NSS database, secrets and log), loading the
# conns rendered from the demo site into WORK/hub and WORK/payfast. Shell rather than
# Python: every Python start costs tens of seconds over the VM's 9p root under emulation.
set -eu
work=$1
run=/run/corridor-lab/tunnel  # tmpfs: the shared filesystem cannot hold pluto's socket
hub=lab-hub
payfast=lab-payfast

for ns in $hub $payfast; do
  ip netns add $ns
  ip -n $ns link set lo up
done
ip link add lab-hub0 type veth peer name lab-payfast0
ip link set lab-hub0 netns $hub
ip link set lab-payfast0 netns $payfast

# end: namespace, device, public IP, peer's public IP, a host in our subnet, the far subnet.
# Pluto adds no route into the far subnet (no leftsourceip), and the kernel encloses in
# ESP only what it has a route for: hence a host in each subnet and a route across.
wire() {
  ip -n "$1" addr add "$3/32" dev "$2"
  ip -n "$1" link set "$2" up
  ip -n "$1" route add "$4/32" dev "$2"
  ip -n "$1" addr add "$5/32" dev lo
  ip -n "$1" route add "$6" dev "$2" src "$5"
}
wire $hub lab-hub0 203.0.113.10 198.51.100.20 10.99.0.1 10.20.1.0/24
wire $payfast lab-payfast0 198.51.100.20 203.0.113.10 10.20.1.1 10.99.0.0/24

# end: namespace, its directory of rendered conns.
start_pluto() {
  home=$run/$1
  mkdir -p "$home/run" "$home/nss"
  certutil -N -d "sql:$home/nss" --empty-password
  echo "config setup" > "$home/ipsec.conf"
  echo "include $2/*.secrets" > "$home/ipsec.secrets"
  chmod 0600 "$home/ipsec.secrets"
  ip netns exec "$1" /usr/libexec/ipsec/pluto --config "$home/ipsec.conf" \
    --rundir "$home/run" --nssdir "$home/nss" --secretsfile "$home/ipsec.secrets" \
    --logfile "$home/pluto.log" --no-dnssec
}
start_pluto $hub "$work/hub"
start_pluto $payfast "$work/payfast"
