"""Role-based reach through the bastion with the stock OpenSSH client: ProxyJump to a
permitted host, and everything else refused and audited with its reason."""

from __future__ import annotations

import secrets
import urllib.request

from tests.jump.rig import Jump
from tests.support import wait_for


def test_proxyjump_to_a_permitted_host_works_and_is_audited(jump: Jump) -> None:
    word = f"through-{secrets.token_hex(4)}"
    done = jump.ssh("asha", "-J", "jump", "-p", str(jump.target_port), "txn", f"echo {word}")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == word
    to = f"txn:{jump.target_port}"
    end = wait_for(lambda: jump.audit_has(event="forward_end", admin="asha", to=to),
                   what="the forward's audit record")
    assert end["source"] == "127.0.0.1"
    assert end["bytes_up"] > 1000 and end["bytes_down"] > 1000  # an SSH handshake each way
    assert end["duration_s"] > 0
    assert jump.audit_has(event="login", result="ok", admin="asha")["factors"] == [
        "publickey", "totp"]


def test_scp_through_the_bastion_delivers_the_file(jump: Jump) -> None:
    source = jump.tmp / "payload.bin"
    source.write_bytes(secrets.token_bytes(3 * 1024 * 1024))
    dest = jump.tmp / "received.bin"
    config = jump.ssh_config("asha")
    import subprocess

    done = subprocess.run(
        ["scp", "-q", "-F", str(config), "-J", "jump", "-P", str(jump.target_port),
         str(source), f"txn:{dest}"],
        env=jump.env("asha"), capture_output=True, text=True, timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr
    assert dest.read_bytes() == source.read_bytes()


def test_host_outside_the_role_is_refused(jump: Jump) -> None:
    done = jump.ssh("asha", "-J", "jump", "-p", "22", "vpn", "true")
    assert done.returncode != 0
    refusal = wait_for(lambda: jump.audit_has(event="forward", decision="refused",
                                              admin="asha", to="vpn:22"))
    assert refusal["reason"] == "vpn is outside the admin's roles"


def test_brokered_session_to_a_host_outside_the_role_is_refused(jump: Jump) -> None:
    done = jump.ssh("asha", "jump", "vpn")
    assert done.returncode == 1
    assert "refused: vpn is outside the admin's roles" in done.stderr
    assert jump.audit_has(event="session", decision="refused", admin="asha", to="vpn")


def test_forward_to_an_arbitrary_port_is_refused(jump: Jump) -> None:
    done = jump.ssh("asha", "-W", "txn:5432", "jump")
    assert done.returncode != 0
    assert "stdio forwarding failed" in done.stderr
    refusal = wait_for(lambda: jump.audit_has(event="forward", decision="refused",
                                              to="txn:5432"))
    assert refusal["reason"] == "port 5432 on txn is not granted"
    # Not by address either, nor to a host the site does not manage.
    assert jump.ssh("asha", "-W", "127.0.0.1:5432", "jump").returncode != 0
    assert jump.ssh("asha", "-W", "example.org:22", "jump").returncode != 0
    assert jump.audit_has(event="forward", decision="refused", to="example.org:22",
                          reason="example.org is not a managed host")


def test_remote_forwarding_is_refused(jump: Jump) -> None:
    done = jump.ssh("asha", "-o", "ExitOnForwardFailure=yes", "-R", "0:127.0.0.1:9", "jump",
                    "true")
    assert done.returncode != 0
    assert jump.audit_has(event="remote_forward", decision="refused", admin="asha")


def test_menu_lists_what_the_admin_may_reach(jump: Jump) -> None:
    done = jump.ssh("asha", "jump")
    assert done.returncode == 0
    assert f"txn: ports {jump.target_port}" in done.stdout
    assert "vpn" not in done.stdout


def test_metrics_count_logins_and_refusals(jump: Jump) -> None:
    assert jump.ssh("asha", "-W", "txn:5433", "jump").returncode != 0
    url = f"http://127.0.0.1:{jump.metrics_port}/metrics"
    text = urllib.request.urlopen(url, timeout=5).read().decode()
    assert 'corridor_jump_logins_total{result="ok"}' in text
    assert 'corridor_jump_refusals_total{kind="forward"}' in text
    assert "corridor_jump_open_sessions" in text
    via_cli = jump.corridor("jump", "metrics", "--data", str(jump.data))
    assert "corridor_jump_logins_total" in via_cli.stdout


def test_audit_log_holds_no_secrets(jump: Jump) -> None:
    assert jump.ssh("asha", "jump").returncode == 0
    text = (jump.data / "jump" / "audit.log").read_text()
    for admin in jump.admins.values():
        assert admin["secret"] not in text
    assert "TOTP code:" not in text
    assert oct((jump.data / "jump" / "audit.log").stat().st_mode & 0o777) == "0o600"
    assert oct((jump.data / "jump" / "host_ed25519").stat().st_mode & 0o777) == "0o600"
    assert oct((jump.data / "jump" / "bastion_ed25519").stat().st_mode & 0o777) == "0o600"
