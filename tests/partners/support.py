"""What the onboarding tests share: the CLI run as an operator runs it, and a new send
partner in India with a tunnel, on a bootstrapped copy of the demo site."""

from __future__ import annotations

import subprocess
from pathlib import Path

from corridor.pki.bootstrap import bootstrap
from corridor.site import load_site
from tests.eig.conftest import CORRIDOR
from tests.support import copy_site

PARTNER = "zamzam"
SOURCE_IP = "127.0.0.5"
DESCRIBED = ["--name", "ZamZam Pay", "--country", "IN", "--role", "send", "--currency", "INR",
             "--allowed-ip", f"{SOURCE_IP}/32", "--callback-url", "https://127.0.0.1:9/cb",
             "--peer-ip", "198.51.100.60", "--partner-subnet", "10.60.1.0/24",
             "--hub-subnet", "10.99.6.0/24"]


def corridor(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CORRIDOR, *args], capture_output=True, text=True, timeout=120)


def booted_site(root: Path) -> Path:
    """A copy of the demo site with its PKI and secrets, as `pki bootstrap` makes them."""
    site = copy_site(root)
    bootstrap(load_site(site))
    return site


def onboard(site: Path, data: Path, kit: Path, *extra: str,
            described: list[str] = DESCRIBED) -> subprocess.CompletedProcess[str]:
    return corridor("partner", "onboard", PARTNER, *described, "--site", str(site),
                    "--data", str(data), "--kit", str(kit), *extra)


def api_key(out: subprocess.CompletedProcess[str]) -> str:
    return out.stdout.split(f"api key {PARTNER}: ")[1].split()[0]
