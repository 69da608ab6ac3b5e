"""Runs the system tools the perimeter drives (nft, ipsec whack, addconn), optionally
inside a network namespace, and turns their failures into `NetError` lines."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence

from corridor.net.errors import NetError

IPSEC_LIBEXEC = "/usr/libexec/ipsec"


def netns_prefix(netns: str | None) -> list[str]:
    return ["ip", "netns", "exec", netns] if netns else []


def run(
    argv: Sequence[str],
    netns: str | None = None,
    stdin: str | None = None,
    check: bool = True,
    timeout: float = 30.0,
) -> subprocess.CompletedProcess[str]:
    """Run a tool; with `check`, a non-zero exit raises NetError with its first complaint."""
    tool = argv[0]
    if shutil.which(tool) is None and not tool.startswith("/"):
        raise NetError(f"{tool} is not installed (make system-deps installs it)")
    cmd = [*netns_prefix(netns), *argv]
    try:
        proc = subprocess.run(
            cmd, input=stdin, capture_output=True, text=True, timeout=timeout, check=False
        )
    except FileNotFoundError as exc:
        raise NetError(f"{tool} is not installed: {exc}") from None
    except subprocess.TimeoutExpired:
        raise NetError(f"{tool} did not answer within {timeout:.0f}s") from None
    if check and proc.returncode != 0:
        raise NetError(f"{tool} failed: {first_complaint(proc.stderr or proc.stdout)}")
    return proc


def first_complaint(text: str) -> str:
    """The most telling line of a tool's error output (nft repeats context after it)."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for line in lines:
        if "error" in line.lower():
            return line
    return lines[0] if lines else "no output"


def libexec(name: str) -> str:
    """Path of a Libreswan helper (addconn, algparse, pluto), which `ipsec` wraps."""
    return f"{IPSEC_LIBEXEC}/{name}"
