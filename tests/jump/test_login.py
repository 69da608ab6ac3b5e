"""Logging in to the bastion with the stock OpenSSH client: an SSH key from access.yaml
and then a TOTP code; wrong codes, unknown keys, revoked admins and lock-out."""

from __future__ import annotations

import re

import pyotp

from corridor.jump.sshd import keygen
from tests.jump.rig import Jump
from tests.support import wait_for


def wrong_code(jump: Jump, admin: str) -> str:
    totp = pyotp.TOTP(jump.admins[admin]["secret"])
    now = int(jump.bastion_time())
    good = {totp.at(now, counter_offset=k) for k in (-2, -1, 0, 1, 2)}  # steps may turn
    return next(c for c in ("000000", "111111", "222222") if c not in good)


def test_wrong_totp_code_is_refused(jump: Jump) -> None:
    bad = wrong_code(jump, "asha")
    done = jump.ssh("asha", "jump", code=bad, source="127.0.0.3")
    assert done.returncode == 255
    assert "Permission denied" in done.stderr
    assert jump.audit_has(event="login", result="refused", reason="wrong TOTP code",
                          admin="asha")


def test_unknown_key_is_refused_before_any_code_is_asked(jump: Jump) -> None:
    stranger = jump.tmp / "stranger"
    keygen(stranger, "stranger")
    done = jump.ssh("asha", "jump", key=stranger, source="127.0.0.4")
    assert done.returncode == 255
    assert "Permission denied" in done.stderr
    refusal = jump.audit_has(event="login", result="refused", reason="unknown key")
    assert refusal["admin"] == "asha" and refusal["key"].startswith("SHA256:")
    assert not jump.audit_has(event="login", result="refused", reason="wrong TOTP code",
                              key=refusal["key"])


def test_unknown_admin_is_refused(jump: Jump) -> None:
    jump.admins["nobody"] = dict(jump.admins["asha"])
    try:
        done = jump.ssh("nobody", "jump", source="127.0.0.5")
    finally:
        del jump.admins["nobody"]
    assert done.returncode == 255
    assert jump.audit_has(event="login", result="refused", reason="unknown admin",
                          admin="nobody")


def test_revoking_an_admin_takes_effect_without_restart(jump: Jump) -> None:
    assert jump.ssh("kiran", "jump").returncode == 0
    ports = {"txn": jump.target_port}
    roles = {"payments-ops": {"txn": [jump.target_port], "rpt": [22]},
             "network": {"vpn": [22]}}
    lockout = {"failures": 3, "window_seconds": 60, "lock_seconds": 120}
    jump.admins["kiran"]["disabled"] = True
    jump.write_site(roles, lockout, ports)
    revoked = "127.0.0.6"
    done = jump.ssh("kiran", "-J", "jump", "-p", str(jump.target_port), "txn", "true",
                    source=revoked)
    assert done.returncode == 255
    assert jump.audit_has(event="login", result="refused", reason="admin is disabled",
                          admin="kiran")
    # A faulty access.yaml does not open the door: the last good policy stays in force.
    access = jump.site / "access.yaml"
    good = access.read_text()
    access.write_text(good.replace("disabled: true", "disabled: maybe"))
    try:
        assert jump.ssh("kiran", "jump", source=revoked).returncode == 255
        refused = wait_for(lambda: jump.audit_has(event="policy_refused"))
        assert any("disabled must be true or false" in f for f in refused["faults"])
        assert jump.ssh("asha", "jump").returncode == 0
    finally:
        access.write_text(good)
    assert jump.ssh("kiran", "jump", source=revoked).returncode == 255


def test_lockout_after_repeated_failures(jump: Jump) -> None:
    source = "127.0.0.2"  # a source of its own, so other tests are not locked out
    bad = wrong_code(jump, "lee")
    for _ in range(3):
        done = jump.ssh("lee", "jump", code=bad, source=source)
        assert done.returncode == 255
    locked = jump.audit_has(event="lockout", source=source)
    assert locked and locked["seconds"] == 120
    # Even the right code is refused from the locked source, while others get in.
    done = jump.ssh("lee", "jump", source=source)
    assert done.returncode == 255
    assert jump.audit_has(event="login", result="refused", reason="source locked out",
                          source=source)
    assert jump.ssh("lee", "jump").returncode == 0
    # Restarting the bastion does not lift it.
    jump.stop()
    jump.start()
    assert jump.ssh("lee", "jump", source=source).returncode == 255
    refusals = [e for e in jump.audit() if e.get("event") == "login" and e.get("source") == source
                and e.get("reason") == "source locked out"]
    assert len(refusals) == 2
    assert jump.ssh("lee", "jump").returncode == 0


