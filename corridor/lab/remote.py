"""Where a lab subcommand runs: in this kernel, or inside the lab VM (`corridor.lab.vm`)
when this kernel has no ESP. `dispatch` is `corridor lab`'s one decision:

- a lab VM of that name runs: the subcommand runs inside it (`corridor lab CMD --in-place
  ...` over the VM's SSH channel), its output and exit code relayed; `down` then stops the
  VM too, whatever state a crash left it in;
- otherwise, where this kernel carries ESP, or for `status`, `demo` and `down` (a lab
  built in place, or none): here;
- `up` where this kernel has no ESP: every check that needs no VM runs here first (the
  site, the plan, the tools, a lab of that name already up, collisions with this
  machine's addresses), then the VM boots and builds the lab; if the build fails, the VM
  it booted for it stops: nothing is left half-built.

The VM shares the site directory (the host's /tmp is not the guest's) and sees the Python
installation, the venv and the project's code as they were at boot, cached in its memory:
under emulation that is what makes a Python start take ~2 s instead of ~7 s. Their
bytecode is compiled here first, since the VM sees them read-only.
"""

from __future__ import annotations

import compileall
import contextlib
import json
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import click

import corridor
from corridor.lab import state
from corridor.lab.errors import LabError
from corridor.lab.vm import LabVM

# The VMs' state directories on the host (one per lab name): not under /run/corridor-lab,
# which the VM mounts a tmpfs of its own over.
VM_ROOT = Path("/var/lib/corridor-lab")


def lab_vm(name: str) -> LabVM:
    return LabVM(VM_ROOT / state.check_name(name))


def cached_dirs() -> list[Path]:
    """What the lab's processes read at every start: the system's programs and libraries
    (/usr: ip, nft, pluto, sshd), the interpreter's installation, the venv and the
    project's package."""
    dirs = [Path("/usr"), Path(sys.base_prefix), Path(sys.prefix),
            Path(corridor.__file__).parent]
    found: list[Path] = []
    for d in dirs:  # a directory inside another one already listed adds nothing
        if not any(d == f or f in d.parents for f in found):
            found.append(d)
    return found


def precompile() -> None:
    """Bytecode for the project's package (the venv's was compiled when it was installed):
    the VM cannot write it, and compiling on every import costs seconds there."""
    compileall.compile_dir(Path(corridor.__file__).parent, quiet=2, workers=1)


def say(line: str) -> None:
    click.echo(line, err=True)


def python_argv() -> list[str]:
    """This interpreter as the VM runs it: without the site module, which spends seconds
    of each start under emulation importing the finder of the project's editable install
    (pathlib, re, urllib...: measured 2.6 s of `python -c pass`'s 6.6 s). PYTHONPATH gives
    the same path: the project's root and the venv's packages. The lab passes -S on to the
    servers it starts (corridor.lab.procs.corridor)."""
    root = Path(corridor.__file__).parent.parent
    packages = sysconfig.get_path("purelib")
    return ["env", f"PYTHONPATH={root}:{packages}", sys.executable, "-S"]


def in_vm(vm: LabVM, command: str, argv: list[str], *, capture: bool = False,
          ) -> subprocess.CompletedProcess[str]:
    return vm.run([*python_argv(), "-m", "corridor", "lab", command, "--in-place", *argv],
                  cwd=Path("/"), capture=capture)


def boot(vm: LabVM, share: list[Path], kernel: Path | None, why: str) -> None:
    vm.check(kernel)  # a missing kernel or QEMU is one line, before anything is said or made
    precompile()
    say(f"booting the lab VM ({why}) ...")
    done = vm.boot(share=share, cache=cached_dirs(), kernel=kernel)
    how = "KVM" if done.kvm else "emulated"
    refused = f"; KVM refused: {done.kvm_refused}" if done.kvm_refused else ""
    say(f"lab VM booted in {done.seconds:.1f}s ({how}{refused})")


def relay(vm: LabVM, command: str, argv: list[str]) -> int:
    """Run the subcommand in the VM, its output going straight to ours; its exit code."""
    return in_vm(vm, command, argv).returncode


def status(vm: LabVM, argv: list[str], as_json: bool) -> int:
    st = vm.status()
    line = (f"lab VM running (pid {st.pid}, {'KVM' if st.kvm else 'emulated'}, "
            f"state in {vm.state_dir}): the lab lives inside it")
    if not as_json:
        click.echo(line)
        return relay(vm, "status", argv)
    done = in_vm(vm, "status", argv, capture=True)
    sys.stderr.write(done.stderr)
    if done.returncode != 0:
        return done.returncode
    found = json.loads(done.stdout)
    found["vm"] = {"running": True, "pid": st.pid, "kvm": st.kvm,
                   "state_dir": str(vm.state_dir)}
    click.echo(json.dumps(found, indent=1))
    return 0


def down(vm: LabVM) -> None:
    """Stop the VM, and with it the lab inside: its namespaces, processes and files live
    in the VM's memory only (the lab's root is a tmpfs there), so nothing of it outlives
    QEMU. Safe after any crash: it finds the VM's processes by their state directory."""
    stopped = vm.down()
    click.echo(f"lab VM {'stopped' if stopped else 'removed'}, and the lab inside it "
               f"({vm.state_dir})")


def up(vm: LabVM, argv: list[str], site: Path, kernel: Path | None, why: str) -> int:
    """Boot the VM for this lab and build the lab inside it; on failure, stop it."""
    started = time.monotonic()
    boot(vm, [site], kernel, why)
    try:
        code = relay(vm, "up", argv)
    except BaseException:
        with contextlib.suppress(LabError):
            vm.down()
        raise
    if code != 0:
        vm.down()
        say("lab VM stopped: nothing was left of the failed build")
        return code
    say(f"lab up {time.monotonic() - started:.1f}s after the VM was asked for")
    return 0


def sees(vm: LabVM, path: Path) -> bool:
    return vm.run(["test", "-d", str(path)]).returncode == 0


def local_lab(root: Path, name: str) -> bool:
    """Whether anything of an in-place lab of that name is on this machine."""
    from corridor.lab.build import lab_namespaces

    return state.lab_dir(root, name).exists() or bool(lab_namespaces(name))
