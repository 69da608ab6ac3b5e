"""Where Corridor reaches past a library's public surface, one module per workaround,
named for what it patches:

    ssl_msg_callback          CPython's `_ssl._SSLContext._msg_callback` setter (EIG's audit)
    uvloop_sslobject          how uvloop drives a connection's `SSLObject` (EIG's audit)
    aiohttp_request_handler   aiohttp's `RequestHandler.handle_error` and `Server` internals
    asyncssh_two_factor       asyncssh's `SSHServerConnection` key check and failure reply

Each says which private API it uses and why no public one does the job, and checks at
import that the installed library is the version it was written for (`require`), so an
upgrade stops the server with a clear line instead of changing behaviour silently. Each
has a test named after it (tests/patches/test_<module>.py) that drives the patched
behaviour end to end; after checking a new version there, update the version here.
"""

from __future__ import annotations

import importlib.metadata
import platform


class UnsupportedVersion(RuntimeError):
    """The installed library is not the version a patch was written for."""


def require(patch: str, distribution: str, written_for: str) -> None:
    """Refuse to load `patch` unless `distribution` is exactly `written_for`."""
    installed = importlib.metadata.version(distribution)
    if installed != written_for:
        raise UnsupportedVersion(
            f"{patch} was written for {distribution} {written_for}, but {distribution} "
            f"{installed} is installed: check the patch against it (and its test), then "
            "update the version in the patch")


def require_python(patch: str, written_for: str) -> None:
    """Refuse to load `patch` unless this is CPython `written_for` (major.minor)."""
    installed = f"{platform.python_implementation()} {platform.python_version()}"
    if not installed.startswith(f"CPython {written_for}."):
        raise UnsupportedVersion(
            f"{patch} was written for CPython {written_for}, but this is {installed}: "
            "check the patch against it (and its test), then update the version in the patch")
