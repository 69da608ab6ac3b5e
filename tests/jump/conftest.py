from __future__ import annotations

from collections.abc import Iterator

import pytest

from corridor.jump.sshd import StockSshd
from tests.jump.rig import Jump
from tests.support import need_root, need_tool


@pytest.fixture(scope="module")
def jump(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Jump]:
    """One bastion per test module, with a real sshd as the managed host `txn`.

    Admins: asha (payments-ops: txn), kiran (payments-ops; revoked by a test), lee
    (payments-ops; kicked by a test). Lock-out after 3 failures.
    """
    need_root()
    need_tool("sshd", "ssh", "scp", "ssh-keygen", "faketime")
    j = Jump(tmp_path_factory.mktemp("jump"))
    for name in ("asha", "kiran", "lee"):
        j.add_admin(name, ["payments-ops"])
    target = StockSshd(
        j.tmp / "txn", [j.bastion_public_key(), *(a["public"] for a in j.admins.values())]
    ).start()
    j.target_port = target.port
    j.write_site(
        {"payments-ops": {"txn": [target.port], "rpt": [22]}, "network": {"vpn": [22]}},
        lockout={"failures": 3, "window_seconds": 60, "lock_seconds": 120},
        ports={"txn": target.port},
    )
    j.start()
    try:
        yield j
    finally:
        j.stop()
        target.stop()
