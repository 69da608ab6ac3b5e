"""Building and removing the lab in the kernel this process runs in (in place).

`up` checks everything it can before it makes anything (the site, the plan, the tools, a
lab already up, collisions with this machine's addresses); then it writes the state file
and builds: the lab's site copy, hosts and links, firewall rules, servers, the partners'
applications, tunnels. Any failure on the way removes all it made and raises one line.
"""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from corridor.lab import build, labsite, netns, procs, servers, state, tunnels, zones
from corridor.lab.errors import LabError
from corridor.lab.plan import Plan, collisions, plan
from corridor.lab.procs import READY_S, TOOL_S
from corridor.net import firewall, nft
from corridor.site.model import Site

TOOLS = ("ip", "nft", "sysctl", "sshd", "ssh-keygen", "ipsec", "certutil", "pk12util")


def lab_site_dir(st: state.State) -> Path:
    return st.dir / "site"


def check_can_build(site: Site, root: Path, name: str) -> Plan:
    """Everything that would stop a build, before anything is made."""
    the_plan = plan(site)
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        raise LabError(f"missing {', '.join(missing)} (make system-deps installs them)")
    existing = state.load(root, name)
    if existing is not None:
        raise LabError(f"lab {name} is already up ({existing.phase}, from {existing.site}); "
                       f"run `corridor lab down --name {name}` first")
    spaces = build.lab_namespaces(name)
    if spaces:
        raise LabError(f"namespaces of lab {name} exist ({', '.join(spaces[:3])}...); run "
                       f"`corridor lab down --name {name}` first")
    clashes = collisions(the_plan, build.machine_addresses())
    if clashes:
        raise LabError("\n".join(clashes))
    return the_plan


def up(site: Site, root: Path, name: str, esp: bool | None = None,
       say: Callable[[str], None] = lambda _: None) -> state.State:
    """Build lab `name` from `site`; `esp` is what the caller knows of this kernel's ESP
    (recorded for `lab status`; None: not checked); `say` hears each step as it ends."""
    the_plan = check_can_build(site, root, name)
    st = state.new(root, name, site.root)
    st.esp = esp
    started = time.monotonic()

    def step(what: str) -> None:
        say(f"{time.monotonic() - started:6.1f}s  {what}")

    try:
        lab_site = labsite.make(site, the_plan, lab_site_dir(st), servers.desk_keys(st))
        step(f"lab site with its own keys at {lab_site.root}")
        build.make_hosts(the_plan, st)
        step(f"{len(the_plan.hosts)} hosts, {len(the_plan.links)} links, "
             f"{len(the_plan.bridges)} bridges")
        apply_rules(lab_site, the_plan, st)
        step(f"partner allowlist and zone rules ({len(the_plan.flows)} flows)")
        # Everything starts side by side, then each is waited for: first the tunnels
        # (pluto negotiates while the servers start), then the servers, forked from this
        # process with what they import already imported (`procs.fork_corridor`: Python
        # is slow to start under an emulated VM).
        tunnels.start(lab_site, the_plan, st, step)
        step(f"conns loaded and dialled on {the_plan.vpn}")
        procs.preload()
        step("server modules imported")
        waiting = servers.start_hub(lab_site, the_plan, st)
        waiting += servers.start_partners(lab_site, the_plan, st)
        step(f"{len(waiting)} servers started")
        servers.wait_all(waiting)
        step(f"{len(waiting)} servers ready")
        # Where the kernel carries ESP the lab is up when every tunnel is; elsewhere, when
        # both ends of each hold an IKE SA.
        pending = tunnels.settle(lab_site, the_plan, st, sorted(the_plan.partners),
                                 need_ipsec=esp is True, timeout=READY_S)
        step("tunnels established" + "".join(f"; not {pid}: {why}"
                                             for pid, why in pending.items()))
    except BaseException:
        build.teardown(name, st, st.dir)
        raise
    st.phase = "up"
    st.save()
    return st


def apply_rules(site: Site, the_plan: Plan, st: state.State) -> None:
    """The partner allowlist and the lab's rules on the vpn host, the zone rules on every
    other hub host, counters on each partner gateway's internet link."""
    scripts = {the_plan.vpn: [firewall.render(firewall.allowlist(site)),
                              zones.vpn_rules(the_plan)]}
    for host in the_plan.hosts.values():
        if host.kind == "hub" and host.name != the_plan.vpn:
            scripts[host.name] = [zones.host_rules(the_plan, host.name)]
        elif host.kind == "gateway":
            scripts[host.name] = [zones.gateway_rules()]

    def load(host: str) -> None:
        for script in scripts[host]:
            # nft started from a thread inside the namespace runs there: no `ip netns
            # exec` (a mount namespace and a sysfs remount each) per call.
            netns.run_in(st.ns(host), nft.apply, script, None, TOOL_S)

    build.side_by_side(load, scripts)


def down(root: Path, name: str) -> list[str]:
    """Remove lab `name` whatever state it is in; nothing to remove is not an error."""
    st = None
    with contextlib.suppress(LabError):  # unreadable: the namespaces and directory still go
        st = state.load(root, name)
    return build.teardown(name, st, state.lab_dir(root, name))