def test_a_locked_out_source_is_told_why_after_the_version_exchange(jump: Jump) -> None:
    source = "127.0.0.9"
    bad = wrong_code(jump, "asha")
    for _ in range(3):
        assert jump.ssh("asha", "jump", code=bad, source=source).returncode == 255
    wait_for(lambda: jump.audit_has(event="lockout", source=source))
    # With the right code: the bastion speaks SSH first, then says why it hangs up.
    done = jump.ssh("asha", "-v", "jump", source=source)
    assert done.returncode == 255
    assert "kex_exchange_identification" not in done.stderr
    assert "banner line contains invalid characters" not in done.stderr
    assert "remote software version AsyncSSH" in done.stderr
    assert re.search(r"Received disconnect from 127\.0\.0\.1 port \d+:1: this address is "
                     r"locked out after too many failed logins; try again in about \d+ "
                     r"minutes?\n", done.stderr), done.stderr
    assert "Authenticated to" not in done.stderr
    refused = wait_for(lambda: jump.audit_has(event="login", result="refused",
                                              reason="source locked out", source=source))
    assert refused["admin"] == "asha" and 0 < refused["locked_for_s"] <= 120
    # The refusal is not one more failure: the lock-out is not counted or set again.
    mine = [e for e in jump.audit() if e.get("source") == source]
    assert [e["event"] for e in mine].count("lockout") == 1
    assert not [e for e in mine if e.get("reason") == "disconnected before completing "
                "authentication"]


def test_enroll_prints_uri_and_qr_and_writes_a_private_secret(jump: Jump, site_dir) -> None:
    done = jump.corridor("jump", "enroll", "asha", "--site", str(site_dir))
    uri = done.stdout.splitlines()[0]
    assert uri.startswith("otpauth://totp/") and "asha" in uri
    assert "█" in done.stdout or "▀" in done.stdout  # the QR code, drawn in blocks
    secret_file = site_dir / "secrets" / "totp" / "asha"
    assert oct(secret_file.stat().st_mode & 0o777) == "0o600"
    secret = secret_file.read_text().strip()
    assert pyotp.parse_uri(uri).secret == secret
    again = jump.corridor("jump", "enroll", "asha", "--site", str(site_dir), check=False)
    assert again.returncode == 1
    assert again.stderr == "error: asha is already enrolled; --force replaces the secret\n"
    assert secret_file.read_text().strip() == secret
    forced = jump.corridor("jump", "enroll", "asha", "--force", "--site", str(site_dir))
    assert secret_file.read_text().strip() != secret and forced.returncode == 0
    unknown = jump.corridor("jump", "enroll", "zed", "--site", str(site_dir), check=False)
    assert (unknown.returncode, unknown.stderr) == (1, "error: no admin 'zed' in access.yaml\n")


def test_a_code_is_accepted_once_even_across_a_restart(jump: Jump) -> None:
    source = "127.0.0.7"  # replays count towards lock-out: keep them off other tests' source
    code = jump.fresh_code("asha")
    assert jump.ssh("asha", "jump", code=code, source=source).returncode == 0
    again = jump.ssh("asha", "jump", code=code, source=source)
    assert again.returncode == 255 and "Permission denied" in again.stderr
    refused = jump.audit_has(event="login", result="refused", reason="TOTP code already used",
                             admin="asha", source=source)
    assert refused and code not in (jump.data / "jump" / "audit.log").read_text()
    # Replays are failed logins: the third locks the source out.
    for _ in range(2):
        assert jump.ssh("asha", "jump", code=code, source=source).returncode == 255
    locked = wait_for(lambda: jump.audit_has(event="lockout", source=source))
    assert locked["failures"] == 3
    ledger = jump.data / "jump" / "totp_steps.json"
    assert oct(ledger.stat().st_mode & 0o777) == "0o600"
    # A restart does not reopen the window.
    jump.stop()
    jump.start()
    elsewhere = "127.0.0.8"
    assert jump.ssh("asha", "jump", code=code, source=elsewhere).returncode == 255
    assert jump.audit_has(event="login", result="refused", reason="TOTP code already used",
                          source=elsewhere)
    assert jump.ssh("asha", "jump").returncode == 0  # the next code is welcome
