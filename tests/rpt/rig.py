"""What the RPT tests share: the PKI layout RPT uses, and a store filled with a history."""

from __future__ import annotations

from pathlib import Path

import duckdb

from corridor.pki.issue import create_ca, issue, write_issued
from corridor.rpt.history import History
from corridor.rpt.ingest import Ingestor


def make_pki(site: Path) -> None:
    """The PKI layout `corridor pki bootstrap` creates, as far as RPT uses it."""
    pki = site / "pki"
    ca = create_ca("Corridor hub CA")
    write_issued(ca, pki / "hub-ca.crt", pki / "hub-ca.key")
    for cn, server in (("rpt", True), ("eig", False), ("txn", True)):
        leaf = issue(ca, cn, server_names=("127.0.0.1", "localhost") if server else (),
                     client=True, server=server)
        write_issued(leaf, pki / "hub" / f"{cn}.crt", pki / "hub" / f"{cn}.key")
    other = create_ca("Some other CA")
    stranger = issue(other, "eig", client=True)
    write_issued(stranger, pki / "stranger.pem", pki / "stranger.key")


def fill(con: duckdb.DuckDBPyConnection, history: History) -> None:
    """Ingest every page of `history` into the store behind `con`."""
    with Ingestor(con) as ing:
        for page in history.pages:
            ing.apply(page)
