"""A change to many files of a site, staged on a copy: committed whole, or not at all."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from corridor.site import SiteInvalid
from corridor.site.staging import SiteChanged, SiteTransaction
from tests.support import site_snapshot


def test_commit_writes_the_changes_with_their_modes_and_removes_what_went(site_dir: Path
                                                                          ) -> None:
    (site_dir / "secrets").mkdir()
    (site_dir / "secrets" / "old.psk").write_bytes(b"x" * 40)
    with SiteTransaction(site_dir) as tx:
        (tx.root / "secrets" / "new.psk").write_bytes(b"y" * 40)
        os.chmod(tx.root / "secrets" / "new.psk", 0o600)
        (tx.root / "secrets" / "old.psk").unlink()
        (tx.root / "pki" / "partners").mkdir(parents=True)
        (tx.root / "pki" / "partners" / "p.crt").write_text("cert")
        hub = tx.root / "hub.yaml"
        hub.write_text(hub.read_text().replace("ttl_seconds: 600", "ttl_seconds: 900"))
        tx.check()
        assert (site_dir / "secrets" / "old.psk").exists()  # nothing before the commit
        changed = tx.commit()
    assert changed == ["hub.yaml", "pki/partners/p.crt", "secrets/new.psk", "-secrets/old.psk"]
    assert (site_dir / "secrets" / "new.psk").stat().st_mode & 0o777 == 0o600
    assert not (site_dir / "secrets" / "old.psk").exists()
    assert "ttl_seconds: 900" in (site_dir / "hub.yaml").read_text()
    assert (site_dir / "pki" / "partners" / "p.crt").read_text() == "cert"
    assert not tx.root.exists()  # the copy, with its keys, is gone


def test_leaving_without_a_commit_changes_nothing(site_dir: Path) -> None:
    before = site_snapshot(site_dir)
    with pytest.raises(SiteInvalid), SiteTransaction(site_dir) as tx:
        (tx.root / "hub.yaml").write_text("hub: [\n")
        (tx.root / "secrets").mkdir()
        (tx.root / "secrets" / "x.hmac").write_text("00")
        tx.check()
    assert site_snapshot(site_dir) == before
    assert not tx.root.exists()


def test_a_write_that_fails_halfway_puts_back_what_was_written(site_dir: Path) -> None:
    (site_dir / "zz").write_text("a file where the change wants a directory")
    before = site_snapshot(site_dir)
    with SiteTransaction(site_dir) as tx:
        hub = tx.root / "hub.yaml"
        hub.write_text(hub.read_text() + "# changed\n")
        (tx.root / "partners" / "new.txt").write_text("new")
        (tx.root / "zz").unlink()
        (tx.root / "zz").mkdir()
        (tx.root / "zz" / "inside").write_text("written after hub.yaml and partners/new.txt")
        with pytest.raises(OSError):
            tx.commit()
    assert site_snapshot(site_dir) == before


def test_a_file_changed_by_someone_else_meanwhile_stops_the_commit(site_dir: Path) -> None:
    with SiteTransaction(site_dir) as tx:
        hub = tx.root / "hub.yaml"
        hub.write_text(hub.read_text() + "# ours\n")
        (tx.root / "partners" / "new.txt").write_text("new")
        theirs = (site_dir / "hub.yaml").read_text() + "# theirs\n"
        (site_dir / "hub.yaml").write_text(theirs)
        with pytest.raises(SiteChanged, match=r"hub\.yaml changed while"):
            tx.commit()
    assert (site_dir / "hub.yaml").read_text() == theirs
    assert not (site_dir / "partners" / "new.txt").exists()


def test_one_staged_change_at_a_time(site_dir: Path) -> None:
    with SiteTransaction(site_dir), pytest.raises(SiteChanged,
                                                  match=r"another change to .* is being made"):
        SiteTransaction(site_dir)
    with SiteTransaction(site_dir) as tx:  # free again once the first is done
        tx.commit()
