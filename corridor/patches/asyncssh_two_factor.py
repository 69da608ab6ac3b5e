"""Two factors in sequence on asyncssh's server: a public key, then a code by
keyboard-interactive, as `AuthenticationMethods publickey,keyboard-interactive` does on
sshd.

Private API: the `validate_public_key` and `send_userauth_failure` methods of asyncssh's
`SSHServerConnection` (undocumented; its auth handlers call them through the
connection), wrapped on the one connection: a key whose signature checks out is noted and
answered as a failure with partial success, and every later failure reply says partial
success too.

Why: asyncssh's server hooks (`validate_public_key`, `validate_kbdint_response`, ...)
answer "accepted" or "refused" per method; none can say "accepted, and another method is
still needed". Without partial success the OpenSSH client would report the key refused
instead of moving on to the code. Wrapping the two methods keeps asyncssh's own key and
signature checks rather than forking its authentication code.

Written for asyncssh 2.24.1 (tests/patches/test_asyncssh_two_factor.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from corridor.patches import require

require(__name__, "asyncssh", "2.24.1")


def key_then_code(conn: Any, key_proven: Callable[[], None], proven: Callable[[], bool]
                  ) -> None:
    """On server connection `conn`, a key that passes asyncssh's checks (with its
    signature) calls `key_proven` and is answered with partial success, so the client
    goes on to keyboard-interactive; `proven` says whether the key step is done."""
    check_key = conn.validate_public_key
    send_failure = conn.send_userauth_failure

    async def validate_public_key(username: str, key_data: bytes, msg: bytes,
                                  signature: bytes) -> bool:
        ok = await check_key(username, key_data, msg, signature)
        if ok and msg:
            key_proven()
            return False  # the key is proven; the code is still to come
        return ok  # type: ignore[no-any-return]

    def send_userauth_failure(partial_success: bool) -> None:
        send_failure(partial_success or proven())

    conn.validate_public_key = validate_public_key
    conn.send_userauth_failure = send_userauth_failure
