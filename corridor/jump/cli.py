"""`corridor serve jump` and `corridor jump ...`: run the bastion, enrol TOTP, list and
replay recorded sessions, end an admin's sessions."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from corridor.clikit import data_option, fail, open_site, site_option
from corridor.jump.state import JumpState, StateUnreadable


def _address(value: str | None, what: str) -> tuple[str, int] | None:
    if value is None:
        return None
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        fail(f"{what} must read HOST:PORT, not {value!r}")
    return host.strip("[]"), int(port)


@click.command()
@site_option
@data_option
@click.option("--listen", help="HOST:PORT to listen on instead of hub.yaml listen.jump.")
@click.option("--metrics", "metrics_at", help="HOST:PORT to serve Prometheus /metrics on.")
def serve(site_dir: Path, data_dir: Path, listen: str | None, metrics_at: str | None) -> None:
    """Run the SSH bastion in the foreground."""
    import uvloop

    from corridor.jump.server import Bastion, serve_forever

    site = open_site(site_dir)
    address = _address(listen, "--listen")
    if address is None:
        if "jump" not in site.hub.listen:
            fail("hub.yaml has no listen.jump and no --listen was given")
        address = (site.hub.listen["jump"].host, site.hub.listen["jump"].port)
    try:
        bastion = Bastion(site_dir, JumpState.under(data_dir))
    except StateUnreadable as exc:
        fail(str(exc))
    if metrics_at:
        from prometheus_client import start_http_server

        m_host, m_port = _address(metrics_at, "--metrics")  # type: ignore[misc]  # not None: metrics_at is set
        try:
            start_http_server(m_port, m_host, registry=bastion.metrics.registry)
        except OSError as exc:
            fail(f"cannot serve metrics on {metrics_at}: {exc.strerror}")

    def ready(host: str, port: int) -> None:
        click.echo(f"jump server listening on {host}:{port}", nl=True)
        sys.stdout.flush()

    async def main() -> None:
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)  # type: ignore[union-attr]  # always inside a task here
        with contextlib.suppress(asyncio.CancelledError):
            await serve_forever(bastion, *address, ready=ready)

    try:
        uvloop.run(main())
    except OSError as exc:
        fail(f"cannot listen on {address[0]}:{address[1]}: {exc.strerror or exc}")


@click.group()
def jump() -> None:
    """The jump server: enrolment, recorded sessions, kicking admins out."""


@jump.command()
@site_option
@click.argument("admin")
@click.option("--force", is_flag=True, help="Replace an existing enrolment.")
def enroll(site_dir: Path, admin: str, force: bool) -> None:
    """Create ADMIN's TOTP secret; print the otpauth URI and its QR code."""
    from corridor.jump import totp

    site = open_site(site_dir)
    who = site.access.admins.get(admin)
    if who is None:
        fail(f"no admin {admin!r} in access.yaml")
    if who.totp_file is None:
        fail(f"admin {admin!r} has no 'totp:' file in access.yaml")
    if who.totp_file.exists() and not force:
        fail(f"{admin} is already enrolled; --force replaces the secret")
    uri = totp.enroll(who, site.hub.name)
    click.echo(uri)
    click.echo(totp.qr_text(uri))
    click.echo(f"secret written to {who.totp_file} (0600)", err=True)


@jump.command("bastion-key")
@data_option
def bastion_key(data_dir: Path) -> None:
    """Print the public key the bastion logs into managed hosts with (add it to their
    authorized_keys); creates the key on first use."""
    from corridor.jump.state import ensure_key

    state = JumpState.under(data_dir)
    state.prepare()
    click.echo(ensure_key(state.client_key).export_public_key().decode().strip())


@jump.command()
@data_option
@click.option("--grep", "pattern", help="Only sessions where a typed command contains this.")
@click.option("--admin", help="Only this admin's sessions.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def sessions(data_dir: Path, pattern: str | None, admin: str | None, as_json: bool) -> None:
    """List recorded brokered sessions (oldest first)."""
    import json

    from corridor.jump.recording import list_sessions

    for s in list_sessions(JumpState.under(data_dir).sessions):
        if admin and s.get("admin") != admin:
            continue
        hits = [c for c in s.get("commands", []) if pattern and pattern in c]
        if pattern and not hits:
            continue
        if as_json:
            click.echo(json.dumps(s))
            continue
        click.echo(f"{s['id']}  {s['admin']}@{s['host']} as {s.get('login')} from "
                   f"{s.get('source')}  {s.get('duration_s', 0):.0f}s  "
                   f"exit {s.get('exit_status')}")
        for command in hits:
            click.echo(f"    $ {command}")


@jump.command()
@data_option
@click.argument("session_id")
@click.option("--speed", default=1.0, type=click.FloatRange(min=0.01), show_default=True)
@click.option("--max-idle", default=2.0, type=click.FloatRange(min=0), show_default=True,
              help="Cap pauses at this many seconds.")
def play(data_dir: Path, session_id: str, speed: float, max_idle: float) -> None:
    """Replay a recorded session in this terminal."""
    from corridor.jump.recording import play as replay

    folder = JumpState.under(data_dir).sessions
    matches = sorted(folder.glob(f"{session_id}*.cast")) if "/" not in session_id else []
    if len(matches) != 1:
        fail(f"no recorded session {session_id!r}" if not matches
             else f"{session_id!r} names {len(matches)} sessions; give more of the id")
    try:
        replay(matches[0], speed=speed, max_idle=max_idle)
    except (ValueError, OSError) as exc:
        fail(f"cannot play {matches[0].name}: {exc}")


@jump.command()
@data_option
@click.argument("admin")
def kick(data_dir: Path, admin: str) -> None:
    """End every open connection of ADMIN on the running server."""
    from corridor.jump.control import NotRunning, call

    try:
        reply = call(JumpState.under(data_dir).control, {"op": "kick", "admin": admin})
    except NotRunning as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot reach the jump server: {exc}")
    click.echo(f"{admin}: closed {reply.get('closed', 0)} connection(s) "
               f"at {datetime.now(UTC).isoformat(timespec='seconds')}")


@jump.command()
@data_option
def metrics(data_dir: Path) -> None:
    """Print the running server's Prometheus metrics."""
    from corridor.jump.control import NotRunning, call

    try:
        click.echo(call(JumpState.under(data_dir).control, {"op": "metrics"})["metrics"],
                   nl=False)
    except NotRunning as exc:
        fail(str(exc))
