"""corridor.patches.asyncssh_two_factor: the stock OpenSSH client logs in to the bastion
with its key and then a TOTP code, moved on from the key by a partial success; a key
alone is not enough."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.jump.rig import Jump
from tests.patches.guard import import_refused, pretend_installed
from tests.support import need_root, need_tool, wait_for


@pytest.fixture(scope="module")
def jump(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Jump]:
    need_root()
    need_tool("ssh", "ssh-keygen", "faketime")
    j = Jump(tmp_path_factory.mktemp("two-factor"))
    j.add_admin("asha", ["payments-ops"])
    j.write_site({"payments-ops": {"txn": [22]}},
                 lockout={"failures": 3, "window_seconds": 60, "lock_seconds": 120})
    j.start()
    try:
        yield j
    finally:
        j.stop()


def test_the_key_is_a_partial_success_and_the_code_completes_the_login(jump: Jump) -> None:
    done = jump.ssh("asha", "-v", "jump")
    assert done.returncode == 0, done.stderr
    assert 'Authenticated using "publickey" with partial success.' in done.stderr
    assert 'using "keyboard-interactive"' in done.stderr
    login = jump.audit_has(event="login", result="ok", admin="asha")
    assert login is not None and login["factors"] == ["publickey", "totp"]


def test_a_key_alone_is_not_enough(jump: Jump) -> None:
    done = jump.ssh("asha", "-o", "PreferredAuthentications=publickey", "jump",
                    source="127.0.0.7")
    assert done.returncode == 255 and "Permission denied" in done.stderr
    wait_for(lambda: jump.audit_has(event="login", result="refused", source="127.0.0.7",
                                    reason="disconnected before completing authentication"),
             what="the refusal audited once the client hung up")


def test_another_asyncssh_refuses_to_load_it(monkeypatch: pytest.MonkeyPatch) -> None:
    pretend_installed(monkeypatch, "asyncssh", "2.25.0")
    assert import_refused(monkeypatch, "corridor.patches.asyncssh_two_factor") == (
        "corridor.patches.asyncssh_two_factor was written for asyncssh 2.24.1, but "
        "asyncssh 2.25.0 is installed: check the patch against it (and its test), then "
        "update the version in the patch")
