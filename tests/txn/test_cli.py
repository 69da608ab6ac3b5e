"""The operator CLI beside the engine: funding, balances, verify, compliance decisions
(the demo is tested end to end in tests/e2e)."""

from __future__ import annotations

import asyncio
import json

from click.testing import CliRunner

from corridor.cli import cli
from corridor.store import connect
from corridor.txn.engine import Engine
from tests.txn.conftest import quote_body, transfer_body


def corridor(engine: Engine, *args: str) -> tuple[int, str]:
    base = ["--site", str(engine.site.root), "--data", str(engine.data_dir),
            "--store", engine.dsn]
    result = CliRunner().invoke(cli, [*args, *base])
    return result.exit_code, result.output


def test_fund_hold_release_and_verify_from_the_cli(engine: Engine) -> None:
    assert corridor(engine, "ledger", "fund", "payfast", "50000.00", "--reference", "B-1")[0] == 0
    code, out = corridor(engine, "ledger", "fund", "payfast", "5.001", "--reference", "B-2")
    assert code != 0 and out.strip().startswith("error: invalid_amount")
    code, out = corridor(engine, "ledger", "fund", "payfast", "1.00", "--reference", "B-1")
    assert code != 0 and "duplicate_reference" in out

    async def held() -> str:
        q = json.loads((await engine.quote("payfast", "q", quote_body())).body)
        r = await engine.create_transfer("payfast", "t", transfer_body(
            q["id"], sender="Hasan Alfaridi"))
        return json.loads(r.body)["id"]

    tid = asyncio.run(held())
    code, out = corridor(engine, "compliance", "list")
    assert code == 0 and tid in out
    code, out = corridor(engine, "compliance", "release", tid, "--analyst", "ana",
                         "--note", "different person")
    assert (code, out.strip()) == (0, f"{tid}: ACCEPTED")
    code, out = corridor(engine, "compliance", "reject", tid, "--analyst", "ana")
    assert code != 0 and "invalid_state" in out
    code, out = corridor(engine, "ledger", "balances")
    assert code == 0 and "48945.00" in out  # 50000.00 less 1055.00 reserved
    assert corridor(engine, "ledger", "verify") == (0, "ledger ok\n")
    conn = connect(engine.dsn, engine.data_dir)
    try:  # a journal that does not balance, written behind the engine's back
        conn.execute("INSERT INTO entries (journal_id, transfer_id, kind, state, account, "
                     "currency, amount, at) VALUES ('bad', NULL, 'fund', 'posted', "
                     "'revenue:fee:INR', 'INR', 1, '2026-01-01T00:00:00.000Z')")
    finally:
        conn.close()
    code, out = corridor(engine, "ledger", "verify")
    assert code == 1 and "journal bad does not balance: INR +1" in out
