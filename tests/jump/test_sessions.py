"""Brokered sessions: `ssh -t admin@jump txn` driven through a real pty, recorded as
asciicast v2, listed, searched, replayed; and `corridor jump kick` ending them."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import secrets
import select
import subprocess
import termios
import time

from tests.jump.rig import Jump
from tests.support import need_tool, wait_for


class Terminal:
    """The OpenSSH client on a pseudo-terminal, as an admin at a keyboard would run it."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        master, slave = pty.openpty()
        self.master = master
        self.proc = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, env=env,
                                     start_new_session=True)
        os.close(slave)
        self.seen = b""

    def read_until(self, needle: bytes, count: int = 1, timeout: float = 15) -> bytes:
        deadline = time.monotonic() + timeout
        while self.seen.count(needle) < count:
            left = deadline - time.monotonic()
            assert left > 0, f"no {needle!r} after {timeout}s; saw {self.seen[-400:]!r}"
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    chunk = os.read(self.master, 4096)
                except OSError:
                    chunk = b""
                assert chunk, f"terminal closed before {needle!r}; saw {self.seen[-400:]!r}"
                self.seen += chunk
        return self.seen

    def type(self, text: str) -> None:
        os.write(self.master, text.encode())

    def close(self) -> int:
        try:
            code = self.proc.wait(timeout=15)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            os.close(self.master)
        return code


def test_brokered_session_is_recorded_and_plays_back(jump: Jump) -> None:
    marker = f"corridor-{secrets.randbelow(10**9)}"
    term = Terminal(["ssh", "-tt", "-F", str(jump.ssh_config("asha")), "jump", "txn"],
                    jump.env("asha"))
    try:
        term.read_until(b"# ")  # the managed host's root prompt
        term.type(f"echo {marker}\r")
        term.read_until(marker.encode(), count=2)  # the echoed command and its output
        term.type("exit\r")
    finally:
        status = term.close()
    assert status == 0

    listed = jump.corridor("jump", "sessions", "--data", str(jump.data), "--json").stdout
    session = [json.loads(line) for line in listed.splitlines()][-1]
    assert (session["admin"], session["host"], session["login"]) == ("asha", "txn", "root")
    assert f"echo {marker}" in session["commands"]
    assert session["exit_status"] == 0

    cast = jump.data / "jump" / "sessions" / session["recording"]
    assert oct(cast.stat().st_mode & 0o777) == "0o600"
    lines = cast.read_text().splitlines()
    header = json.loads(lines[0])
    assert header["version"] == 2 and header["width"] > 0 and header["height"] > 0
    events = [json.loads(line) for line in lines[1:]]
    assert all(isinstance(t, float | int) and kind in "ior" for t, kind, _ in events)
    assert [t for t, _, _ in events] == sorted(t for t, _, _ in events)
    typed = "".join(d for _, kind, d in events if kind == "i")
    shown = "".join(d for _, kind, d in events if kind == "o")
    assert f"echo {marker}\r" in typed
    assert shown.count(marker) >= 2  # the command as echoed, and its output

    found = jump.corridor("jump", "sessions", "--data", str(jump.data), "--grep", marker)
    assert session["id"] in found.stdout and f"$ echo {marker}" in found.stdout
    assert jump.corridor("jump", "sessions", "--data", str(jump.data), "--grep",
                         "no-such-command-typed").stdout == ""

    played = jump.corridor("jump", "play", session["id"], "--data", str(jump.data),
                           "--speed", "100")
    assert played.stdout.count(marker) >= 2

    need_tool("asciinema")
    master, slave = pty.openpty()  # asciinema wants a terminal on stdin
    try:
        replay = subprocess.run(
            ["asciinema", "cat", str(cast)], stdin=slave, capture_output=True, text=True,
            timeout=30, start_new_session=True,
            preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
        )
    finally:
        os.close(master)
        os.close(slave)
    assert replay.returncode == 0 and marker in replay.stdout

    end = jump.audit_has(event="session_end", id=session["id"])
    assert end["bytes_in"] > 0 and end["bytes_out"] > 0 and end["exit_status"] == 0
    assert marker not in (jump.data / "jump" / "audit.log").read_text()  # typed stays out


def test_brokered_command_without_a_terminal(jump: Jump) -> None:
    done = jump.ssh("asha", "jump", "txn", "echo", "brokered-$((6*7))")
    assert (done.returncode, done.stdout) == (0, "brokered-42\n")
    done = jump.ssh("asha", "jump", "txn", "exit 3")
    assert done.returncode == 3


def test_play_of_an_unknown_session_is_a_clear_error(jump: Jump) -> None:
    done = jump.corridor("jump", "play", "no-such-id", "--data", str(jump.data), check=False)
    assert (done.returncode, done.stderr) == (1, "error: no recorded session 'no-such-id'\n")


def test_kick_ends_an_admins_open_sessions(jump: Jump) -> None:
    def open_sessions() -> list[dict]:
        from corridor.jump.control import call

        return call(jump.data / "jump" / "control.sock", {"op": "sessions"})["sessions"]

    def count(admin: str) -> int:
        return len([s for s in open_sessions() if s["admin"] == admin])

    def connect(admin: str, *args: str) -> subprocess.Popen:
        return subprocess.Popen(
            ["ssh", "-F", str(jump.ssh_config(admin)), *args], env=jump.env(admin),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )

    # One after another, as an admin typing codes would: each login spends a TOTP step,
    # and a later step accepted first would make the earlier one a replay.
    procs: list[subprocess.Popen] = []
    try:
        procs.append(connect("lee", "-J", "jump", "-p", str(jump.target_port), "txn",
                             "sleep 60"))
        wait_for(lambda: count("lee") == 1, timeout=20, what="lee's forward")
        procs.append(connect("lee", "jump", "txn", "sleep 60"))
        wait_for(lambda: count("lee") == 2, timeout=20, what="lee's brokered session")
        procs.append(connect("asha", "jump", "txn", "sleep 60"))
        wait_for(lambda: count("asha") == 1, timeout=20, what="asha's brokered session")
        forward, brokered, asha = procs
        done = jump.corridor("jump", "kick", "lee", "--data", str(jump.data))
        assert done.stdout.startswith("lee: closed 2 connection(s)")
        assert forward.wait(timeout=15) != 0
        assert brokered.wait(timeout=15) != 0
        assert asha.poll() is None  # another admin's session is untouched
        assert jump.audit_has(event="kick", admin="lee")
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_kick_without_a_running_server_is_a_clear_error(jump: Jump, tmp_path) -> None:
    done = jump.corridor("jump", "kick", "lee", "--data", str(tmp_path), check=False)
    assert done.returncode == 1
    assert done.stderr.startswith("error: the jump server is not running")
