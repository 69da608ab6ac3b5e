"""`corridor bench lab`: the lab as an operator gets it, timed. It builds a lab of its own
(`corridor lab up`, booting the VM where this kernel has no ESP), runs the journey
(`corridor lab demo`), has PayFast's application send transfers through its tunnel, and
takes the lab down. One JSON object:

  vm               whether the lab ran inside the VM
  boot_s           the VM's boot, until it ran commands (0 without a VM)
  up_s             `lab up` as the operator waits for it, boot included
  journey_s        `lab demo`: one transfer from PayFast to MobiCash, callbacks included
  esp_packets      ESP packets the vpn host counted, both ways, over the whole run
  transfers        transfers PayFast sent through its tunnel and saw COMPLETED
  transfers_per_s  their rate (concurrency 8, status polled)
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import click

from corridor.clikit import bench_site_option, open_site
from corridor.lab import remote, report
from corridor.lab.errors import LabError
from corridor.lab.plan import plan
from corridor.lab.state import DEFAULT_ROOT
from corridor.lab.vm import LabVM

NAME = "labbench"
RUN_S = 1800.0  # bounds a hang; conditions end each step


def _corridor(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "corridor", *args], capture_output=True,
                          text=True, timeout=RUN_S, check=False)


def _need(done: subprocess.CompletedProcess[str], what: str) -> None:
    if done.returncode != 0:
        lines = [ln for ln in (done.stderr + done.stdout).splitlines() if ln.strip()]
        raise LabError(f"{what} failed: {lines[-1] if lines else 'no output'}")


def run(site_dir: Path, count: int) -> dict[str, Any]:
    site = open_site(site_dir)
    the_plan = plan(site)
    payfast = the_plan.partners.get("payfast")
    if payfast is None:
        raise LabError("the bench sends from PayFast: the site has no payfast tunnel")
    _corridor("lab", "down", "--name", NAME)  # a bench killed earlier leaves nothing here
    started = time.monotonic()
    up = _corridor("lab", "up", "--site", str(site.root), "--name", NAME)
    up_s = time.monotonic() - started
    try:
        _need(up, "lab up")
        boot = re.search(r"lab VM booted in ([\d.]+)s", up.stderr)
        started = time.monotonic()
        demo = _corridor("lab", "demo", "--name", NAME)
        demo_s = time.monotonic() - started
        _need(demo, "lab demo")
        # The transfer's own journey, as the demo timed it; demo_s adds the command's
        # start, the funding and the checks around it.
        took = re.search(r"journey\s+([\d.]+) s from", demo.stdout)
        if took is None:
            raise LabError("lab demo did not say how long the journey took")
        journey_s = float(took.group(1))
        vm = remote.lab_vm(NAME)
        in_vm = vm.status().running
        root = f"{DEFAULT_ROOT}/{NAME}"
        fund = ["ledger", "fund", "payfast", "10000000.00", "--reference",
                f"LABBENCH-{time.time_ns()}", "--site", f"{root}/site", "--data",
                f"{root}/hosts/txn/data"]
        send = ["sim", "send-partner", "--site", f"{root}/site", "--partner", "payfast",
                "--eig", f"https://{payfast.face}:{the_plan.ports['eig']}", "send",
                "--count", str(count), "--concurrency", "8", "--poll"]
        _need(_where(vm, in_vm, f"{NAME}-txn", fund), "funding PayFast")
        sent = _where(vm, in_vm, f"{NAME}-{payfast.app}", send)
        lines = [ln for ln in sent.stdout.splitlines() if ln.startswith("{")]
        if not lines:
            _need(sent, "sending transfers")
        summary = json.loads(lines[-1])
        status = _corridor("lab", "status", "--json", "--name", NAME)
        _need(status, "lab status")
        found = json.loads(status.stdout)
        esp = sum(report.counter(found, the_plan.vpn, f"esp {way} {p}")
                  for p in the_plan.partners for way in ("to", "from"))
    finally:
        _corridor("lab", "down", "--name", NAME)
    return {"vm": in_vm, "boot_s": float(boot.group(1)) if boot else 0.0,
            "up_s": round(up_s, 1), "journey_s": round(journey_s, 2),
            "demo_s": round(demo_s, 1), "esp_packets": esp,
            "transfers": summary["statuses"].get("COMPLETED", 0),
            "transfers_per_s": summary["transfers_per_s"]}


def _where(vm: LabVM, in_vm: bool, ns: str,
           args: list[str]) -> subprocess.CompletedProcess[str]:
    """`corridor ARGS` in namespace `ns`, where the lab lives."""
    if in_vm:
        return vm.run(["ip", "netns", "exec", ns, *remote.python_argv(), "-m", "corridor",
                       *args], timeout=RUN_S)
    return subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-m", "corridor", *args],
                          capture_output=True, text=True, timeout=RUN_S, check=False)


@click.command("lab")
@bench_site_option
@click.option("--count", type=click.IntRange(1), default=40, show_default=True,
              help="Transfers PayFast sends through its tunnel.")
def bench(site_dir: Path, count: int) -> None:
    """Time the lab: VM boot, lab up, the journey, transfers through PayFast's tunnel."""
    try:
        click.echo(json.dumps(run(site_dir, count)))
    except LabError as exc:
        click.echo(f"error: {exc.detail}", err=True)
        sys.exit(1)
