"""The second factor: RFC 6238 TOTP codes from the secret enrolled for each admin.

The secret lives in the file access.yaml names (`totp:`), 0600, read on every check so that
a re-enrolment takes effect at once. A code is accepted one 30 s step early or late to
allow for clock drift. Checking a code yields its time step, so that the caller can refuse
a step already used (RFC 6238 section 5.2; see `replay`).
"""

from __future__ import annotations

import io
import time
from pathlib import Path

import pyotp
import qrcode

from corridor.pki.files import write_secret
from corridor.site.model import Admin

STEP_SECONDS = 30
WINDOW = 1  # steps accepted either side of the current one, for clock drift


class NotEnrolled(Exception):
    """The admin has no TOTP secret yet: `corridor jump enroll` creates one."""


def read_secret(admin: Admin) -> str:
    if admin.totp_file is None or not admin.totp_file.is_file():
        raise NotEnrolled(admin.name)
    secret = admin.totp_file.read_text("ascii").strip()
    if not secret:
        raise NotEnrolled(admin.name)
    return secret


def accepted_step(admin: Admin, code: str, now: float | None = None) -> int | None:
    """The time step `code` belongs to if it is one of the admin's codes accepted at `now`,
    else None (raises NotEnrolled). Should a code match two steps of the window, the later
    is taken: it is the one a replay ledger may still accept."""
    totp = pyotp.TOTP(read_secret(admin), interval=STEP_SECONDS)
    code = code.strip()
    if not (code.isdigit() and len(code) == totp.digits):
        return None
    current = totp.timecode(time.time() if now is None else now)
    matches = [
        step for step in range(current - WINDOW, current + WINDOW + 1)
        if pyotp.utils.strings_equal(code, totp.generate_otp(step))  # constant-time
    ]
    return max(matches, default=None)


def next_step(last: int | None, now: float, margin: float = 5.0) -> int:
    """For a client: the earliest step whose code a verifier that last accepted `last` will
    take, and that stays inside the window for `margin` more seconds (the code still has to
    travel). It may lie ahead of the window: see `usable_from`."""
    earliest = int((now + margin) // STEP_SECONDS) - WINDOW
    return earliest if last is None else max(earliest, last + 1)


def usable_from(step: int) -> float:
    """The Unix time from which a verifier accepts the code of `step`."""
    return float((step - WINDOW) * STEP_SECONDS)


def code_at(secret: str, step: int) -> str:
    return pyotp.TOTP(secret, interval=STEP_SECONDS).generate_otp(step)


def enroll(admin: Admin, issuer: str) -> str:
    """Create a new secret for `admin` (0600) and return its otpauth:// URI."""
    if admin.totp_file is None:
        raise NotEnrolled(admin.name)
    secret = pyotp.random_base32()
    admin.totp_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_secret(Path(admin.totp_file), (secret + "\n").encode())
    return pyotp.TOTP(secret).provisioning_uri(name=admin.name, issuer_name=issuer)


def qr_text(uri: str) -> str:
    """The URI as a QR code drawn with block characters, for a terminal."""
    qr = qrcode.QRCode(border=1)
    qr.add_data(uri)
    out = io.StringIO()
    qr.print_ascii(out=out, invert=True)
    return out.getvalue()
