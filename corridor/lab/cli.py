"""`corridor lab up | demo | status | down`: the seed's topology from the site, each server
and each partner end a host of its own (a network namespace), partners' traffic through
real IPsec tunnels and the zone rules.

The tunnels need a kernel with ESP. Every subcommand goes through `run_lab`, the one place
that decides where the lab lives: in this kernel, or inside a VM with a stock kernel that
runs the same subcommand with `--in-place`.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import time
from pathlib import Path

import click

from corridor.clikit import open_site, site_option
from corridor.core.errors import CorridorError
from corridor.lab.errors import LabError
from corridor.lab.state import DEFAULT_NAME, DEFAULT_ROOT, check_name

name_option = click.option("--name", default=DEFAULT_NAME, show_default=True,
                           help="The lab's name: its namespaces are NAME-<host>.")
root_option = click.option(
    "--root", type=click.Path(file_okay=False, path_type=Path), default=DEFAULT_ROOT,
    show_default=True,
    help="Where the lab keeps its files (on a tmpfs: pluto's control sockets live there).")
in_place_option = click.option(
    "--in-place", is_flag=True, hidden=True,
    help="Build in the running kernel, whatever it carries (the VM runs subcommands so).")


def run_lab(command: str, argv: list[str], in_place: bool, *, name: str, root: Path,
            site: Path | None = None, as_json: bool = False, vm_wanted: bool = False,
            kernel: Path | None = None) -> bool:
    """THE SEAM between this machine and a VM. Returns True when the subcommand should run
    here, in place; False when it was run elsewhere (corridor.lab.remote decides: inside
    the lab VM when one carries this lab, or for `up` when this kernel has no ESP). A
    subcommand run in the VM exits with the VM's exit code; `down` also stops the VM."""
    if in_place:
        return True
    from corridor.lab import inplace, remote

    vm = remote.lab_vm(name)
    if command == "down":
        if vm.status().running or vm.state_dir.exists():
            remote.down(vm)
            return remote.local_lab(root, name)  # an in-place lab of that name goes too
        return True
    if vm.status().running:
        if command == "up":
            assert site is not None
            if not remote.sees(vm, site):
                raise LabError(f"the lab VM running from {vm.state_dir} does not see "
                               f"{site}; run `corridor lab down --name {name}` first")
        code = remote.status(vm, argv, as_json) if command == "status" else \
            remote.relay(vm, command, argv)
        sys.exit(code)
    if command != "up" or (not vm_wanted and esp_here()):
        return True
    assert site is not None
    inplace.check_can_build(open_site(site), root, name)  # all that needs no VM, first
    why = "asked for" if vm_wanted else "this kernel has no ESP"
    sys.exit(remote.up(vm, argv, site, kernel, why))


def esp_here() -> bool:
    """Whether this kernel carries ESP, by corridor.lab.kernel's probe.

    `lab up` asks before it starts pluto, and that matters beyond the answer: the probe's
    SA makes the kernel load ESP and its crypto templates. Under an emulated VM that takes
    seconds, and if the first Child SA pays for it instead, pluto's SA can arrive after the
    kernel dropped the SPI it reserved 30 s earlier (netlink "No such process"): that
    tunnel then stays "IKE up, IPsec SA down"."""
    from corridor.lab.kernel import esp_support

    return bool(esp_support().available)


def remote_absolute(path: Path) -> Path:
    """The site's absolute path: the VM runs its commands from elsewhere."""
    return Path(os.path.abspath(path))


def _errors(func):  # type: ignore[no-untyped-def]
    """Lab and tool failures as `error: ...` lines, exit 1, no traceback: like
    clikit.friendly_errors, but one line per fault, since a refusal may name several (each
    lab network that collides with this machine's addresses)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
        try:
            return func(*args, **kwargs)
        except CorridorError as exc:
            for line in exc.detail.splitlines() or ["failed"]:
                click.echo(f"error: {line}", err=True)
            sys.exit(1)

    return wrapper


@click.group()
def lab() -> None:
    """The seed's topology as separate hosts, from the site: up, demo, status, down."""


@lab.command("up")
@site_option
@name_option
@root_option
@click.option("--vm", "vm_wanted", is_flag=True,
              help="Build inside the lab VM even where this kernel carries ESP.")
@click.option("--kernel", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The lab VM's kernel image [default: the newest /boot/vmlinuz-*].")
@in_place_option
@_errors
def lab_up(site_dir: Path, name: str, root: Path, vm_wanted: bool, kernel: Path | None,
           in_place: bool) -> None:
    """Build the lab: hosts, links, zone rules, servers, partner gateways and tunnels.
    Where this kernel has no ESP, inside a VM booted for it."""
    from corridor.lab import inplace

    check_name(name)
    site_dir = remote_absolute(site_dir)
    if not run_lab("up", ["--site", str(site_dir), "--name", name, "--root", str(root)],
                   in_place, name=name, root=root, site=site_dir, vm_wanted=vm_wanted,
                   kernel=kernel):
        return
    site = open_site(site_dir)
    started = time.monotonic()
    st = inplace.up(site, root, name, esp=esp_here(), say=lambda line: click.echo(line, err=True))
    click.echo(f"lab {name} up in {time.monotonic() - started:.1f}s: "
               f"{len(st.namespaces)} hosts, {len(st.processes)} processes; "
               f"`corridor lab status --name {name}` shows them")


@lab.command("down")
@name_option
@root_option
@in_place_option
@_errors
def lab_down(name: str, root: Path, in_place: bool) -> None:
    """Remove every namespace, process and file of the lab (safe on a half-built lab)."""
    from corridor.lab import inplace

    check_name(name)
    if not run_lab("down", ["--name", name, "--root", str(root)], in_place, name=name,
                   root=root):
        return
    done = inplace.down(root, name)
    click.echo(f"lab {name}: " + ("; ".join(done) if done else "nothing to remove"))


@lab.command("status")
@name_option
@root_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@in_place_option
@_errors
def lab_status(name: str, root: Path, as_json: bool, in_place: bool) -> None:
    """Each host, its servers, the tunnels (IKE and IPsec SA, bytes) and firewall counters."""
    from corridor.lab import report

    check_name(name)
    if not run_lab("status", ["--name", name, "--root", str(root)]
                   + (["--json"] if as_json else []), in_place, name=name, root=root,
                   as_json=as_json):
        return
    found = report.gather(root, name)
    if as_json:
        click.echo(json.dumps(found, indent=1))
    else:
        report.show(found)


@lab.command("demo")
@name_option
@root_option
@click.option("--partner", default="payfast", show_default=True,
              help="The send partner whose application sends the transfer.")
@click.option("--to", "receiver", default="mobicash", show_default=True,
              help="The receive partner that pays it out.")
@in_place_option
@_errors
def lab_demo(name: str, root: Path, partner: str, receiver: str, in_place: bool) -> None:
    """A send partner's application sends a transfer through its tunnel, hop by hop."""
    from corridor.lab import journey

    check_name(name)
    if not run_lab("demo", ["--name", name, "--root", str(root), "--partner", partner,
                            "--to", receiver], in_place, name=name, root=root):
        return
    journey.run(root, name, partner, receiver)


