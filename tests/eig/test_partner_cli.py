"""Onboarding with the real CLI while EIG runs: `corridor partner add` then
`corridor pki issue`, and the new partner's certificate, key and allowlist work through
the running gateway within a second, without a restart. Bad options change nothing."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from corridor.site import check_site, demo_site, load_site
from tests.eig.conftest import CORRIDOR, Gateway, Stack
from tests.support import copy_site, need, need_root, need_tool, site_snapshot, wait_for

ADD = ["--name", "ZamZam Pay", "--country", "AE", "--role", "send", "--currency", "AED",
       "--allowed-ip", "127.0.0.5/32", "--callback-url", "https://127.0.0.1:9/callbacks"]


def corridor(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CORRIDOR, *args], capture_output=True, text=True, timeout=60)


def test_added_partner_is_served_without_restart(fresh_gw: Gateway) -> None:
    gw = fresh_gw
    out = corridor("partner", "add", "zamzam", *ADD, "--site", str(gw.site))
    assert out.returncode == 0, out.stderr
    key = out.stdout.split("api key zamzam: ")[1].split()[0]
    assert (gw.site / "secrets" / "zamzam.apikey.hash").stat().st_mode & 0o777 == 0o600
    assert key not in "".join(p.read_text() for p in (gw.site / "secrets").glob("zamzam*"))
    out = corridor("pki", "issue", "zamzam", "--site", str(gw.site))
    assert out.returncode == 0, out.stderr
    cert = gw.layout.partner("zamzam")

    def served() -> bool:
        status, _, _ = gw.curl("GET", "/v1/transfers", cert=cert, key=key,
                               interface="127.0.0.5")
        return status == 200

    wait_for(served, timeout=10, what="the new partner served")
    status, body, _ = gw.curl("GET", "/v1/transfers", cert=cert, key=key)
    assert (status, body["code"]) == (403, "source_ip_not_allowed")  # 127.0.0.1: not listed
    status, body, _ = gw.curl("GET", "/v1/transfers", cert=cert, key=gw.keys["payfast"],
                              interface="127.0.0.5")
    assert (status, body["code"]) == (403, "api_key_wrong_partner")
    # A send partner only: the receiver callback is not for it.
    status, body, _ = gw.curl("POST", "/v1/callbacks/receiver", cert=cert, key=key,
                              interface="127.0.0.5", body={"transfer_id": "t", "status": "SUCCESS"},
                              headers={"Idempotency-Key": "cb-1", "Corridor-Signature": "t=1"})
    assert (status, body["code"]) == (403, "role_not_allowed")


@pytest.mark.parametrize(("partner_id", "change", "message"), [
    ("payfast", {}, "exists already"),
    ("zz1", {"--currency": "XXX"}, "unknown currency 'XXX'"),
    ("zz2", {"--allowed-ip": "not-a-network"}, "does not parse"),
    ("zz3", {"--callback-url": None}, "missing field 'callback_url'"),
    ("zz4", {"--role": "sideways"}, "Invalid value for '--role'"),
])
def test_bad_options_change_nothing(stack: Stack, tmp_path: Path, partner_id: str,
                                    change: dict[str, str | None], message: str) -> None:
    site = tmp_path / "site"
    shutil.copytree(stack.site, site)
    before = site_snapshot(site)
    args: list[str] = []
    for i in range(0, len(ADD), 2):
        name, value = ADD[i], ADD[i + 1]
        value = change.get(name, value)
        if value is not None:
            args += [name, value]
    out = corridor("partner", "add", partner_id, *args, "--site", str(site))
    assert out.returncode != 0 and message in out.stderr
    assert "Traceback" not in out.stderr and "api key" not in out.stdout
    assert out.stderr.strip().splitlines()[-1].startswith(("error:", "Error:"))
    assert site_snapshot(site) == before


def demo_partner(pid: str, until: str = "limits:") -> str:
    """A demo partner file's text up to the fields `partner add` has no option for."""
    text = (demo_site() / "partners" / f"{pid}.yaml").read_text()
    return text[:text.index(until)]


PIN_NOTE = "  # Pinned to pki/partners/{0}.crt, which `corridor pki issue {0}` writes.\n"


@pytest.mark.parametrize(("args", "expected"), [
    (["--name", "PayFast Remittances", "--country", "IN", "--role", "send", "--currency", "INR",
      "--allowed-ip", "127.0.0.9/32", "--allowed-ip", "10.20.9.0/24",
      "--callback-url", "https://127.0.0.1:9101/corridor/callbacks"],
     demo_partner("payfast").replace("payfast", "zamzam")
     .replace("127.0.0.1/32, 10.20.1.0/24", "127.0.0.9/32, 10.20.9.0/24")),
    (["--name", "MobiCash Kenya", "--country", "UG", "--role", "receive", "--currency", "UGX",
      "--allowed-ip", "127.0.0.9/32", "--allowed-ip", "10.30.9.0/24",
      "--endpoint", "https://127.0.0.1:9201", "--payout-method", "wallet"],
     demo_partner("mobicash").replace("mobicash", "zamzam").replace("KE", "UG")
     .replace("[UGS]", "[UGX]").replace("127.0.0.2/32, 10.30.1.0/24", "127.0.0.9/32, 10.30.9.0/24")
     .replace("api_key:", PIN_NOTE.format("zamzam") + "api_key:")),
])
def test_an_added_partner_is_written_like_the_demo_partners(tmp_path: Path, args: list[str],
                                                             expected: str) -> None:
    site = copy_site(tmp_path)
    out = corridor("partner", "add", "zamzam", *args, "--site", str(site))
    assert out.returncode == 0, out.stderr
    assert (site / "partners" / "zamzam.yaml").read_text() == expected
    assert check_site(site) == []
    assert load_site(site).partners["zamzam"].name == args[1]


def test_disable_changes_only_the_flag(tmp_path: Path) -> None:
    site = copy_site(tmp_path)
    file = site / "partners" / "islapay.yaml"
    file.write_text(file.read_text() + "disabled: false   # paused until the KYC review\n")
    before = file.read_text()
    out = corridor("partner", "disable", "islapay", "--site", str(site))
    assert out.returncode == 0, out.stderr
    assert file.read_text() == before.replace("disabled: false  ", "disabled: true   ")
    assert load_site(site).partners["islapay"].disabled


@pytest.fixture
def frozen_partners(tmp_path: Path) -> Iterator[Path]:
    """A site whose partners/ directory nothing can write, not even root (`chattr +i`)."""
    need_root()
    need_tool("chattr")
    site = copy_site(tmp_path)
    frozen = subprocess.run(["chattr", "+i", str(site / "partners")], capture_output=True)
    need(frozen.returncode == 0, f"a file system with chattr +i: {frozen.stderr!r}")
    try:
        yield site
    finally:
        subprocess.run(["chattr", "-i", str(site / "partners")], check=True)


def test_an_edit_that_cannot_be_written_says_so_and_keeps_the_file(frozen_partners: Path) -> None:
    site = frozen_partners
    before = site_snapshot(site)
    out = corridor("partner", "disable", "payfast", "--site", str(site))
    assert out.returncode == 1
    assert out.stderr == (f"error: payfast not disabled: cannot write "
                          f"{site}/partners/payfast.yaml: Operation not permitted\n")
    assert site_snapshot(site) == before
