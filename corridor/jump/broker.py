"""Brokered sessions: `ssh -t admin@jump txn`.

The bastion opens its own SSH connection to the managed host with the key only it holds,
relays the terminal both ways and records everything to an asciicast v2 file. The admin's
key never reaches the host, and the host's key is pinned on first use.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import asyncssh

from corridor.jump.recording import Recorder, new_session_id

USAGE = "usage: ssh -t ADMIN@jump HOST [COMMAND...]\n"
CHUNK = 64 * 1024


async def run_session(bastion: Any, process: asyncssh.SSHServerProcess) -> None:
    owner = process.get_extra_info("corridor_admin_connection")
    try:
        status = await _broker(bastion, owner, process)
    except Exception as exc:  # any failure ends this one session, politely
        bastion.audit.write("session_error", admin=owner.username, error=type(exc).__name__)
        process.stderr.write(f"jump: session failed: {exc}\r\n".encode())
        status = 255
    with contextlib.suppress(OSError, asyncssh.Error):
        process.exit(status)


async def _broker(bastion: Any, owner: Any, process: asyncssh.SSHServerProcess) -> int:
    admin = owner.current_admin()
    policy = bastion.policy()
    if process.subsystem or admin is None:
        why = "admin revoked" if admin is None else f"subsystem {process.subsystem}"
        owner.refuse_channel("session", why)
        process.stderr.write(f"jump: refused: {why}\r\n".encode())
        return 1
    name, _, rest = (process.command or "").strip().partition(" ")
    if not name:
        lines = [f"{h}: ports {', '.join(map(str, p))}" for h, p in
                 policy.reachable(admin).items()]
        process.stdout.write(("You may reach:\r\n  " + "\r\n  ".join(lines) + "\r\n"
                              + USAGE).encode())
        return 0
    command = rest.strip() or None  # passed on verbatim, as ssh itself does
    host = policy.hub.host(name)
    decision = policy.reach(admin, name, host.ssh_port if host else 22)
    where = {"admin": admin.name, "source": owner.source, "to": name}
    if not decision.allowed or host is None:
        bastion.metrics.refusals.labels("session").inc()
        bastion.audit.write("session", decision="refused", reason=decision.reason, **where)
        process.stderr.write(f"jump: refused: {decision.reason}\r\n".encode())
        return 1
    login = admin.login or admin.name
    conn = await _connect(bastion, host.address, host.ssh_port, login)
    term = process.get_terminal_type()
    width, height, *_ = process.get_terminal_size()
    sid = new_session_id(admin.name, name)
    recorder = Recorder(bastion.state.sessions, {
        "id": sid, "admin": admin.name, "source": owner.source, "host": name,
        "login": login, "command": command,
    }, width, height, term or "")
    bastion.audit.write("session", decision="allowed", reason=decision.reason, id=sid,
                        login=login, **where)
    bastion.metrics.open_sessions.labels("brokered").inc()
    owner.sessions[sid] = {"kind": "brokered", "id": sid, **where}
    status = 255
    try:
        async with conn:
            target = await conn.create_process(
                command, term_type=term, term_size=(width, height) if term else None,
                request_pty=bool(term), encoding=None,
            )
            status = await _relay(process, target, recorder)
    finally:
        owner.sessions.pop(sid, None)
        bastion.metrics.open_sessions.labels("brokered").dec()
        meta = recorder.close(exit_status=status)
        bastion.audit.write(
            "session_end", id=sid, **where, duration_s=meta["duration_s"],
            bytes_in=meta["bytes_in"], bytes_out=meta["bytes_out"], exit_status=status,
            commands=len(meta["commands"]),
        )
    return status


async def _connect(bastion: Any, address: str, port: int, login: str) -> Any:
    """Connect to a managed host as `login`, pinning its host key on first use."""
    pinned = bastion.known_target_key(address, port)
    known = asyncssh.import_known_hosts(f"[{address}]:{port} {pinned}\n") if pinned else None
    try:
        conn = await asyncssh.connect(
            address, port, username=login, client_keys=[bastion.client_key],
            known_hosts=known, agent_path=None, config=None, connect_timeout=15,
            preferred_auth="publickey",
        )
    except asyncssh.HostKeyNotVerifiable:
        bastion.audit.write("host_key_mismatch", to=f"{address}:{port}")
        raise RuntimeError(f"host key of {address}:{port} changed; refusing") from None
    except (OSError, asyncssh.Error) as exc:
        raise RuntimeError(f"cannot reach {address}:{port}: {exc}") from None
    if not pinned:
        key = conn.get_server_host_key()
        bastion.remember_target_key(address, port, key.export_public_key().decode().strip())
    return conn


async def _relay(process: Any, target: Any, recorder: Recorder) -> int:
    """Copy the admin's keystrokes to the host and the host's output back, recording both."""

    async def keys_in() -> None:
        while True:
            try:
                data = await process.stdin.read(CHUNK)
            except asyncssh.TerminalSizeChanged as exc:
                target.change_terminal_size(exc.width, exc.height)
                recorder.resize(exc.width, exc.height)
                continue
            except (asyncssh.BreakReceived, asyncssh.SignalReceived):
                continue
            if not data:
                target.stdin.write_eof()
                return
            recorder.input(data)
            target.stdin.write(data)

    async def copy_out(src: Any, dst: Any) -> None:
        while data := await src.read(CHUNK):
            recorder.output(data)
            dst.write(data)

    pump = asyncio.create_task(keys_in())
    outs = [copy_out(target.stdout, process.stdout), copy_out(target.stderr, process.stderr)]
    try:
        await asyncio.gather(*outs)
        result = await target.wait()
    finally:
        pump.cancel()
    return result.exit_status if result.exit_status is not None else 255
