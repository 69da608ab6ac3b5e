"""`corridor bench firewall`: render and apply an allowlist of N CIDRs spread over many
partners into a throwaway network namespace; prints one JSON object."""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
import time
from pathlib import Path

import click

from corridor.clikit import bench_site_option, fail, friendly_errors, open_site
from corridor.net import firewall as rules
from corridor.net import nft
from corridor.net.runner import run
from corridor.site.model import Site


def synthetic_site(site: Site, cidrs: int, partners: int) -> Site:
    """The demo site with `partners` partners sharing `cidrs` disjoint /28s of 10.0.0.0/8
    and 100.64.0.0/10 (no two adjacent, so nothing merges and every CIDR is an element)."""
    template = next(iter(site.partners.values()))
    per = -(-cidrs // partners)
    made = {}
    for i in range(partners):
        first, last = i * per, min(cidrs, (i + 1) * per)
        if first >= last:
            break
        nets = tuple(ipaddress.IPv4Network((0x0A000000 + n * 32, 28)) for n in range(first, last))
        pid = f"bench-{i:05d}"
        made[pid] = dataclasses.replace(template, id=pid, allowed_ips=nets, tunnel=None)
    return dataclasses.replace(site, partners=made)


@click.command("bench")
@bench_site_option
@click.option("--cidrs", type=int, default=100_000, show_default=True)
@click.option("--partners", type=int, default=500, show_default=True)
@friendly_errors
def bench(site_dir: Path, cidrs: int, partners: int) -> None:
    """Time render, `nft -c` and the atomic apply of a large allowlist (needs root)."""
    if os.geteuid() != 0:
        fail("the firewall bench applies rules in a network namespace: run it as root")
    if not 0 < cidrs <= 2**22 or partners < 1:
        fail("--cidrs must be 1..4194304 and --partners at least 1")
    site = synthetic_site(open_site(site_dir), cidrs, partners)
    started = time.perf_counter()
    allow = rules.allowlist(site)
    script = rules.render(allow)
    render_s = time.perf_counter() - started
    ns = f"corridor-bench-{os.getpid()}"
    run(["ip", "netns", "add", ns])
    try:
        started = time.perf_counter()
        nft.check(script, ns)
        check_s = time.perf_counter() - started
        started = time.perf_counter()
        run(["nft", "-f", "-"], netns=ns, stdin=script)
        apply_s = time.perf_counter() - started
        loaded = sum(len(v) for v in nft.set_elements(nft.live_json(ns) or {}).values())
    finally:
        run(["ip", "netns", "del", ns], check=False)
    click.echo(json.dumps({
        "cidrs": allow.cidrs, "partners": len(allow.partners), "loaded": loaded,
        "render_s": round(render_s, 3), "apply_s": round(apply_s, 3),
        "check_s": round(check_s, 3),
    }))
