"""The pieces of the jump server that need no network: access.yaml faults, the reach
decision, lock-out counting and rebuilding typed commands from terminal input."""

from __future__ import annotations

from pathlib import Path

import pytest

from corridor.jump.lockout import Lockout, LockoutsUnreadable
from corridor.jump.policy import Policy, PolicySource
from corridor.jump.recording import LineTracker
from corridor.site import check_site, load_site

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHVZvzxAQ6gS3bZbqbmLQZ9n0CgR8VgYk7x3sW0K5pQm a@b"


def write_access(site: Path, body: str) -> None:
    (site / "access.yaml").write_text(body)


def test_access_yaml_faults_name_file_and_line(site_dir: Path) -> None:
    write_access(site_dir, f"""roles:
  ops:
    hosts: {{txn: [22]}}
admins:
  - name: asha
    roles: [ops]
    ssh_keys: ["ssh-ed25519 AAAAnotbase64!!"]
    login: "Root Account"
  - name: lee
    roles: [ops]
    ssh_keys: ["{KEY.replace('ssh-ed25519', 'ssh-rsa')}"]
  - name: kiran
    roles: [ops]
    ssh_keys: ["{KEY}"]
  - name: omar
    roles: [ops]
    ssh_keys: ["{KEY}"]
lockout: {{failures: 0}}
""")
    faults = [str(f) for f in check_site(site_dir)]
    assert "access.yaml:7: admin 'asha': ssh key does not decode" in faults
    assert "access.yaml:8: login 'Root Account' is not a valid account name" in faults
    assert "access.yaml:11: admin 'lee': ssh key says ssh-rsa but holds ssh-ed25519" in faults
    assert "access.yaml:17: admin 'omar': key is also 'kiran''s" in faults
    assert "access.yaml:18: lockout.failures must be a whole number 1..1000" in faults


def test_reach_follows_roles_hosts_and_ports(site_dir: Path) -> None:
    write_access(site_dir, f"""roles:
  ops: {{hosts: {{txn: [22, 2222]}}}}
  audit: {{hosts: {{rpt: [22]}}}}
admins:
  - {{name: asha, roles: [ops, audit], ssh_keys: ["{KEY}"], login: ops}}
  - {{name: lee, roles: [ops], disabled: true}}
""")
    site = load_site(site_dir)
    policy = Policy(site.hub, site.access)
    asha, lee = policy.admin("asha"), policy.admin("lee")
    assert policy.reachable(asha) == {"rpt": (22,), "txn": (22, 2222)}
    assert policy.reach(asha, "txn", 2222).allowed
    assert policy.reach(asha, "rpt", 22).host.name == "rpt"
    assert policy.reach(asha, "txn", 5432).reason == "port 5432 on txn is not granted"
    assert policy.reach(asha, "vpn", 22).reason == "vpn is outside the admin's roles"
    assert policy.reach(asha, "db.example", 22).reason == "db.example is not a managed host"
    assert policy.reach(lee, "txn", 22).reason == "admin is disabled"
    assert policy.key_matches(asha, __import__("base64").b64decode(KEY.split()[1]))
    assert asha.login == "ops"


def test_a_faulty_access_yaml_keeps_the_last_good_policy(site_dir: Path) -> None:
    write_access(site_dir, "roles: {ops: {hosts: {txn: [22]}}}\n"
                           "admins: [{name: asha, roles: [ops]}]\n")
    source = PolicySource(site_dir)
    first, faults = source.current()
    assert faults is None and first.admin("asha") is not None
    write_access(site_dir, "roles: {ops: {hosts: {txn: [22]}}}\n"
                           "admins: [{name: asha, roles: [ops], disabled: maybe}]\n")
    kept, faults = source.current()
    assert kept is first
    assert faults == ["access.yaml:2: admins[].disabled must be true or false"]
    write_access(site_dir, "roles: {ops: {hosts: {txn: [22]}}}\nadmins: []\n")
    fresh, faults = source.current()
    assert faults is None and fresh.admin("asha") is None


def test_a_lockout_outlives_a_restart_and_ends_on_time(tmp_path: Path) -> None:
    now = [1_800_000_000.0]
    path = tmp_path / "lockouts.json"
    lock = Lockout(path, clock=lambda: now[0])
    for _ in range(3):
        lock.failure("10.0.0.1", 3, 60, 300)
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    now[0] += 100
    restarted = Lockout(path, clock=lambda: now[0])
    assert restarted.locked("10.0.0.1") == 200 and restarted.locked("10.0.0.2") == 0
    now[0] += 201
    assert Lockout(path, clock=lambda: now[0]).locked("10.0.0.1") == 0
    path.write_text("[1, 2]")
    with pytest.raises(LockoutsUnreadable, match="move it aside"):
        Lockout(path)


def test_lockout_counts_failures_per_source_within_the_window() -> None:
    now = [1000.0]
    lock = Lockout(clock=lambda: now[0])
    assert not lock.failure("10.0.0.1", limit=3, window=60, lock=300)
    now[0] += 61  # the first failure has left the window
    assert not lock.failure("10.0.0.1", 3, 60, 300)
    assert not lock.failure("10.0.0.1", 3, 60, 300)
    assert lock.failure("10.0.0.1", 3, 60, 300)  # the third within the window locks
    assert lock.locked("10.0.0.1") == 300
    assert lock.locked("10.0.0.2") == 0
    now[0] += 301
    assert lock.locked("10.0.0.1") == 0


def test_typed_commands_are_rebuilt_from_keystrokes() -> None:
    lines = LineTracker()
    lines.feed("ls -l\r")
    lines.feed("echx\x7fo hi\r")
    lines.feed("rm -rf /\x15uptime\r")
    lines.feed("\x1b[Ahistory\r")
    lines.feed("exit")
    assert lines.finish() == ["ls -l", "echo hi", "uptime", "history", "exit"]
