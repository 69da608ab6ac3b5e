"""The lab: the hub's topology in network namespaces, with partner traffic through real
IPsec tunnels. Where the running kernel has no ESP (`kernel.esp_support`), the lab runs
inside a small VM with Debian's stock kernel (`vm.LabVM`)."""
