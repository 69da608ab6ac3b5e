"""The second factor: RFC 6238 TOTP codes from the secret enrolled for each admin.

The secret lives in the file access.yaml names (`totp:`), 0600, read on every check so that
a re-enrolment takes effect at once. A code is accepted one 30 s step early or late to
allow for clock drift.
"""

from __future__ import annotations

import io
from pathlib import Path

import pyotp
import qrcode

from corridor.jump.state import write_private
from corridor.site.model import Admin


class NotEnrolled(Exception):
    """The admin has no TOTP secret yet: `corridor jump enroll` creates one."""


def read_secret(admin: Admin) -> str:
    if admin.totp_file is None or not admin.totp_file.is_file():
        raise NotEnrolled(admin.name)
    secret = admin.totp_file.read_text("ascii").strip()
    if not secret:
        raise NotEnrolled(admin.name)
    return secret


def verify(admin: Admin, code: str) -> bool:
    """Whether `code` is the admin's current TOTP code (raises NotEnrolled)."""
    totp = pyotp.TOTP(read_secret(admin))
    code = code.strip()
    if not (code.isdigit() and len(code) == totp.digits):
        return False
    try:
        totp.verify_and_get_timecode(code, valid_window=1)  # constant-time comparisons
    except pyotp.exceptions.OTPVerificationError:
        return False
    return True


def enroll(admin: Admin, issuer: str) -> str:
    """Create a new secret for `admin` (0600) and return its otpauth:// URI."""
    if admin.totp_file is None:
        raise NotEnrolled(admin.name)
    secret = pyotp.random_base32()
    admin.totp_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_private(Path(admin.totp_file), (secret + "\n").encode())
    return pyotp.TOTP(secret).provisioning_uri(name=admin.name, issuer_name=issuer)


def qr_text(uri: str) -> str:
    """The URI as a QR code drawn with block characters, for a terminal."""
    qr = qrcode.QRCode(border=1)
    qr.add_data(uri)
    out = io.StringIO()
    qr.print_ascii(out=out, invert=True)
    return out.getvalue()
