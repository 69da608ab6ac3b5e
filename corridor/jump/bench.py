"""`corridor bench jump`: the same large scp through the Corridor bastion (ProxyJump) and
through a stock sshd used as ProxyJump, same run, same machine. Prints one JSON object:
{"bytes", "bastion_mb_s", "openssh_mb_s", "ratio"}."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import click
import pyotp
import yaml

from corridor.clikit import bench_site_option
from corridor.jump import totp
from corridor.jump.sshd import StockSshd, keygen, stop, wait_port
from corridor.ports import free_port
from corridor.site import copy_site
from corridor.site.edit import move_host

# Both jumps speak the same cipher on the outer hop, so the figures compare the relays and
# not OpenSSH's default (chacha20) with the bastion's (AES-GCM).
JUMP_CIPHER = "aes128-gcm@openssh.com"


def _site(root: Path, src: Path, public: str, target_port: int) -> None:
    copy_site(root, src)
    move_host(root, "txn", ssh_port=target_port)
    secret = pyotp.random_base32()
    (root / "secrets" / "totp").mkdir(parents=True)
    (root / "secrets" / "totp" / "bench").write_text(secret + "\n")
    (root / "secrets" / "totp" / "bench").chmod(0o600)
    access = {
        "roles": {"bench": {"hosts": {"txn": [target_port]}}},
        "admins": [{"name": "bench", "roles": ["bench"], "ssh_keys": [public],
                    "totp": "secrets/totp/bench"}],
    }
    (root / "access.yaml").write_text(yaml.safe_dump(access, sort_keys=False))
    (root / ".secret").write_text(secret)


def _scp(config: Path, env: dict[str, str], source: Path, dest: Path, size: int) -> float:
    """MB/s of one `scp -J jump SOURCE txn:DEST`."""
    started = time.perf_counter()
    done = subprocess.run(
        ["scp", "-q", "-F", str(config), "-J", "jump", str(source), f"txn:{dest}"],
        env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=600,
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0 or dest.stat().st_size != size:
        raise click.ClickException(f"scp failed: {done.stderr.strip()[-300:]}")
    dest.unlink()
    return size / elapsed / 1e6


@click.command()
@click.option("--megabytes", default=256, show_default=True, type=click.IntRange(8, 8192),
              help="Size of the file copied.")
@click.option("--rounds", default=3, show_default=True, type=click.IntRange(1, 10),
              help="Copies through each jump; the best of each is reported.")
@bench_site_option
def bench(megabytes: int, rounds: int, site_dir: Path) -> None:
    """Bastion vs stock sshd as ProxyJump for the same scp."""
    for tool in ("sshd", "ssh", "scp", "ssh-keygen"):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            click.echo(f"error: {tool} is not installed (scripts/system-deps.sh)", err=True)
            sys.exit(1)
    with tempfile.TemporaryDirectory(prefix="corridor-bench-jump-") as tmp_name:
        tmp = Path(tmp_name)
        public = keygen(tmp / "client", "bench")
        source = tmp / "payload"
        with source.open("wb") as out:
            for _ in range(megabytes):
                out.write(os.urandom(1 << 20))
        size = source.stat().st_size
        site = tmp / "site"
        data = tmp / "var"
        subprocess.run([sys.executable, "-m", "corridor", "jump", "bastion-key", "--data",
                        str(data)], check=True, capture_output=True)
        target = StockSshd(tmp / "target", [public]).start()
        stock = StockSshd(tmp / "stock-jump", [public]).start()
        _site(site, site_dir, public, target.port)
        port = free_port()
        bastion = subprocess.Popen(
            [sys.executable, "-m", "corridor", "serve", "jump", "--site", str(site),
             "--data", str(data), "--listen", f"127.0.0.1:{port}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            wait_port(port, bastion)
            askpass = tmp / "askpass"
            secret = (site / ".secret").read_text()
            code_file = tmp / "totp-code"
            askpass.write_text(f"#!/bin/sh\ncat {code_file}\n")
            askpass.chmod(0o700)
            last_step: int | None = None
            env = dict(os.environ, SSH_ASKPASS=str(askpass), SSH_ASKPASS_REQUIRE="force",
                       DISPLAY=":0")
            env.pop("SSH_AUTH_SOCK", None)
            common = (f"  IdentityFile {tmp / 'client'}\n  IdentitiesOnly yes\n"
                      "  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n"
                      "  LogLevel ERROR\n")
            configs = {}
            for name, jump_port, user in (("bastion", port, "bench"),
                                          ("openssh", stock.port, "root")):
                configs[name] = tmp / f"ssh_config.{name}"
                configs[name].write_text(
                    f"Host jump\n  HostName 127.0.0.1\n  Port {jump_port}\n  User {user}\n"
                    f"  Ciphers {JUMP_CIPHER}\n{common}"
                    f"Host txn\n  HostName 127.0.0.1\n  Port {target.port}\n  User root\n{common}"
                )
            # Rounds alternate between the two jumps so that whatever else the machine is
            # doing weighs on both alike; the best round of each is reported.
            figures = {name: 0.0 for name in configs}
            for _ in range(rounds):
                for name, config in configs.items():
                    if name == "bastion":
                        # Each login spends a TOTP step; wait for an unused one here, before
                        # the clock starts, rather than inside the timed copy.
                        last_step = totp.next_step(last_step, time.time())
                        time.sleep(max(0.0, totp.usable_from(last_step) - time.time()))
                        code_file.write_text(totp.code_at(secret, last_step) + "\n")
                    speed = _scp(config, env, source, tmp / "received", size)
                    figures[name] = max(figures[name], speed)
        finally:
            stop(bastion)
            target.stop()
            stock.stop()
    click.echo(json.dumps({
        "bytes": size,
        "bastion_mb_s": round(figures["bastion"], 1),
        "openssh_mb_s": round(figures["openssh"], 1),
        "ratio": round(figures["bastion"] / figures["openssh"], 3),
    }))
