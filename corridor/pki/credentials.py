"""Partner secrets: API keys, callback HMAC secrets and IPsec pre-shared keys.

An API key is a random 256-bit token shown once. Only `sha256:<hex>` of it is stored: a
salted slow hash (bcrypt, argon2) protects low-entropy passwords against guessing, which a
uniformly random 256-bit token does not need, and a fast hash keeps every request cheap.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
from pathlib import Path

from corridor.pki.files import write_secret

KEY_PREFIX = "cor_live_"


def new_api_key() -> str:
    return KEY_PREFIX + secrets.token_hex(32)


def hash_api_key(key: str) -> str:
    return "sha256:" + hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()


def write_api_key_hash(path: Path, key: str) -> None:
    write_secret(path, (hash_api_key(key) + "\n").encode())


def read_api_key_hash(path: Path) -> str | None:
    """The stored `sha256:<hex>`, or None when the file is missing or malformed."""
    try:
        text = path.read_text("ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    if not text.startswith("sha256:") or len(text) != 7 + 64:
        return None
    return text


def key_matches(key: str, stored_hash: str) -> bool:
    """Constant-time comparison of a presented key with a stored hash."""
    return hmac.compare_digest(hash_api_key(key).encode(), stored_hash.encode())


def write_hmac_secret(path: Path) -> None:
    """A callback signing secret: 32 random bytes, hex (what `core.signature` signs with)."""
    write_secret(path, (secrets.token_hex(32) + "\n").encode())


def read_hmac_secret(path: Path) -> bytes:
    """The callback signing secret as `core.signature` takes it: the bytes the file holds
    in hex. Read again only when the file changes (a rotation), not on every callback.
    Raises OSError or ValueError when the file is missing, unreadable or not hex."""
    stat = path.stat()
    return _hmac_secret(str(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=256)
def _hmac_secret(path: str, mtime_ns: int, size: int) -> bytes:
    secret = bytes.fromhex(Path(path).read_text("ascii").strip())
    if not secret:
        raise ValueError(f"the secret {path} is empty")
    return secret


def write_psk(path: Path) -> None:
    """An IPsec pre-shared key: 48 random bytes, base64-safe, for ipsec.secrets."""
    write_secret(path, (secrets.token_urlsafe(48) + "\n").encode())
