"""A jump server under test with real parts around it: a copy of the demo site pointing
at real `sshd` targets on loopback ports, the bastion as its own process, and the stock
OpenSSH client configured to go through it (TOTP codes supplied by SSH_ASKPASS).

The bastion accepts each admin's TOTP time step once, so every login here answers with the
code of the next step not yet used. Tests log the same admin in many times, far more than
the three steps of the window allow per 30 s, so the bastion runs under libfaketime with
a wall-clock offset the rig moves forward instead of waiting. Lock-out deadlines are wall-clock
times too (they outlive a restart), so moving the clock also shortens a lock-out; timeouts use
the monotonic clock, which is left alone.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pyotp
import yaml

from corridor.jump import totp
from corridor.jump.sshd import keygen, port_open, stop
from corridor.site.edit import move_host
from tests.support import copy_site, free_port, wait_for

HOSTS = ("eig", "txn", "rpt", "vpn")
FAKETIME_LIBS = ("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
                 "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1")


@dataclass
class Jump:
    """The bastion process, its site copy, data directory and an OpenSSH client setup."""

    tmp: Path
    site: Path = field(init=False)
    data: Path = field(init=False)
    port: int = 0
    proc: subprocess.Popen | None = None
    admins: dict[str, dict] = field(default_factory=dict)
    target_port: int = 0
    clock_offset: int = 0  # seconds the bastion's wall clock runs ahead of ours
    used_steps: dict[str, int] = field(default_factory=dict)  # last TOTP step per admin

    def __post_init__(self) -> None:
        self.site = copy_site(self.tmp)
        self.data = self.tmp / "var"
        self.keys = self.tmp / "keys"
        self.keys.mkdir()
        askpass = self.tmp / "askpass"
        askpass.write_text('#!/bin/sh\ncat "$JUMP_TEST_TOTP_FILE"\n')
        askpass.chmod(0o700)
        self.askpass = askpass
        self.clock_file = self.tmp / "bastion-clock"
        self.clock_file.write_text("+0s\n")

    # -- site ---------------------------------------------------------------------------
    def add_admin(self, name: str, roles: list[str], login: str = "root",
                  enrolled: bool = True) -> Path:
        key = self.keys / name
        public = keygen(key, name)
        secret = pyotp.random_base32()
        self.admins[name] = {"key": key, "public": public, "secret": secret,
                             "roles": roles, "login": login, "disabled": False}
        if enrolled:
            totp = self.site / "secrets" / "totp" / name
            totp.parent.mkdir(parents=True, exist_ok=True)
            totp.write_text(secret + "\n")
            totp.chmod(0o600)
        return key

    def write_site(self, roles: dict[str, dict[str, list[int]]], lockout: dict | None = None,
                   ports: dict[str, int] | None = None) -> None:
        """Point hub.yaml's managed hosts at `ports` and write access.yaml."""
        for host, port in (ports or {}).items():
            move_host(self.site, host, ssh_port=port)
        access = {
            "roles": {r: {"hosts": h} for r, h in roles.items()},
            "admins": [
                {"name": n, "roles": a["roles"], "ssh_keys": [a["public"]],
                 "totp": f"secrets/totp/{n}", "login": a["login"], "disabled": a["disabled"]}
                for n, a in self.admins.items()
            ],
        }
        if lockout:
            access["lockout"] = lockout
        (self.site / "access.yaml").write_text(yaml.safe_dump(access, sort_keys=False))

    def bastion_public_key(self) -> str:
        out = self.corridor("jump", "bastion-key", "--data", str(self.data))
        return out.stdout.strip()

    # -- processes ----------------------------------------------------------------------
    def start(self) -> Jump:
        self.port = free_port()
        self.metrics_port = free_port()
        self.log = open(self.tmp / "jump.log", "ab")  # noqa: SIM115
        faketime = next((lib for lib in FAKETIME_LIBS if Path(lib).exists()), None)
        assert faketime, "libfaketime is not installed (scripts/system-deps.sh)"
        env = dict(os.environ, LD_PRELOAD=faketime, FAKETIME_TIMESTAMP_FILE=str(self.clock_file),
                   FAKETIME_NO_CACHE="1", FAKETIME_DONT_FAKE_MONOTONIC="1")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "corridor", "serve", "jump", "--site", str(self.site),
             "--data", str(self.data), "--listen", f"127.0.0.1:{self.port}",
             "--metrics", f"127.0.0.1:{self.metrics_port}"],
            stdout=self.log, stderr=subprocess.STDOUT, env=env,
        )
        wait_for(lambda: port_open(self.port) or self.proc.poll() is not None,
                 what="the jump server to listen")
        assert self.proc.poll() is None, (self.tmp / "jump.log").read_text()
        return self

    def stop(self) -> None:
        if self.proc:
            stop(self.proc)
            self.log.close()

    def corridor(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "corridor", *args], capture_output=True,
                              text=True, check=check, timeout=60)

    # -- the bastion's clock and fresh TOTP codes ---------------------------------------
    def bastion_time(self) -> float:
        return time.time() + self.clock_offset

    def move_clock(self, seconds: int) -> None:
        """Move the bastion's wall clock forward (libfaketime reads the file on each call)."""
        self.clock_offset += seconds
        self.clock_file.write_text(f"+{self.clock_offset}s\n")

    def fresh_code(self, admin: str) -> str:
        """The code of the admin's next unused TOTP step, moving the bastion's clock on when
        the steps of its current window are used up."""
        step = totp.next_step(self.used_steps.get(admin), self.bastion_time())
        if totp.usable_from(step) > self.bastion_time():
            # Land just inside the step after `step`, so that `step` opens a fresh window
            # of three: itself and the two after it.
            target = (step + 1) * totp.STEP_SECONDS + 1
            self.move_clock(int(target - self.bastion_time()) + 1)
        self.used_steps[admin] = step
        return totp.code_at(self.admins[admin]["secret"], step)

    # -- the OpenSSH client -------------------------------------------------------------
    def ssh_config(self, admin: str, key: Path | None = None, source: str = "127.0.0.1") -> Path:
        """An ssh_config for `admin`: the jump host, and the managed hosts by name.

        Failed logins lock their source address out, so a test that fails on purpose
        connects from a loopback address of its own (`source`)."""
        a = self.admins[admin]
        path = self.tmp / f"ssh_config.{admin}.{key.name if key else 'own'}.{source}"
        known = self.tmp / "known_hosts"
        common = (f"  IdentityFile {key or a['key']}\n  IdentitiesOnly yes\n"
                  f"  UserKnownHostsFile {known}\n  StrictHostKeyChecking accept-new\n"
                  "  PreferredAuthentications publickey,keyboard-interactive\n"
                  "  NumberOfPasswordPrompts 1\n  ConnectTimeout 10\n  LogLevel ERROR\n"
                  "  ControlMaster no\n")
        path.write_text(
            f"Host jump\n  HostName 127.0.0.1\n  Port {self.port}\n  User {admin}\n"
            f"  BindAddress {source}\n{common}"
            f"Host {' '.join(HOSTS)}\n  User root\n  HostKeyAlias corridor-target\n{common}"
        )
        return path

    def env(self, admin: str, code: str | None = None) -> dict[str, str]:
        """Environment for an OpenSSH client whose TOTP prompt answers `code` (default:
        a fresh code of the admin's)."""
        code_file = self.tmp / f"totp-code.{secrets.token_hex(4)}"  # one per client run
        code_file.write_text((code or self.fresh_code(admin)) + "\n")
        env = dict(os.environ, SSH_ASKPASS=str(self.askpass), SSH_ASKPASS_REQUIRE="force",
                   DISPLAY=":0", JUMP_TEST_TOTP_FILE=str(code_file))
        env.pop("SSH_AUTH_SOCK", None)
        return env

    def ssh(self, admin: str, *args: str, code: str | None = None, key: Path | None = None,
            source: str = "127.0.0.1", timeout: float = 30) -> subprocess.CompletedProcess:
        config = self.ssh_config(admin, key, source)
        return subprocess.run(
            ["ssh", "-F", str(config), *args], env=self.env(admin, code),
            capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
        )

    def audit(self) -> list[dict]:
        path = self.data / "jump" / "audit.log"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line]

    def audit_has(self, **match: object) -> dict | None:
        for event in self.audit():
            if all(event.get(k) == v for k, v in match.items()):
                return event
        return None
