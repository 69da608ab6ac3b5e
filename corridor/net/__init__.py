"""The network perimeter generated from the site: Libreswan tunnels (`vpn`), the nftables
allowlist (`firewall`) and the tunnel monitor."""
