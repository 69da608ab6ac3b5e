"""TOTP codes without a network: which time step a code proves, that each step is accepted
once per admin and stays so across a restart, and how a client picks its next code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyotp
import pytest

from corridor.jump import totp
from corridor.jump.replay import LedgerUnreadable, StepLedger
from corridor.site.model import Admin

NOW = 1_800_000_015.0  # 15 s into step 60_000_000
STEP = 60_000_000


def enrolled(tmp_path: Path) -> tuple[Admin, str]:
    secret = pyotp.random_base32()
    path = tmp_path / "asha.totp"
    path.write_text(secret + "\n")
    return Admin("asha", ("ops",), (), path), secret


def test_a_code_proves_its_step_within_one_step_of_drift(tmp_path: Path) -> None:
    admin, secret = enrolled(tmp_path)
    for step in (STEP - 1, STEP, STEP + 1):
        assert totp.accepted_step(admin, totp.code_at(secret, step), NOW) == step
    for step in (STEP - 2, STEP + 2):
        code = totp.code_at(secret, step)
        if code not in {totp.code_at(secret, s) for s in (STEP - 1, STEP, STEP + 1)}:
            assert totp.accepted_step(admin, code, NOW) is None
    assert totp.accepted_step(admin, "12345", NOW) is None
    assert totp.accepted_step(admin, "abcdef", NOW) is None
    with pytest.raises(totp.NotEnrolled):
        totp.accepted_step(Admin("lee", (), (), tmp_path / "absent"), "123456", NOW)


def test_each_step_is_accepted_once_per_admin_and_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "totp_steps.json"
    ledger = StepLedger(path)
    assert ledger.claim("asha", STEP)
    assert not ledger.claim("asha", STEP)  # the same code again
    assert not ledger.claim("asha", STEP - 1)  # an older code of the same window
    assert ledger.claim("lee", STEP)  # another admin's steps are their own
    assert ledger.claim("asha", STEP + 1)
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    restarted = StepLedger(path)
    assert restarted.last("asha") == STEP + 1
    assert not restarted.claim("asha", STEP + 1)
    assert not restarted.claim("lee", STEP)


def test_a_damaged_ledger_stops_the_bastion_instead_of_forgetting(site_dir: Path,
                                                                  tmp_path: Path) -> None:
    ledger = tmp_path / "var" / "jump" / "totp_steps.json"
    ledger.parent.mkdir(parents=True)
    for junk in ("{not json", "[1, 2]", '{"asha": "soon"}'):
        ledger.write_text(junk)
        with pytest.raises(LedgerUnreadable):
            StepLedger(ledger)
    done = subprocess.run(
        [sys.executable, "-m", "corridor", "serve", "jump", "--site", str(site_dir),
         "--data", str(tmp_path / "var"), "--listen", "127.0.0.1:1"],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr == (f"error: {ledger} is not a TOTP step ledger; "
                           "move it aside to start afresh\n")


def test_a_client_picks_the_next_unused_step_that_will_not_expire_in_flight() -> None:
    assert totp.next_step(None, NOW) == STEP - 1  # the oldest code still good for 45 s
    assert totp.next_step(None, NOW + 12) == STEP  # too close to leaving the window
    assert totp.next_step(STEP - 1, NOW) == STEP
    assert totp.next_step(STEP + 1, NOW) == STEP + 2  # beyond the window: wait for it
    assert totp.usable_from(STEP + 2) == (STEP + 1) * 30
