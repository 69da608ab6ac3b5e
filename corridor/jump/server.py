"""The SSH bastion: `Bastion` holds what outlives a connection (policy, lock-out, audit,
keys, open connections); `AdminConnection` answers asyncssh's questions for one client.

Authentication is two factors in sequence: a public key from access.yaml, then a TOTP code
by keyboard-interactive. asyncssh's server hooks have no "partial success", so the proven
key is noted on the connection and the key step answered with a partial-success failure,
which moves the OpenSSH client on to keyboard-interactive exactly as `AuthenticationMethods
publickey,keyboard-interactive` does on sshd (`corridor.patches.asyncssh_two_factor`).
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncssh

from corridor.jump import totp
from corridor.jump.audit import BastionAuditLog, JumpMetrics
from corridor.jump.forward import MAX_PKTSIZE, WINDOW, ForwardRelay
from corridor.jump.lockout import Lockout
from corridor.jump.policy import Policy, PolicySource
from corridor.jump.replay import StepLedger
from corridor.jump.state import JumpState, ensure_key
from corridor.patches.asyncssh_two_factor import key_then_code
from corridor.site.model import Admin

# Ciphers asyncssh runs fastest (one OpenSSL AEAD call per packet); every current OpenSSH
# client offers them, and the client's first choice (chacha20) costs twice the Python.
CIPHERS = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com")


class Bastion:
    def __init__(self, site_root: Path, state: JumpState,
                 clock: Callable[[], float] = time.time) -> None:
        state.prepare()
        self.clock = clock  # wall clock for TOTP steps and lock-out deadlines
        self.state = state
        self.policies = PolicySource(site_root)
        self.policies.current()  # a faulty site at start-up is an error, not an open door
        self.lockout = Lockout(state.lockouts, clock)
        self.totp_steps = StepLedger(state.totp_steps)
        self.audit = BastionAuditLog(state.audit_log)
        self.metrics = JumpMetrics()
        self.host_key = ensure_key(state.host_key)
        self.client_key = ensure_key(state.client_key)
        self.connections: set[AdminConnection] = set()

    def policy(self) -> Policy:
        policy, faults = self.policies.current()
        if faults is not None:
            self.audit.write("policy_refused", faults=faults, kept="last good policy")
        return policy

    def kick(self, admin: str) -> int:
        """Close every open connection of `admin`; returns how many."""
        mine = [c for c in self.connections if c.admin and c.admin.name == admin]
        for c in mine:
            self.audit.write("kick", admin=admin, source=c.source, connection=c.id)
            c.conn.close()
        return len(mine)

    def open_sessions(self) -> list[dict[str, Any]]:
        return [s for c in self.connections for s in c.sessions.values()]

    # -- known target host keys, trusted on first use ------------------------------------
    def known_target_key(self, address: str, port: int) -> str | None:
        try:
            known = json.loads(self.state.known_hosts.read_text("utf-8"))
        except (OSError, ValueError):
            return None
        return known.get(f"{address}:{port}")

    def remember_target_key(self, address: str, port: int, key: str) -> None:
        try:
            known = json.loads(self.state.known_hosts.read_text("utf-8"))
        except (OSError, ValueError):
            known = {}
        known[f"{address}:{port}"] = key
        self.state.known_hosts.write_text(json.dumps(known, indent=1), "utf-8")

    async def listen(self, host: str, port: int) -> asyncssh.SSHAcceptor:
        from corridor.jump.broker import run_session

        return await asyncssh.listen(
            host, port,
            server_factory=lambda: AdminConnection(self),
            server_host_keys=[self.host_key],
            process_factory=lambda process: run_session(self, process),
            encoding=None,
            encryption_algs=CIPHERS,
            compression_algs=("none",),
            window=WINDOW, max_pktsize=MAX_PKTSIZE,
            login_timeout=60, keepalive_interval=60,
            x11_forwarding=False, agent_forwarding=False, allow_scp=False,
        )


class AdminConnection(asyncssh.SSHServer):
    """One client connection: its authentication, then the channels it may open."""

    _ids = 0

    def __init__(self, bastion: Bastion) -> None:
        AdminConnection._ids += 1
        self.id = AdminConnection._ids
        self.bastion = bastion
        self.conn: Any = None
        self.source = "?"
        self.username = ""
        self.admin: Admin | None = None
        self.key_proven = ""  # fingerprint of the key that passed, once it has
        self._offered = ""  # fingerprint of the key the client offers right now
        self.authenticated = False
        self.refused = False  # this attempt has its audited refusal already
        self.sessions: dict[str, dict[str, Any]] = {}

    # -- connection -----------------------------------------------------------------------
    def connection_made(self, conn: Any) -> None:
        self.conn = conn
        peer = conn.get_extra_info("peername") or ("?", 0)
        self.source = str(peer[0])
        conn.set_extra_info(corridor_admin_connection=self)
        # Two factors in sequence (see the module docstring).
        key_then_code(conn, self._key_proven, lambda: bool(self.key_proven))

    def _key_proven(self) -> None:
        self.key_proven = self._offered  # set by our hook for this very key

    def connection_lost(self, exc: Exception | None) -> None:
        self.bastion.connections.discard(self)
        if self.authenticated:
            self.bastion.audit.write(
                "logout", admin=self.username, source=self.source, connection=self.id
            )
        elif self.username and not self.refused:
            self._failure("disconnected before completing authentication")

    # -- authentication -------------------------------------------------------------------
    def begin_auth(self, username: str) -> bool:
        self.username = username
        left = self.bastion.lockout.locked(self.source)
        if left:
            self._refuse_locked_out(left)
            return True
        self.admin = self.bastion.policy().admin(username)
        return True

    def _refuse_locked_out(self, left: float) -> None:
        """Hang up on a locked-out source, telling it why and for about how long.

        Refused here, once keys are exchanged and the client waits for an answer, rather
        than as the connection opens: a disconnect sent before asyncssh's version string
        is read by OpenSSH as a broken banner, and one sent in clear right after it races
        the client's own key exchange message, so the client reports a broken pipe
        instead of the reason. The remaining time is the source's own and anyone can
        measure it by retrying; it is given in whole minutes to help an admin wait it out.
        """
        self.refused = True  # not a failed attempt of its own: it neither counts nor extends
        self._refuse_login("source locked out", locked_for_s=round(left))
        minutes = math.ceil(left / 60)
        self.conn.disconnect(
            asyncssh.DISC_HOST_NOT_ALLOWED_TO_CONNECT,
            "this address is locked out after too many failed logins; "
            f"try again in about {minutes} minute{'s' if minutes > 1 else ''}",
        )

    def public_key_auth_supported(self) -> bool:
        # Once a key is proven, only the code is left to ask for (as sshd does with
        # AuthenticationMethods): offering publickey again would loop the client.
        return not self.key_proven

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        if self.bastion.lockout.locked(self.source):
            return False
        admin = self.bastion.policy().admin(username)
        fingerprint = self._offered = key.get_fingerprint()
        if admin is None:
            self._refuse_login("unknown admin", key=fingerprint)
            return False
        if admin.disabled:
            self._refuse_login("admin is disabled", key=fingerprint)
            return False
        if not self.bastion.policy().key_matches(admin, key.public_data):
            self._refuse_login("unknown key", key=fingerprint)
            return False
        self.admin = admin
        return True

    def kbdint_auth_supported(self) -> bool:
        return True

    def get_kbdint_challenge(self, username: str, lang: str, submethods: str) -> Any:
        if not self.key_proven or self.admin is None or self.bastion.lockout.locked(self.source):
            return False
        try:
            totp.read_secret(self.admin)
        except totp.NotEnrolled:
            self._failure("no TOTP enrolment")
            return False
        return ("Corridor jump server", "", "en-US", (("TOTP code: ", False),))

    def validate_kbdint_response(self, username: str, responses: Any) -> bool:
        admin = self.admin
        if admin is None or not self.key_proven or len(responses) != 1:
            return False
        # Revocation is checked again here: access.yaml may have changed mid-login.
        current = self.bastion.policy().admin(username)
        if current is None or current.disabled:
            self._failure("admin revoked during login")
            return False
        try:
            step = totp.accepted_step(current, responses[0], self.bastion.clock())
        except totp.NotEnrolled:
            step = None
        if step is None:
            self._failure("wrong TOTP code")
            return False
        if not self.bastion.totp_steps.claim(username, step):
            self._failure("TOTP code already used")
            return False
        self.admin = current
        self.authenticated = True
        self.bastion.lockout.success(self.source)
        self.bastion.connections.add(self)
        self.bastion.metrics.logins.labels("ok").inc()
        self.bastion.audit.write(
            "login", result="ok", admin=username, source=self.source, key=self.key_proven,
            factors=["publickey", "totp"], connection=self.id,
        )
        return True

    def _refuse_login(self, reason: str, **fields: Any) -> None:
        self.bastion.metrics.logins.labels("refused").inc()
        self.bastion.audit.write(
            "login", result="refused", reason=reason, admin=self.username or None,
            source=self.source, **fields,
        )

    def _failure(self, reason: str) -> None:
        """A failed login attempt: audited and counted towards the source's lock-out."""
        self.refused = True
        self._refuse_login(reason)
        access = self.bastion.policy().access
        if self.bastion.lockout.failure(
            self.source, access.lockout_failures, access.lockout_window_seconds,
            access.lockout_seconds,
        ):
            self.bastion.audit.write(
                "lockout", source=self.source, seconds=access.lockout_seconds,
                failures=access.lockout_failures,
            )

    # -- what an authenticated admin may open ----------------------------------------------
    def current_admin(self) -> Admin | None:
        """The admin as access.yaml says now (None once revoked or disabled)."""
        admin = self.bastion.policy().admin(self.username)
        return admin if admin is not None and not admin.disabled else None

    def connection_requested(self, dest_host: str, dest_port: int, orig_host: str,
                             orig_port: int) -> Any:
        admin = self.current_admin()
        decision = (
            self.bastion.policy().reach(admin, dest_host, dest_port)
            if admin else None
        )
        where = {"admin": self.username, "source": self.source, "to": f"{dest_host}:{dest_port}"}
        if decision is None or not decision.allowed:
            reason = decision.reason if decision else "admin revoked"
            self.bastion.metrics.refusals.labels("forward").inc()
            self.bastion.audit.write("forward", decision="refused", reason=reason, **where)
            raise asyncssh.ChannelOpenError(
                asyncssh.OPEN_ADMINISTRATIVELY_PROHIBITED, f"refused: {reason}"
            )
        assert decision.host is not None
        self.bastion.audit.write("forward", decision="allowed", reason=decision.reason, **where)
        relay = ForwardRelay(lambda r: self._forward_closed(r, where))
        chan = self.conn.create_tcp_channel(window=WINDOW, max_pktsize=MAX_PKTSIZE)
        self.bastion.metrics.open_sessions.labels("forward").inc()
        self.sessions[f"f{id(relay)}"] = {"kind": "forward", **where}
        return chan, relay.open(decision.host.address, decision.port)

    def _forward_closed(self, relay: ForwardRelay, where: dict[str, str]) -> None:
        self.sessions.pop(f"f{id(relay)}", None)
        self.bastion.metrics.open_sessions.labels("forward").dec()
        self.bastion.metrics.bytes.labels("up").inc(relay.up)
        self.bastion.metrics.bytes.labels("down").inc(relay.down)
        self.bastion.audit.write(
            "forward_end", **where, duration_s=round(time.monotonic() - relay.started, 3),
            bytes_up=relay.up, bytes_down=relay.down,
        )

    def server_requested(self, listen_host: str, listen_port: int) -> bool:
        self.refuse_channel("remote_forward", f"{listen_host}:{listen_port}")
        return False

    def unix_connection_requested(self, dest_path: str) -> bool:
        self.refuse_channel("unix_forward", dest_path)
        return False

    def unix_server_requested(self, listen_path: str) -> bool:
        self.refuse_channel("unix_listen", listen_path)
        return False

    def refuse_channel(self, kind: str, target: str) -> None:
        self.bastion.metrics.refusals.labels(kind).inc()
        self.bastion.audit.write(
            kind, decision="refused", reason="not offered by the jump server",
            admin=self.username, source=self.source, to=target,
        )


async def serve_forever(bastion: Bastion, host: str, port: int, ready: Any = None) -> None:
    from corridor.jump.control import serve_control

    acceptor = await bastion.listen(host, port)
    control = await serve_control(bastion)
    bastion.audit.write("started", listen=f"{host}:{port}")
    if ready is not None:
        ready(host, port)
    try:
        await asyncio.Event().wait()
    finally:
        control.close()
        acceptor.close()
        bastion.state.control.unlink(missing_ok=True)
        bastion.audit.write("stopped")
